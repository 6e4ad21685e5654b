/**
 * Server secure contexts (Node's `tls.createSecureContext`): certificates and TLS settings
 * built once in the native layer, shared by every listener given them, and reloadable while
 * those listeners serve (certificate rotation without a restart).
 */
import { native as call } from './errors'
import { native } from './native'
import { nativeServerTls, pems, SecureContextOptions, TlsIdentity, TlsServerOptions } from './tls'

/**
 * A shared, reloadable server context. Make it with {@link createSecureContext}; pass it as
 * `{ tls: { secureContext } }` (or `{ tls: context }`) to `createListener`, `EventLoop` or
 * the bridge's `createServer`.
 */
export class SecureContext {
  /** The native context. @internal */
  readonly native: InstanceType<typeof native.NativeSecureContext>
  private current: SecureContextOptions

  /** @internal Use {@link createSecureContext}. */
  constructor(options: SecureContextOptions) {
    this.native = call(() => new native.NativeSecureContext(toNative(options)))
    this.current = options
  }

  /** The settings in use (as last given). */
  get options(): Readonly<SecureContextOptions> {
    return this.current
  }

  /**
   * Replaces the settings (as Node's `server.setSecureContext`): handshakes that start
   * afterwards use the new certificates, established connections keep theirs, and every
   * listener sharing this context follows. Sessions resume across it unless `ticketKeys`
   * changed. Throws (`ERR_TLS_INVALID_PEM`, …) and keeps the old settings if the new ones
   * are invalid.
   */
  setSecureContext(options: SecureContextOptions): void {
    call(() => this.native.reload(toNative(options)))
    this.current = options
  }
}

function toNative(o: SecureContextOptions) {
  const sni = Object.entries(o.SNIContexts ?? {}).map(([servername, c]) => {
    const id: TlsIdentity = c instanceof SecureContext ? c.options : c
    return { servername, cert: pems(id.cert), key: pems(id.key) }
  })
  return nativeServerTls(o, sni)
}

/** Builds a shared, reloadable server context (Node's `tls.createSecureContext`). */
export function createSecureContext(options: SecureContextOptions): SecureContext {
  return new SecureContext(options)
}

/**
 * The context and handshake timeout of server TLS options: the given `secureContext` or
 * `SecureContext`, else a context of their own. @internal
 */
export function serverContext(tls: TlsServerOptions | SecureContext): { context: SecureContext; handshakeTimeout: number | undefined } {
  if (tls instanceof SecureContext) return { context: tls, handshakeTimeout: tls.options.handshakeTimeout }
  if (tls.secureContext !== undefined) return { context: tls.secureContext, handshakeTimeout: tls.handshakeTimeout }
  return { context: new SecureContext(tls), handshakeTimeout: tls.handshakeTimeout }
}

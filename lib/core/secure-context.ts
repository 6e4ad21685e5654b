/**
 * Server secure contexts (Node's `tls.createSecureContext`): certificates and TLS settings
 * built once in the native layer, shared by every listener given them, and reloadable while
 * those listeners serve (certificate rotation without a restart).
 */
import { native as call } from './errors'
import { native } from './native'
import { common, Pem, pems, TlsCommonOptions } from './tls'

/** A certificate chain and its key, as an SNI map entry may give them. */
export interface TlsIdentity {
  /** Certificate chain(s), leaf first (PEM); one per key. */
  cert: Pem
  /** Private key(s), paired with `cert` by position. */
  key: Pem
}

/** The settings of a {@link SecureContext} (`createSecureContext`, Node's names). */
export interface SecureContextOptions extends TlsCommonOptions {
  /** Certificate chain(s), leaf first (PEM); one per key (e.g. ECDSA and RSA). */
  cert: Pem
  /** Private key(s) (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC), paired with `cert` by position. */
  key: Pem
  /** Ask clients for a certificate (verified against `ca`). Default false. */
  requestCert?: boolean
  /**
   * A static SNI map, `{ servername: context }` (Node's `server.addContext`): a client that
   * sends one of these names gets that context's certificates (`'*.example.com'` matches
   * one label); any other name, or none, gets `cert`. Only the entries' `cert`/`key` are
   * used; the other settings are this context's.
   */
  SNIContexts?: Record<string, SecureContext | TlsIdentity>
  /** Seconds a session ticket can resume a session (Node's `sessionTimeout`). Default 300. */
  sessionTimeout?: number
  /**
   * 48 bytes of ticket keys (Node's `ticketKeys`): servers given the same keys resume each
   * other's sessions. Default: random per context (kept across `setSecureContext`).
   */
  ticketKeys?: Buffer
}

/**
 * `createListener(..., { tls })`, `EventLoop({ tls })`, the bridge's `createServer({ tls })`:
 * the connections are TLS servers. Either the settings themselves or a shared
 * `secureContext` (then `cert`/`key` are not given).
 */
export type TlsServerOptions =
  | (SecureContextOptions & { secureContext?: undefined })
  | (Partial<SecureContextOptions> & {
      /** A context made with `createSecureContext`, shared by listeners and reloadable. */
      secureContext: SecureContext
      /** ms for the handshake; the context's own `handshakeTimeout` is not used. */
      handshakeTimeout?: number
    })

/** The native form of context options (SNI entries flattened by the caller). @internal */
export function nativeServerTls(o: SecureContextOptions, sni: Array<{ servername: string; cert: string[]; key: string[] }>) {
  if (typeof (o as { SNICallback?: unknown }).SNICallback === 'function') {
    throw Object.assign(new TypeError('SNICallback is not supported: give a static SNIContexts map (and reload it with setSecureContext)'), {
      code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM',
    })
  }
  const ticketKeys = o.ticketKeys
  if (ticketKeys !== undefined && (!Buffer.isBuffer(ticketKeys) || ticketKeys.length !== 48)) {
    throw Object.assign(new TypeError('ticketKeys must be a 48-byte Buffer'), { code: 'ERR_INVALID_ARG_VALUE' })
  }
  return {
    ...common(o),
    cert: pems(o.cert),
    key: pems(o.key),
    ca: o.ca === undefined ? undefined : pems(o.ca),
    requestCert: o.requestCert,
    sni,
    sessionTimeout: o.sessionTimeout,
    ticketKeys,
  }
}

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

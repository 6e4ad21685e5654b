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
 * Node's `SNICallback(servername, cb)`: called once per handshake whose client sent a server
 * name (a DNS name, given in lower case; not for an IP literal or no name, which get the
 * listener's certificates), before the certificate is chosen. Answer, now or later, with
 * `cb(null, context)` (a context from {@link createSecureContext}: its certificates are
 * served; ALPN, client certificates, versions and tickets stay the listener's),
 * `cb(null)` (the listener's certificates) or `cb(error)` (the handshake fails and the
 * listener reports `error` as a TLS client error; so does a callback that throws). The
 * listener's `handshakeTimeout` bounds the wait; an answer for a connection that is gone
 * meanwhile is ignored, as are calls of `cb` after the first.
 */
export type SNICallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext | null) => void) => void

/** What a listener's TLS options add to a context's: the SNI callback. */
interface ListenerTlsOptions {
  /** Picks each handshake's certificate by the client's server name (see {@link SNICallback}). */
  SNICallback?: SNICallback
}

/**
 * `createListener(..., { tls })`, `EventLoop({ tls })`, the bridge's `createServer({ tls })`:
 * the connections are TLS servers. Either the settings themselves or a shared
 * `secureContext` (then `cert`/`key` are not given), and optionally an `SNICallback`.
 */
export type TlsServerOptions =
  | (SecureContextOptions & ListenerTlsOptions & { secureContext?: undefined })
  | (Partial<SecureContextOptions> &
      ListenerTlsOptions & {
        /** A context made with `createSecureContext`, shared by listeners and reloadable. */
        secureContext: SecureContext
        /** ms for the handshake; the context's own `handshakeTimeout` is not used. */
        handshakeTimeout?: number
      })

/** The native form of context options (SNI entries flattened by the caller). @internal */
export function nativeServerTls(o: SecureContextOptions, sni: Array<{ servername: string; cert: string[]; key: string[] }>) {
  if ((o as ListenerTlsOptions).SNICallback !== undefined) {
    throw Object.assign(new TypeError('SNICallback is a listener option, not a context one: give it in the tls options of createListener, EventLoop or createServer (beside cert/key or secureContext)'), {
      code: 'ERR_INVALID_ARG_VALUE',
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

/** A listener's TLS settings: its context, handshake timeout and SNI callback. @internal */
export interface ServerContext {
  context: SecureContext
  handshakeTimeout: number | undefined
  sniCallback: SNICallback | undefined
}

/**
 * The context, handshake timeout and SNI callback of server TLS options: the given
 * `secureContext` or `SecureContext`, else a context of their own. @internal
 */
export function serverContext(tls: TlsServerOptions | SecureContext): ServerContext {
  if (tls instanceof SecureContext) return { context: tls, handshakeTimeout: tls.options.handshakeTimeout, sniCallback: undefined }
  const { SNICallback: sniCallback, ...options } = tls
  if (sniCallback !== undefined && typeof sniCallback !== 'function') {
    throw Object.assign(new TypeError(`SNICallback must be a function, got ${typeof sniCallback}`), { code: 'ERR_INVALID_ARG_TYPE' })
  }
  if (options.secureContext !== undefined) return { context: options.secureContext, handshakeTimeout: options.handshakeTimeout, sniCallback }
  return { context: new SecureContext(options as SecureContextOptions), handshakeTimeout: options.handshakeTimeout, sniCallback }
}

/**
 * Listeners (netpoll's `CreateListener`): a bound, accepting socket whose connections an
 * {@link EventLoop} serves.
 */
import type { Connection } from './connection'
import type { NetAddress } from './connection-host'
import { getEngine } from './engine'
import { NetpollError } from './errors'
import { SecureContext, serverContext } from './secure-context'
import type { SecureContextOptions, TlsServerOptions } from './secure-context'

/** Networks a listener or dial accepts. */
export type Network = 'tcp' | 'tcp4' | 'tcp6' | 'unix'

/** Options of {@link createListener}. */
export interface ListenerOptions {
  /** Length of the kernel's queue of not-yet-accepted connections. Default 1024. */
  backlog?: number
  /** For `tcp6` / `::`: accept IPv6 only (no IPv4-mapped addresses). Default false. */
  ipv6Only?: boolean
  /**
   * Serve TLS: the shards run the handshake (rustls) and the records; connections are
   * handed over once their handshake completed, and read and write plaintext. A failed or
   * timed-out handshake is never a connection: it is counted and passed to
   * {@link Listener.onTlsClientError} (Node's `tlsClientError`); the listener keeps serving.
   * Settings, `{ secureContext, handshakeTimeout }`, or a `SecureContext` shared with other
   * listeners (see {@link createSecureContext}).
   */
  tls?: TlsServerOptions | SecureContext
}

/**
 * A listening socket. Connections are accepted from the moment it is created and handed to
 * the {@link EventLoop} that serves it (they wait until `serve` is called).
 *
 * Unix sockets: the socket file is removed on close. A stale file at start (a socket nobody
 * listens on any more) is removed and replaced; a live socket or a file that is not a socket
 * fails with `EADDRINUSE` and is left untouched.
 */
export class Listener {
  /** The bound address; for port 0, the port the OS chose. */
  readonly address: NetAddress
  /** The network it was created for. */
  readonly network: Network
  private ids: number[]
  private closed = false
  private waiting: Connection[] = []
  private sink: ((conn: Connection) => void) | null = null
  private closeWaiters: Array<() => void> = []
  /** Holds the process while open (see `unref()`). */
  private refed = true
  /** @internal Called when accepting fails for good. */
  onError: ((error: NetpollError) => void) | null = null
  /**
   * Called with the error of each failed TLS handshake (a TLS listener's Node-style
   * `tlsClientError`: `ERR_SSL_…`, `ERR_TLS_HANDSHAKE_TIMEOUT`, `ECONNRESET`, …; the
   * `SNICallback`'s own error object when it failed the handshake, given the code
   * `ERR_TLS_SNI_CALLBACK` if it had none).
   */
  onTlsClientError: ((error: NetpollError) => void) | null = null
  /** TLS handshakes that failed on this listener. */
  tlsClientErrors = 0
  /** A TLS listener's context (shared, reloadable); `null` for a plain listener. */
  readonly secureContext: SecureContext | null

  /** @internal */
  constructor(network: Network, address: string, options: ListenerOptions) {
    const backlog = options.backlog ?? 1024
    if (!Number.isInteger(backlog) || backlog <= 0) throw new RangeError(`backlog must be a positive integer, got ${backlog}`)
    this.network = network
    const tls = options.tls === undefined ? undefined : serverContext(options.tls)
    this.secureContext = tls?.context ?? null
    const r = getEngine().listen(network, address, backlog, options.ipv6Only ?? false, {
      accepted: (conn) => (this.sink ? this.sink(conn) : this.waiting.push(conn)),
      failed: (e) => this.onError?.(e),
      tlsClientError: (e) => {
        this.tlsClientErrors++
        this.onTlsClientError?.(e)
      },
      sniCallback: tls?.sniCallback,
    }, tls)
    this.address = r.address
    this.ids = r.ids
    getEngine().retain(1)
  }

  /** `host:port` (`[v6]:port` for IPv6) or the socket path, e.g. to dial it. */
  toString(): string {
    const a = this.address
    if (a.port === undefined) return a.address
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
  }

  /**
   * Replaces the certificates and settings of a TLS listener (Node's
   * `server.setSecureContext`): new handshakes use them at once, established connections keep
   * theirs. The context is shared: other listeners made with it follow too. Throws
   * `ERR_TLS_NOT_ENABLED`-coded errors on a plain listener and keeps the old settings when
   * the new ones are invalid.
   */
  setSecureContext(options: SecureContextOptions): void {
    if (!this.secureContext) throw Object.assign(new Error('setSecureContext: the listener does not serve TLS'), { code: 'ERR_TLS_NOT_ENABLED' })
    this.secureContext.setSecureContext(options)
  }

  /** Routes accepted connections to `sink` (the serving EventLoop). @internal */
  attach(sink: (conn: Connection) => void): void {
    this.sink = sink
    for (const conn of this.waiting.splice(0)) sink(conn)
  }

  /** A Promise that settles when the listener closes. @internal */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve()
    return new Promise((resolve) => this.closeWaiters.push(resolve))
  }

  /** Whether it is closed. */
  get isClosed(): boolean {
    return this.closed
  }

  /**
   * Lets the process exit while this listener is open (as `net.Server.unref()`): an open
   * listener keeps the process alive by default, an unref'd one does not, whether or not an
   * {@link EventLoop} serves it. Connections it accepted hold the process by themselves (see
   * `Connection.unref()`). Calling it again, or on a closed listener, does nothing. Returns the
   * listener.
   */
  unref(): this {
    if (this.refed) {
      this.refed = false
      if (!this.closed) getEngine().retain(-1)
    }
    return this
  }

  /**
   * Undoes {@link Listener.unref}: the open listener keeps the process alive again (the
   * default). Calling it again, or on a closed listener, does nothing. Returns the listener.
   */
  ref(): this {
    if (!this.refed) {
      this.refed = true
      if (!this.closed) getEngine().retain(1)
    }
    return this
  }

  /** Stops accepting and closes the socket (removing a Unix socket file). Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    getEngine().unlisten(this.ids)
    if (this.refed) getEngine().retain(-1)
    for (const conn of this.waiting.splice(0)) conn.close()
    for (const w of this.closeWaiters.splice(0)) w()
  }
}

/**
 * Binds a listener: `network` is `tcp`, `tcp4`, `tcp6` or `unix`; `address` is
 * `host:port` (`[::1]:port` for IPv6, `:port` for all interfaces, port 0 for any free port)
 * or a socket path. Fails with `EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`, `ENAMETOOLONG`, or
 * `ERR_INVALID_ADDRESS`, with `address`/`port` set.
 */
export async function createListener(network: Network, address: string, options: ListenerOptions = {}): Promise<Listener> {
  return new Listener(network, address, options)
}

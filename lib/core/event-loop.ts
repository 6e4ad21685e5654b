/**
 * The server (netpoll's `EventLoop`): serves listeners, calling the handlers of each
 * accepted connection in netpoll's order: onPrepare → onConnect → onRequest (repeated) →
 * close callbacks; onDisconnect when the peer closes.
 */
import type { Connection, OnRequest } from './connection'
import { ALLOW_HALF_OPEN, ConnectionHooks } from './connection-state'
import { getEngine } from './engine'
import { checkMs, codeError, NetpollError } from './errors'
import { createListener, Listener, ListenerOptions, Network } from './listener'
import { SecureContext, serverContext } from './secure-context'
import type { SecureContextOptions, TlsServerOptions } from './secure-context'

/** Options of an {@link EventLoop}. */
export interface EventLoopOptions {
  /** Called first for each new connection (set timeouts, attach state). */
  onPrepare?: (conn: Connection) => void
  /** Called after onPrepare; onRequest waits until its Promise (if any) settles. */
  onConnect?: (conn: Connection) => void | Promise<void>
  /** Called when the peer finished sending (FIN) or reset; the connection is no longer active. */
  onDisconnect?: (conn: Connection) => void
  /**
   * Called when a handler throws or rejects, and when a read timeout passes while only a
   * synchronous read (`tryNext`, `tryPeek`, `tryPeekUInt32BE`) was waiting
   * (`ERR_READ_TIMEOUT`); the connection is closed.
   */
  onError?: (error: unknown, conn: Connection) => void
  /**
   * Read timeout of every connection, in ms (0 = none, the default): a deadline for the bytes
   * a read waits for, not moved by bytes arriving meanwhile (see `Connection.setReadTimeout`).
   */
  readTimeout?: number
  /**
   * Write timeout of every connection, in ms (0 = none, the default): closed with
   * `ERR_WRITE_TIMEOUT` when flushed output makes no progress for this long (see
   * `Connection.setWriteTimeout`).
   */
  writeTimeout?: number
  /** Idle timeout of every connection, in ms (0 = none, the default): a real close. */
  idleTimeout?: number
  /**
   * Half-open connections, as `net`'s `allowHalfOpen`: a connection whose peer finished
   * sending (FIN) stays open and writable after its handler is done, until it is closed or
   * half-closed with {@link Connection.shutdownWrite}. Default false: such a connection is
   * closed once its handler is done.
   */
  allowHalfOpen?: boolean
  /** `TCP_NODELAY` on accepted TCP connections. Default true (RPC answers go out at once). */
  noDelay?: boolean
  /** TCP keepalive probes after this many ms of silence (`false`, the default: off). */
  keepAlive?: number | false
  /**
   * Most connections this loop serves at once; a connection accepted beyond it is closed at
   * once (counted in `stats().refused`). Default: no limit of its own (the engine's
   * per-shard limit still applies).
   */
  maxConnections?: number
  /**
   * TLS for the listeners this loop makes with {@link EventLoop.listen}: settings, or a
   * shared `SecureContext` (see `createListener`'s `tls`). Built when the loop is made (bad
   * certificates throw there). Listeners given to `serve` keep their own setting, so one
   * loop can serve TLS and plain listeners.
   */
  tls?: TlsServerOptions | SecureContext
}

/** Counters of one {@link EventLoop}, from {@link EventLoop.stats}. */
export interface EventLoopStats {
  /** Connections open now. */
  connections: number
  /** Connections accepted and served since the loop was created. */
  accepted: number
  /** Connections closed since (by either side, for any reason). */
  closed: number
  /** Of those, closed with an error (reset, timeout, output limit, internal error…). */
  closedWithError: number
  /** Connections closed at once because of `maxConnections` or a shutdown in progress. */
  refused: number
  /** Handlers (onRequest, onConnect, onPrepare) that threw or rejected. */
  handlerErrors: number
}

/** The result of {@link EventLoop.shutdown}. */
export interface ShutdownResult {
  /** Connections still busy at the deadline, closed by force. */
  forced: number
}

/** A server: serves listeners with one request handler. */
export class EventLoop {
  /**
   * Open connections of this loop. They are not kept in a collection of their own (an entry
   * per connection): the engine's registry has them, told apart by `hooks` (a shutdown walks it).
   */
  private open = 0
  private readonly listeners = new Set<Listener>()
  private stopped = false
  private readonly counts = { accepted: 0, closed: 0, closedWithError: 0, refused: 0, handlerErrors: 0 }
  private readonly handlerError = (error: unknown, conn: Connection, handler = true): void => {
    if (handler) this.counts.handlerErrors++
    this.options.onError?.(error, conn)
  }
  /** The callbacks every connection of this loop shares. */
  private readonly hooks: ConnectionHooks<Connection>

  /** The loop's TLS context and handshake timeout (`options.tls`). */
  private readonly tls: ReturnType<typeof serverContext> | null

  /** Creates a server calling `onRequest` for input on each connection. */
  constructor(
    private readonly onRequest: OnRequest,
    private readonly options: EventLoopOptions = {},
  ) {
    if (typeof onRequest !== 'function') throw new TypeError('onRequest must be a function')
    for (const t of [options.readTimeout, options.writeTimeout, options.idleTimeout]) if (t !== undefined) checkMs(t)
    const max = options.maxConnections
    if (max !== undefined && (!Number.isInteger(max) || max <= 0)) {
      throw new RangeError(`maxConnections must be a positive integer, got ${String(max)}`)
    }
    const ka = options.keepAlive
    if (ka !== undefined && ka !== false && (typeof ka !== 'number' || !(ka > 0))) {
      throw new RangeError(`keepAlive must be a positive number of ms or false, got ${String(ka)}`)
    }
    this.tls = options.tls === undefined ? null : serverContext(options.tls)
    this.hooks = {
      onClosed: (_conn: Connection, error: NetpollError | null): void => {
        this.open--
        this.counts.closed++
        if (error) this.counts.closedWithError++
      },
      onHandlerError: this.handlerError,
      onPeerClosed: options.onDisconnect ?? null,
    }
  }

  /** The loop's TLS context (`options.tls`), or `null`. */
  get secureContext(): SecureContext | null {
    return this.tls?.context ?? null
  }

  /**
   * Replaces the certificates and settings of the loop's TLS context (Node's
   * `server.setSecureContext`): its listeners' new handshakes use them at once, established
   * connections keep theirs. Throws `ERR_TLS_NOT_ENABLED` without `options.tls`.
   */
  setSecureContext(options: SecureContextOptions): void {
    if (!this.tls) throw Object.assign(new Error('setSecureContext: the event loop has no tls option'), { code: 'ERR_TLS_NOT_ENABLED' })
    this.tls.context.setSecureContext(options)
  }

  /**
   * Binds a listener (as {@link createListener}, with the loop's `tls` unless `options`
   * gives its own) and serves it. Resolves with the listener once it is bound; `served`
   * settles as {@link EventLoop.serve}'s Promise does.
   */
  async listen(network: Network, address: string, options: ListenerOptions = {}): Promise<{ listener: Listener; served: Promise<void> }> {
    const tls = options.tls ?? (this.tls ? { secureContext: this.tls.context, handshakeTimeout: this.tls.handshakeTimeout, SNICallback: this.tls.sniCallback } : undefined)
    const listener = await createListener(network, address, { ...options, tls })
    return { listener, served: this.serve(listener) }
  }

  /**
   * Serves `listener` until {@link EventLoop.shutdown} or the listener closes. The Promise
   * settles then (it rejects if accepting fails for good).
   */
  serve(listener: Listener): Promise<void> {
    if (this.stopped) return Promise.reject(codeError('ERR_SHUTDOWN', 'the event loop is shut down'))
    this.listeners.add(listener)
    return new Promise<void>((resolve, reject) => {
      listener.onError = (e) => reject(e)
      listener.whenClosed().then(() => {
        this.listeners.delete(listener)
        resolve()
      })
      listener.attach((conn) => this.accept(conn))
    })
  }

  private accept(conn: Connection): void {
    const o = this.options
    if (this.stopped || (o.maxConnections !== undefined && this.open >= o.maxConnections)) {
      this.counts.refused++
      conn.close()
      return
    }
    this.counts.accepted++
    this.open++
    conn.hooks = this.hooks
    conn.setFlag(ALLOW_HALF_OPEN, o.allowHalfOpen === true)
    if (o.readTimeout) conn.setReadTimeout(o.readTimeout)
    if (o.writeTimeout) conn.setWriteTimeout(o.writeTimeout)
    if (o.idleTimeout) conn.setIdleTimeout(o.idleTimeout)
    if (o.noDelay === false || o.keepAlive) {
      getEngine().setSocketOptions(conn, o.noDelay === false ? false : undefined, o.keepAlive || -1)
    }
    try {
      o.onPrepare?.(conn)
      const connected = o.onConnect?.(conn)
      if (connected && typeof connected.then === 'function') {
        connected.then(
          () => conn.setOnRequest(this.onRequest),
          (e) => {
            this.handlerError(e, conn)
            conn.close()
          },
        )
        return
      }
    } catch (e) {
      this.handlerError(e, conn)
      conn.close()
      return
    }
    conn.setOnRequest(this.onRequest)
  }

  /** Open connections of this loop. */
  get connections(): number {
    return this.open
  }

  /** This loop's counters (see {@link EventLoopStats}). */
  stats(): EventLoopStats {
    return { connections: this.open, ...this.counts }
  }

  /**
   * Graceful shutdown: stops accepting at once, closes idle connections, lets running
   * handlers finish and their output flush, and at the deadline (`timeout` ms, default
   * 5000) closes what remains by force. Resolves with how many were forced.
   */
  async shutdown(options: { timeout?: number } = {}): Promise<ShutdownResult> {
    const timeout = options.timeout ?? 5000
    this.stopped = true
    for (const l of this.listeners) l.close()
    const deadline = Date.now() + timeout
    // Idle connections close now; busy ones as soon as their handler is done (checked every
    // 5 ms, a bounded loop), the rest at the deadline.
    for (;;) {
      for (const conn of this.connectionList()) if (!conn.busy) conn.close()
      if (this.open === 0 || Date.now() >= deadline) break
      await new Promise((resolve) => setTimeout(resolve, Math.min(5, Math.max(0, deadline - Date.now()))))
    }
    let forced = 0
    for (const conn of this.connectionList()) {
      forced++
      conn.fail(codeError('ERR_SHUTDOWN', 'closed by shutdown at its deadline'))
    }
    return { forced }
  }

  /** This loop's open connections (from the engine's registry). */
  private connectionList(): Connection[] {
    const list: Connection[] = []
    if (this.open > 0) getEngine().forEachConnection((conn) => conn.hooks === this.hooks && list.push(conn))
    return list
  }
}

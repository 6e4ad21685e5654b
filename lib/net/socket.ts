/**
 * {@link Socket}: a `net.Socket`-compatible `stream.Duplex` that is a *view* of a netpoll
 * {@link Connection}. The bytes of each batch are pushed as they were delivered (views of the
 * batch's memory, no copy); a full or paused readable side stops the shard reading the socket
 * (the core's read backpressure), so a fast sender is throttled by TCP flow control; writes
 * join the engine's batched flush (one `writev` per connection per tick) and their callbacks
 * run once the kernel took the bytes; `end()` sends FIN after everything written
 * (`shutdownWrite`), `destroy()` drops queued output.
 */
import { Duplex } from 'node:stream'
import type { Connection } from '../core/connection'
import type { NetAddress } from '../core/connection-host'
import type { NetpollError } from '../core/errors'
import { checkTimeout, IdleTimer } from './idle-timer'
import { ConnectOptions, normalizeConnectArgs, SocketOptions, startConnect } from './connecting'

export type { SocketOptions }
import { closedBeforeConnection, endedByPeer, streamError } from './errors'

/** An address as `socket.address()` returns it. */
export interface AddressInfo {
  /** IP address. */
  address: string
  /** `'IPv4'` or `'IPv6'`. */
  family: string
  /** Port. */
  port: number
}

type Callback = (error?: Error | null) => void
type Chunk = { chunk: Buffer | string; encoding: BufferEncoding | 'buffer' }

/** Keepalive idle time for `setKeepAlive(true)` without a delay: Linux's default, 2 h. */
const DEFAULT_KEEPALIVE_MS = 7_200_000

/**
 * A stream socket shaped like `net.Socket`: from {@link connect} / {@link createConnection}
 * (client), or handed out by a {@link Server}'s `'connection'` event. Events: `'connect'`,
 * `'ready'`, `'data'`, `'end'`, `'finish'`, `'drain'`, `'timeout'`, `'error'`, `'close'`
 * (with `hadError`). Bridge sockets have `TCP_NODELAY` on by default (stacks that wrap a
 * socket never call `setNoDelay`).
 */
export class Socket extends Duplex {
  /** Whether a connect is in progress (`'connect'` not yet emitted). */
  connecting = false
  /** The inactivity timeout last given to {@link Socket.setTimeout} (ms; `undefined` before). */
  timeout: number | undefined = undefined
  /** @internal The server that accepted this socket (told when it closes). */
  owner: object | null = null
  /** @internal Cancels the dial in progress. */
  cancelConnect: AbortController | null = null
  /** @internal The connection this socket is a view of (null until connected). */
  conn: Connection | null = null
  private readonly idle = new IdleTimer(this)
  private bytesIn = 0
  private bytesOut = 0
  private peerEnded_ = false
  /** pauseOnConnect: the connection keeps its input until the consumer first reads. */
  private bridgeOnRead = false
  private noDelay = true
  private keepAliveMs = -1
  private waitingWrite: { chunks: Chunk[]; cb: Callback } | null = null
  private waitingFinal: Callback | null = null
  private resetting = false
  private remote: NetAddress | null = null
  private local: NetAddress | null = null
  private refed = true

  /** Creates an unconnected socket; call {@link Socket.connect}. */
  constructor(options: SocketOptions = {}) {
    const allowHalfOpen = options.allowHalfOpen === true
    super({
      allowHalfOpen,
      emitClose: false, // 'close' carries hadError, as net's does
      autoDestroy: true,
      decodeStrings: true,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
    })
    this.on('end', onReadableEnd)
  }

  /**
   * Connects this socket, like `net.Socket.connect()`: `(port[, host][, listener])`,
   * `(path[, listener])` or `(options[, listener])`. `'connect'` and `'ready'` follow, or
   * `'error'` and `'close'`.
   */
  connect(options: ConnectOptions, connectListener?: () => void): this
  connect(port: number, host?: string, connectListener?: () => void): this
  connect(path: string, connectListener?: () => void): this
  connect(...args: unknown[]): this {
    const [o, cb] = normalizeConnectArgs(args)
    if (this.destroyed) this.reopen()
    startConnect(this, o, cb)
    return this
  }

  /**
   * A closed socket connects again (as thrift's client reconnects): like `net`, the stream
   * state, the addresses and the byte counts start over; listeners and options stay.
   */
  private reopen(): void {
    this.conn = null
    this.remote = null
    this.local = null
    this.bytesIn = 0
    this.bytesOut = 0
    this.peerEnded_ = false
    this.bridgeOnRead = false
    this.resetting = false
    if (Object.hasOwn(this, 'write')) delete (this as { write?: unknown }).write // writeAfterFin
    ;(this as unknown as { _undestroy(): void })._undestroy()
  }

  /**
   * @internal Makes this socket the view of `conn` (connected or accepted); its bytes flow
   * from {@link Socket.startReading} on.
   */
  attach(conn: Connection): void {
    if (this.destroyed) {
      conn.close()
      return
    }
    this.conn = conn
    this.connecting = false
    this.remote = conn.remoteAddress
    this.local = conn.localAddress
    if (!this.noDelay || this.keepAliveMs >= 0) conn.setSocketOptions(this.noDelay, this.keepAliveMs)
    if (!this.refed) conn.unref()
    this.removeListener('close', onCloseBeforeConnect)
    const w = this.waitingWrite
    this.waitingWrite = null
    if (w !== null) this._writev(w.chunks, w.cb)
    const f = this.waitingFinal
    this.waitingFinal = null
    if (f !== null) this._final(f)
  }

  /**
   * @internal The connection's input (buffered so far, then each batch's) goes to this
   * socket from now on; `paused` (pauseOnConnect): reading stops at once, and what arrived
   * with the accept stays with the connection (not read by the socket: `bytesRead` is 0)
   * until the consumer first reads.
   */
  startReading(paused: boolean): void {
    const conn = this.conn
    if (conn === null) return
    if (paused) {
      conn.setReadPaused(true)
      this.bridgeOnRead = true
      return
    }
    conn.bridge(this)
  }

  // ---- ConnectionSink: the connection's events (one call per batch and connection) ----

  /** @internal Bytes of a batch: pushed as they are (views, no copy). */
  deliver(buf: Buffer): void {
    this.bytesIn += buf.length
    this.idle.touch()
    if (!this.push(buf)) this.conn?.setReadPaused(true)
  }

  /** @internal The peer sent FIN. */
  deliverEnd(): void {
    this.peerEnded_ = true
    this.push(null)
    // As net does: 'end' comes as soon as nothing is buffered, even with no reader.
    this.read(0)
  }

  /** @internal The connection closed (cleanly when both directions ended, or with an error). */
  connectionClosed(error: NetpollError | null): void {
    this.idle.stop()
    if (error !== null) {
      this.destroy(streamError(error))
      return
    }
    // Nothing more can arrive: the readable side ends (if the peer's FIN was not seen).
    if (!this.peerEnded_) this.deliverEnd()
  }

  /**
   * Output waits for the connect. If the socket closes first, its callbacks get net's
   * `ERR_SOCKET_CLOSED_BEFORE_CONNECTION` from a `'close'` listener, in net's order.
   */
  private waitForConnect(): void {
    if (this.waitingWrite === null && this.waitingFinal === null) this.once('close', onCloseBeforeConnect)
  }

  /** @internal The socket closed before connecting: what waited for the connect fails. */
  failWaiting(): void {
    const w = this.waitingWrite
    const f = this.waitingFinal
    this.waitingWrite = this.waitingFinal = null
    w?.cb(closedBeforeConnection())
    f?.(closedBeforeConnection())
  }

  // ---- Duplex implementation ----

  /** @internal The consumer wants more: resume reading from the socket. */
  override _read(): void {
    if (this.bridgeOnRead) {
      this.bridgeOnRead = false
      this.conn?.bridge(this) // hands over what waited, and resumes reading
      return
    }
    this.conn?.setReadPaused(false)
  }

  /** @internal One chunk (the common case: no array or record per write). */
  override _write(chunk: Buffer, encoding: BufferEncoding, cb: Callback): void {
    const conn = this.conn
    if (conn === null) {
      this.waitForConnect()
      this.waitingWrite = { chunks: [{ chunk, encoding }], cb } // connecting: written on connect
      return
    }
    try {
      conn.writer.writeBinary(chunk)
    } catch (e) {
      cb(streamError(e as NetpollError))
      return
    }
    this.bytesOut += chunk.length
    this.sent(conn, cb)
  }

  /** @internal Every chunk joins the connection's output; `cb` runs once the kernel took them. */
  override _writev(chunks: Chunk[], cb: Callback): void {
    const conn = this.conn
    if (conn === null) {
      this.waitForConnect()
      this.waitingWrite = { chunks, cb } // connecting: written on connect
      return
    }
    const w = conn.writer
    try {
      for (const c of chunks) {
        const buf = c.chunk as Buffer
        w.writeBinary(buf)
        this.bytesOut += buf.length
      }
    } catch (e) {
      cb(streamError(e as NetpollError))
      return
    }
    this.sent(conn, cb)
  }

  /** What was written joins the engine's batched flush; `cb` runs once the kernel took it. */
  private sent(conn: Connection, cb: Callback): void {
    this.idle.touch()
    conn.writer.flushWith(cb)
  }

  /** @internal `end()`: FIN once everything written was handed to the kernel. */
  override _final(cb: Callback): void {
    const conn = this.conn
    if (conn === null) {
      if (this.connecting) {
        this.waitForConnect()
        this.waitingFinal = cb
      }
      else cb()
      return
    }
    if (conn.isClosed) {
      cb()
      return
    }
    conn.shutdownWrite().then(
      () => cb(),
      (e: NetpollError) => cb(streamError(e)),
    )
  }

  /** @internal `destroy()`: the connection closes at once, queued output dropped. */
  override _destroy(error: Error | null, cb: Callback): void {
    this.idle.stop()
    this.connecting = false
    this.cancelConnect?.abort()
    const conn = this.conn
    if (conn !== null) {
      conn.sink = null // its close is ours: not reported back
      if (this.resetting) conn.reset(null)
      else if (!conn.isClosed) conn.fail(streamError((error ?? undefined) as NetpollError | undefined))
    }
    cb(error)
    setImmediate(emitClose, this, error !== null)
  }

  // ---- net.Socket's surface ----

  /**
   * Emits `'timeout'` after `ms` without a byte read or written (0 disables it); the socket
   * stays open, as with `net` (close it in the listener if you want). `callback` is added as
   * a one-time `'timeout'` listener (removed again by `setTimeout(0, callback)`).
   */
  setTimeout(ms: number, callback?: () => void): this {
    checkTimeout(ms)
    this.timeout = ms
    if (ms === 0) {
      this.idle.set(0)
      if (callback) this.removeListener('timeout', callback)
      return this
    }
    if (callback) this.once('timeout', callback)
    if (!this.destroyed) this.idle.set(ms)
    return this
  }

  /** Sets `TCP_NODELAY` (default on for bridge sockets; a no-op for Unix sockets). */
  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay !== false
    this.conn?.setSocketOptions(this.noDelay, -1)
    return this
  }

  /**
   * TCP keepalive: probes start after `initialDelay` ms of silence (0: the OS default,
   * 2 h on Linux); `enable` false turns it off.
   */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAliveMs = enable ? (initialDelay > 0 ? Math.max(1000, Math.floor(initialDelay)) : DEFAULT_KEEPALIVE_MS) : 0
    this.conn?.setSocketOptions(undefined, this.keepAliveMs)
    return this
  }

  /** The local end as `{ address, family, port }` (`{}` before connecting; Unix: the path or `{}`). */
  address(): AddressInfo | Record<string, never> {
    const a = this.local
    if (a === null || a.port === undefined) return {}
    return { address: a.address, family: a.family, port: a.port }
  }

  /** The peer's IP address (`undefined` for Unix sockets or before connecting). */
  get remoteAddress(): string | undefined {
    return this.remote?.port === undefined ? undefined : this.remote.address
  }

  /** The peer's port. */
  get remotePort(): number | undefined {
    return this.remote?.port
  }

  /** `'IPv4'` or `'IPv6'`. */
  get remoteFamily(): string | undefined {
    return this.remote?.port === undefined ? undefined : this.remote.family
  }

  /** The local IP address. */
  get localAddress(): string | undefined {
    return this.local?.port === undefined ? undefined : this.local.address
  }

  /** The local port. */
  get localPort(): number | undefined {
    return this.local?.port
  }

  /** `'IPv4'` or `'IPv6'`. */
  get localFamily(): string | undefined {
    return this.local?.port === undefined ? undefined : this.local.family
  }

  /** Bytes received. */
  get bytesRead(): number {
    return this.bytesIn
  }

  /** Bytes written: handed to the connection, plus those still in the writable buffer. */
  get bytesWritten(): number {
    let n = this.bytesOut
    for (const c of (this as unknown as { writableBuffer: Chunk[] }).writableBuffer) n += Buffer.byteLength(c.chunk, c.encoding as BufferEncoding)
    return n
  }

  /** @deprecated as in `net`: use `writableLength`. */
  get bufferSize(): number {
    return this.writableLength
  }

  /** Whether the socket has no connection: connecting, never connected, or destroyed (as `net`). */
  get pending(): boolean {
    return this.conn === null || this.connecting || this.destroyed
  }

  /** `'opening'`, `'open'`, `'readOnly'`, `'writeOnly'` or `'closed'`, as `net` reports. */
  get readyState(): string {
    if (this.connecting) return 'opening'
    if (this.readable && this.writable) return 'open'
    if (this.readable && !this.writable) return 'readOnly'
    if (!this.readable && this.writable) return 'writeOnly'
    return 'closed'
  }

  /**
   * Closes the connection with a TCP reset (RST, not FIN; queued output dropped) and
   * destroys the socket (after `'connect'` if still connecting). A socket that has no
   * connection and is not connecting is destroyed with `ERR_SOCKET_CLOSED`.
   */
  resetAndDestroy(): this {
    if (this.conn === null && !this.connecting) {
      this.destroy(Object.assign(new Error('Socket is closed'), { code: 'ERR_SOCKET_CLOSED' }))
      return this
    }
    this.resetting = true
    if (this.connecting) this.once('connect', this.destroy)
    else this.destroy()
    return this
  }

  /**
   * Lets the process exit while this socket is open, as `net.Socket.unref()` (a keep-alive
   * `http.Agent` unrefs its free sockets). Before the connect completed it applies once
   * connected (a dial in progress holds the process until it settles). Idempotent; returns
   * the socket.
   */
  unref(): this {
    this.refed = false
    this.conn?.unref()
    return this
  }

  /** Undoes {@link Socket.unref}: the open socket keeps the process alive again (the default). */
  ref(): this {
    this.refed = true
    this.conn?.ref()
    return this
  }

  /** Ends the writable side, then destroys the socket once it finished. */
  destroySoon(): void {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once('finish', this.destroy)
  }
}

/** Without half-open, a write after the peer's FIN fails with EPIPE and destroys, as in `net`. */
function onReadableEnd(this: Socket): void {
  if (!this.allowHalfOpen) this.write = writeAfterFin
}

function writeAfterFin(this: Socket, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (!this.writableEnded) return Duplex.prototype.write.call(this, chunk, encoding as BufferEncoding, cb as Callback)
  const callback = typeof encoding === 'function' ? encoding : cb
  const error = endedByPeer()
  if (typeof callback === 'function') process.nextTick(callback as Callback, error)
  this.destroy(error)
  return false
}

function onCloseBeforeConnect(this: Socket): void {
  this.failWaiting()
}

function emitClose(socket: Socket, hadError: boolean): void {
  socket.emit('close', hadError)
}

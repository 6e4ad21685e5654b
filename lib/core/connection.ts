/**
 * A connection (netpoll's `Connection`): a {@link Reader} and a {@link Writer} over a socket
 * owned by a shard, liveness (`isActive`), timeouts and close callbacks.
 */
import type { ConnectionHost, ConnectionSink, ConnectionStats, NetAddress } from './connection-host'
import { checkMs, codeError, NetpollError } from './errors'
import { ReadDeadline } from './read-deadline'
import type { TlsState } from './tls'
import { Reader } from './reader'
import { Writer } from './writer'

/**
 * Handles a connection's input: called when bytes are buffered, at most once at a time per
 * connection, and again while unconsumed input remains and the last call made progress.
 * A handler that throws or rejects closes its connection.
 */
export type OnRequest = (conn: Connection) => void | Promise<void>

/** Called once when a connection closes (locally, by the peer, on error or timeout). */
export type CloseCallback = (conn: Connection, error: NetpollError | null) => void

const TIMER_READ = 1
const TIMER_WRITE = 2
const TIMER_IDLE = 3

/** A connection. Created by an {@link EventLoop} (server side) or by `dial` (client side). */
export class Connection {
  /** Reads the bytes the peer sent. */
  readonly reader: Reader
  /** Collects output; `flush()` sends it. */
  readonly writer: Writer
  /** @internal */ readonly shard: number
  /** @internal */ readonly index: number
  /** @internal */ readonly generation: number
  private active = true
  private closed = false
  private readClosed = false
  private writeShut = false
  private closeError: NetpollError | null = null
  private running = false
  private readPaused = false
  /** Holds the process while open (counted in the engine from creation; see `unref()`). */
  private refed = true
  /** The read deadline, made when a read timeout is first set. */
  private deadline: ReadDeadline | null = null
  private onRequest: OnRequest | null = null
  private closeCallbacks: CloseCallback[] | null = null
  private addrs: { local: NetAddress | null; remote: NetAddress | null } | null = null
  /** `tls`, once asked (`undefined`: not yet). */
  private tlsState: TlsState | null | undefined = undefined
  private bytesIn = 0
  /** @internal Called when the peer finished sending (server: onDisconnect). */
  onPeerClosed: ((conn: Connection) => void) | null = null
  /**
   * @internal Called when a handler throws or rejects (`handler` true), or when the
   * connection is closed for an error of its own that the server reports (a read timeout
   * passed with no awaited read to reject: `handler` false).
   */
  onHandlerError: ((error: unknown, conn: Connection, handler: boolean) => void) | null = null
  /** @internal Called when the connection closes, before the close callbacks (the server's count). */
  onClosed: CloseCallback | null = null
  /**
   * @internal Set on dialed connections: when the peer finished, the connection is closed
   * even without a handler (buffered input stays readable), so close callbacks run.
   */
  closeOnPeerClose = false
  /**
   * @internal Half-open (set from the `allowHalfOpen` option): a connection whose peer
   * finished stays open and writable after its handler is done; it closes once
   * {@link Connection.shutdownWrite} ended this side too (or on `close()`).
   */
  allowHalfOpen = false
  /** @internal The bridge that takes this connection's bytes, FIN and close (lib/net). */
  sink: ConnectionSink | null = null
  /** @internal Whether the engine holds this connection for its next batched write. */
  writeQueued = false

  /** @internal */
  constructor(
    private readonly engine: ConnectionHost<Connection>,
    shard: number,
    index: number,
    generation: number,
  ) {
    this.shard = shard
    this.index = index
    this.generation = generation
    // The connection is the owner of its reader and writer: no closures per connection
    // (an idle connection's memory is what a server of 10,000 of them pays for).
    this.reader = new Reader(this)
    this.writer = new Writer(this)
  }

  /**
   * @internal ReaderOwner: a read came back short with none waiting: its deadline starts.
   * One clock read; a native call only when no read timer is armed (see `timeout`).
   */
  readWaitStarted(): void {
    this.deadline?.started(this)
  }

  /** @internal ReadTimerOwner: arms (`ms` > 0) or cancels the native read timer. */
  setReadTimer(ms: number): void {
    if (!this.closed) this.engine.setTimer(this, TIMER_READ, ms)
  }

  /** @internal ReaderOwner: the largest single read. */
  get maxRead(): number {
    return this.engine.config.maxFrame
  }

  /** @internal WriterOwner: output was flushed. */
  scheduleFlush(): void {
    this.engine.markDirty(this)
  }

  /** @internal WriterOwner: the output limit. */
  get maxOutput(): number {
    return this.engine.config.maxOutput
  }

  /** @internal WriterOwner: whether writes are still accepted. */
  isOpen(): boolean {
    return !this.closed
  }

  /** @internal WriterOwner: the output limit was passed. */
  overLimit(e: NetpollError): void {
    this.fail(e)
  }

  /**
   * Whether the connection is usable: false as soon as the shard saw the peer close
   * (FIN), a reset or an error, without a read — what a pool checks before reuse.
   */
  isActive(): boolean {
    return this.active
  }

  /**
   * Lets the process exit while this connection is open (as `net.Socket.unref()`): an
   * open connection keeps the process alive by default, an unref'd one does not. Calling it
   * again, or on a closed connection, does nothing. A `ConnectionPool` unrefs its idle
   * connections and refs them again when `get()` hands them out. Returns the connection.
   */
  unref(): this {
    if (this.refed) {
      this.refed = false
      if (!this.closed) this.engine.retain(-1)
    }
    return this
  }

  /**
   * Undoes {@link Connection.unref}: the open connection keeps the process alive again (the
   * default). Calling it again, or on a closed connection, does nothing. Returns the
   * connection.
   */
  ref(): this {
    if (!this.refed) {
      this.refed = true
      if (!this.closed) this.engine.retain(1)
    }
    return this
  }

  /** Whether the connection counts as holding the process (the engine's close path). @internal */
  hasRef(): boolean {
    return this.refed
  }

  /**
   * Closes the connection. Output already flushed is still delivered (given up if it makes no
   * progress for the write timeout, or 30 s without one), and the process stays alive until
   * then, like with `net`'s `end()`; close callbacks run once. Calling it again does nothing.
   */
  close(): void {
    if (this.closed) return
    // Output flushed but still waiting for the batched write goes out before the close.
    if (this.writer.submitted.length > 0) this.engine.flushDirty()
    if (this.closed) return
    this.engine.closeNative(this, false)
    this.finish(null)
  }

  /**
   * Half-closes the connection: flushes what was written, then sends FIN to the peer
   * (`shutdown(SHUT_WR)`) once every byte before it was handed to the kernel. Reading goes
   * on until the peer's own FIN; when both directions have ended the connection closes
   * (close callbacks run) — with `allowHalfOpen` (see {@link EventLoopOptions} and
   * {@link DialOptions}); without it the connection already closes when the peer finishes.
   * Writes afterwards throw `EPIPE`. The Promise resolves once the output and the FIN were
   * handed to the kernel, or rejects like `flush()` (`ECONNRESET`, `ERR_CONN_CLOSED`, …).
   * Calling it again only waits for the same output.
   */
  shutdownWrite(): Promise<void> {
    if (this.closed) return Promise.reject(codeError('ERR_CONN_CLOSED', 'the connection is closed'))
    const flushed = this.writer.flush()
    if (this.writeShut) return flushed
    this.writeShut = true
    this.writer.shut = true
    // Output flushed but still waiting for the batched write goes out before the FIN.
    if (this.writer.submitted.length > 0) this.engine.flushDirty()
    if (this.closed) return flushed
    try {
      this.engine.shutdownWrite(this)
    } catch (e) {
      this.finish(e as NetpollError)
      return flushed
    }
    return flushed.then(() => this.bothEnded())
  }

  /** Whether this side was half-closed ({@link Connection.shutdownWrite}). */
  get writeEnded(): boolean {
    return this.writeShut
  }

  /** Both directions ended (our FIN handed over, the peer's read): close. */
  private bothEnded(): void {
    if (this.readClosed && this.writeShut && !this.closed && this.writer.inFlight === 0) this.close()
  }

  /**
   * @internal Hands this connection to a bridge (lib/net): the input buffered so far, then
   * every batch's bytes, the peer's FIN and the close go to `sink` instead of the reader and
   * the handler. Reading resumes (the sink pauses it again when it is full).
   */
  bridge(sink: ConnectionSink): void {
    this.sink = sink
    const n = this.reader.len()
    if (n > 0) sink.deliver(this.reader.chain.take(n))
    this.setReadPaused(false)
    if (this.readClosed) sink.deliverEnd()
    // Closed before the bridge took over (e.g. reset right after the connect): say so.
    if (this.closed) sink.connectionClosed(this.closeError)
  }

  /** @internal TCP_NODELAY and keepalive (see `ConnectionHost.setSocketOptions`). */
  setSocketOptions(noDelay: boolean | undefined, keepAliveMs: number): void {
    if (!this.closed) this.engine.setSocketOptions(this, noDelay, keepAliveMs)
  }

  /**
   * @internal Read backpressure driven by the owner (the bridge): stop (`true`) or resume
   * reading from the socket.
   */
  setReadPaused(paused: boolean): void {
    if (this.readPaused === paused || this.closed) return
    this.readPaused = paused
    this.engine.pauseRead(this, paused)
  }

  /** Adds a callback run once when the connection closes, in the order added. */
  addCloseCallback(callback: CloseCallback): void {
    if (typeof callback !== 'function') throw new TypeError('addCloseCallback expects a function')
    if (this.closed) {
      queueMicrotask(() => callback(this, null))
      return
    }
    if (this.closeCallbacks === null) this.closeCallbacks = [callback]
    else this.closeCallbacks.push(callback)
  }

  /** This connection's counters (see {@link ConnectionStats}). */
  stats(): ConnectionStats {
    const w = this.writer
    return {
      bytesIn: this.bytesIn,
      bytesOut: w.flushedTotal,
      bytesBuffered: this.reader.len(),
      bytesQueued: w.inFlight + w.mallocLen(),
    }
  }

  /** Sets (or replaces) the handler called when input arrives; `null` removes it. */
  setOnRequest(handler: OnRequest | null): void {
    this.onRequest = handler
    if (handler) this.dispatch()
  }

  /**
   * How long a read may wait for its bytes, in ms (0 = forever, the default): a deadline from
   * the moment a read comes back short (an awaited read waits, or a synchronous `tryNext`,
   * `tryPeek` or `tryPeekUInt32BE` returns `null`) until a read takes bytes; bytes arriving
   * meanwhile do not move it, so a peer dripping a frame byte by byte can't hold it open.
   * When it passes, awaited reads waiting reject with `ERR_READ_TIMEOUT` and the connection
   * stays open; if only a synchronous read was waiting, the connection is closed with
   * `ERR_READ_TIMEOUT`. A read already waiting gets the new timeout, counted from now.
   */
  setReadTimeout(ms: number): void {
    const timeout = checkMs(ms)
    if (this.closed || (timeout === 0 && this.deadline === null)) return
    this.deadline ??= new ReadDeadline()
    this.deadline.set(timeout, this.reader.waiting, this)
  }

  /**
   * The write timeout, in ms (0 = none, the default): when flushed output makes no progress
   * for this long — no byte of it written to the socket and none taken by the peer from the
   * socket's buffers — the connection is closed with `ERR_WRITE_TIMEOUT` (pending flushes
   * reject with it). A peer that reads slowly but steadily is never cut, however long a large
   * flush takes; one that stops reading is (within a quarter of the timeout after it).
   */
  setWriteTimeout(ms: number): void {
    if (!this.closed) this.engine.setTimer(this, TIMER_WRITE, checkMs(ms))
  }

  /**
   * Closes the connection with `ERR_IDLE_TIMEOUT` after `ms` without a byte read or written
   * (0 = never, the default). This is a real close, not TCP keepalive.
   */
  setIdleTimeout(ms: number): void {
    if (!this.closed) this.engine.setTimer(this, TIMER_IDLE, checkMs(ms))
  }

  /**
   * The local end's address. Read once and kept, so it stays available in close callbacks;
   * `null` if the connection closed before it was first read.
   */
  get localAddress(): NetAddress | null {
    return this.addresses().local
  }

  /** The peer's address; kept like {@link Connection.localAddress}. */
  get remoteAddress(): NetAddress | null {
    return this.addresses().remote
  }

  /**
   * The TLS state (protocol, cipher, ALPN, servername, authorization, peer certificate) of a
   * connection made by a TLS listener or a TLS dial; `null` for a plain connection. Asked
   * of the native side once and kept.
   */
  get tls(): TlsState | null {
    if (this.tlsState === undefined) this.tlsState = this.closed ? null : this.engine.tlsInfo(this)
    return this.tlsState
  }

  private addresses(): { local: NetAddress | null; remote: NetAddress | null } {
    if (this.addrs === null) {
      if (this.closed) return { local: null, remote: null }
      this.addrs = this.engine.addresses(this)
    }
    return this.addrs
  }

  /** Bytes of a batch for this connection. @internal */
  data(buf: Buffer): void {
    if (this.closed) return
    this.bytesIn += buf.length
    if (this.sink !== null) {
      this.sink.deliver(buf)
      return
    }
    this.reader.push(buf)
    const mark = Math.max(this.engine.config.highWaterMark, this.reader.neededBytes())
    if (!this.readPaused && this.reader.len() > mark) {
      this.readPaused = true
      this.engine.pauseRead(this, true)
    }
  }

  /**
   * @internal ReaderOwner: a read now needs more bytes than are buffered. Reading may have
   * been paused at the high-water mark before this read asked for more than that (the pause
   * decision did not know of it): resume, or the read could never complete.
   */
  wantMore(): void {
    if (this.readPaused && !this.closed && this.reader.len() < this.reader.neededBytes()) {
      this.readPaused = false
      this.engine.pauseRead(this, false)
    }
  }

  /** @internal ReaderOwner: bytes were consumed (resume reading below the low-water mark). */
  consumedSome(): void {
    if (this.readPaused && this.reader.len() < this.engine.config.lowWaterMark) {
      this.readPaused = false
      this.engine.pauseRead(this, false)
    }
    this.reader.recheck()
  }

  /**
   * Runs the handler if input waits and none is running; a small tail it leaves buffered is
   * then copied out of the shared batch memory (see `BufferChain.unpin`). @internal
   */
  dispatch(): void {
    if (this.sink !== null) return // bridged: the sink took the bytes and decides on the FIN
    this.serve()
    this.reader.chain.unpin()
  }

  private serve(): void {
    while (!this.running && !this.closed && this.onRequest && this.reader.len() > 0) {
      const before = this.reader.chain.consumed
      this.running = true
      let result: void | Promise<void>
      try {
        result = this.onRequest(this)
      } catch (e) {
        this.running = false
        this.handlerFailed(e)
        return
      }
      if (result && typeof (result as Promise<void>).then === 'function') {
        ;(result as Promise<void>).then(
          () => this.handlerDone(before),
          (e) => {
            this.running = false
            this.handlerFailed(e)
          },
        )
        return
      }
      this.running = false
      if (this.reader.chain.consumed === before) break
    }
    this.maybeEndAfterPeerClose()
  }

  private handlerDone(before: number): void {
    this.running = false
    if (this.reader.chain.consumed !== before) this.dispatch()
    else this.maybeEndAfterPeerClose()
  }

  private handlerFailed(e: unknown): void {
    this.onHandlerError?.(e, this, true)
    const err = e instanceof Error ? (e as NetpollError) : codeError('ERR_HANDLER', String(e))
    this.fail(err)
  }

  /** Whether a handler is running (shutdown waits for those). @internal */
  get busy(): boolean {
    return this.running || this.reader.len() > 0
  }

  /** The peer sent FIN. @internal */
  peerClosed(): void {
    if (this.closed) return
    this.active = false
    this.readClosed = true
    if (this.sink !== null) {
      this.sink.deliverEnd()
      this.bothEnded()
      return
    }
    this.reader.end(null)
    this.onPeerClosed?.(this)
    // Input that came with the FIN is still served before the close.
    this.dispatch()
  }

  /**
   * Without allowHalfOpen, a connection whose peer finished is closed once its handler is
   * done; with it, once this side was half-closed too.
   */
  private maybeEndAfterPeerClose(): void {
    if (!this.readClosed || this.running || this.closed) return
    if (this.allowHalfOpen) this.bothEnded()
    else if (this.onRequest || this.closeOnPeerClose) this.close()
  }

  /** A timer fired. @internal */
  timeout(kind: number): void {
    if (kind === TIMER_READ) this.readTimerFired()
  }

  /**
   * The native read timer fired (it may have been armed for an earlier read): nothing when no
   * read waits, re-armed for the rest when the waiting read's deadline is later, else the
   * deadline passed: awaited reads reject (the connection stays open), and a synchronous
   * read's want closes the connection.
   */
  private readTimerFired(): void {
    if (this.closed || !this.deadline?.fired(this.reader.waiting, this)) return
    if (this.reader.timeout()) return
    const e = codeError('ERR_READ_TIMEOUT', 'the read timed out waiting for data')
    this.onHandlerError?.(e, this, false)
    this.fail(e)
  }

  /** Flush progress from the shard. @internal */
  flushed(seq: number): void {
    this.writer.flushed(seq)
  }

  /**
   * @internal Closes with a reset: the peer gets RST (not FIN), queued output is dropped
   * (the bridge's `resetAndDestroy()`). Close callbacks run with `error`.
   */
  reset(error: NetpollError | null): void {
    if (this.closed) return
    this.engine.resetNative(this)
    this.finish(error)
  }

  /** Closes with an error (aborting queued output). @internal */
  fail(error: NetpollError): void {
    if (this.closed) return
    this.engine.closeNative(this, true)
    this.finish(error)
  }

  /** The connection is gone; runs the close path once. @internal */
  finish(error: NetpollError | null): void {
    if (this.closed) return
    this.closed = true
    this.closeError = error
    this.active = false
    this.engine.forget(this)
    this.reader.end(error)
    this.writer.fail(error)
    this.onClosed?.(this, error)
    this.sink?.connectionClosed(error)
    const callbacks = this.closeCallbacks
    this.closeCallbacks = null
    if (callbacks === null) return
    for (const cb of callbacks) {
      try {
        cb(this, error)
      } catch (err) {
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }

  /** Whether the connection is closed. @internal */
  get isClosed(): boolean {
    return this.closed
  }
}

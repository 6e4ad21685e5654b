/**
 * A connection (netpoll's `Connection`): a {@link Reader} and a {@link Writer} over a socket
 * owned by a shard, liveness (`isActive`), timeouts and close callbacks.
 */
import type { Config } from './config'
import { checkMs, codeError, NetpollError } from './errors'
import { Reader } from './reader'
import { Writer } from './writer'

/** An address of a socket end. */
export interface NetAddress {
  /** IP address (`127.0.0.1`, `::1`) or Unix socket path. */
  address: string
  /** Port (TCP only). */
  port?: number
  /** `IPv4`, `IPv6` or `unix`. */
  family: string
}

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

/**
 * What a connection needs from the engine that routes its events (the engine implements it):
 * the native calls for one connection, and the batched write.
 * @internal
 */
export interface ConnectionHost {
  readonly config: Config
  /** Queues `conn`'s flushed output for the engine's next batched write. */
  markDirty(conn: Connection): void
  /** Writes every queued connection's output now. */
  flushDirty(): void
  /** Closes the native connection (`abort`: drop queued output). */
  closeNative(conn: Connection, abort: boolean): void
  /** The connection closed: the engine stops routing to it. */
  forget(conn: Connection): void
  /** Stops (`true`) or resumes reading from the socket. */
  pauseRead(conn: Connection, paused: boolean): void
  /** Arms (`ms` > 0) or cancels timer `kind` (read, write, idle). */
  setTimer(conn: Connection, kind: number, ms: number): void
  /** The socket's two ends. */
  addresses(conn: Connection): { local: NetAddress | null; remote: NetAddress | null }
}

/** Counters of one connection, from {@link Connection.stats}. */
export interface ConnectionStats {
  /** Bytes received from the peer. */
  bytesIn: number
  /** Bytes handed over by `flush()` so far (written, or queued for the kernel). */
  bytesOut: number
  /** Bytes received and not yet consumed by a read. */
  bytesBuffered: number
  /** Bytes written or flushed and not yet taken by the kernel. */
  bytesQueued: number
}

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
  private running = false
  private readPaused = false
  private readTimeoutMs = 0
  private onRequest: OnRequest | null = null
  private closeCallbacks: CloseCallback[] | null = null
  private addrs: { local: NetAddress | null; remote: NetAddress | null } | null = null
  private bytesIn = 0
  /** @internal Called when the peer finished sending (server: onDisconnect). */
  onPeerClosed: ((conn: Connection) => void) | null = null
  /** @internal Called when a handler throws or rejects. */
  onHandlerError: ((error: unknown, conn: Connection) => void) | null = null
  /** @internal Called when the connection closes, before the close callbacks (the server's count). */
  onClosed: CloseCallback | null = null
  /**
   * @internal Set on dialed connections: when the peer finished, the connection is closed
   * even without a handler (buffered input stays readable), so close callbacks run.
   */
  closeOnPeerClose = false
  /** @internal Whether the engine holds this connection for its next batched write. */
  writeQueued = false

  /** @internal */
  constructor(
    private readonly engine: ConnectionHost,
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

  /** @internal ReaderOwner: a read waits for bytes (true) or stopped waiting (false). */
  armReadTimeout(waiting: boolean): void {
    if (waiting) this.wantMore()
    if (this.readTimeoutMs > 0 && !this.closed) this.engine.setTimer(this, TIMER_READ, waiting ? this.readTimeoutMs : 0)
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
   * Closes the connection. Output already flushed is still delivered (bounded by the write
   * timeout); close callbacks run once. Calling it again does nothing.
   */
  close(): void {
    if (this.closed) return
    // Output flushed but still waiting for the batched write goes out before the close.
    if (this.writer.submitted.length > 0) this.engine.flushDirty()
    if (this.closed) return
    this.engine.closeNative(this, false)
    this.finish(null)
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
   * How long a read may wait for bytes, in ms (0 = forever, the default). When it passes,
   * the read rejects with `ERR_READ_TIMEOUT`; the connection stays open.
   */
  setReadTimeout(ms: number): void {
    this.readTimeoutMs = checkMs(ms)
  }

  /**
   * How long flushed output may wait for the kernel, in ms (0 = forever). When it passes, the
   * connection is closed with `ERR_WRITE_TIMEOUT`.
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
    this.onHandlerError?.(e, this)
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
    this.reader.end(null)
    this.onPeerClosed?.(this)
    // Input that came with the FIN is still served before the close.
    this.dispatch()
  }

  /** Without allowHalfOpen, a connection whose peer finished is closed once its handler is done. */
  private maybeEndAfterPeerClose(): void {
    if (this.readClosed && !this.running && !this.closed && (this.onRequest || this.closeOnPeerClose)) this.close()
  }

  /** A timer fired. @internal */
  timeout(kind: number): void {
    if (kind === TIMER_READ) this.reader.timeout()
  }

  /** Flush progress from the shard. @internal */
  flushed(seq: number): void {
    this.writer.flushed(seq)
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
    this.active = false
    this.engine.forget(this)
    this.reader.end(error)
    this.writer.fail(error)
    this.onClosed?.(this, error)
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

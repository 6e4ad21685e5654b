/**
 * A connection (netpoll's `Connection`): a {@link Reader} and a {@link Writer} over a socket
 * owned by a shard, liveness (`isActive`), timeouts and close callbacks.
 */
import type { ConnectionHost, ConnectionSink, ConnectionStats, NetAddress } from './connection-host'
import * as F from './connection-state'
import { ConnectionExtras, ConnectionHooks, NO_ENDS, runCloseCallbacks, SocketEnds } from './connection-state'
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
/** Slot indices per shard (the engine's key space too): `slot` holds both numbers. */
const SLOT_BITS = 24

/** The engine every connection belongs to (one per process): kept here, not per connection. */
let host: ConnectionHost<Connection>

/** A connection. Created by an {@link EventLoop} (server side) or by `dial` (client side). */
export class Connection {
  /** Reads the bytes the peer sent. */
  readonly reader: Reader
  /** Collects output; `flush()` sends it. */
  readonly writer: Writer
  /** The shard (high bits) and the slot index in it (low {@link SLOT_BITS} bits). */
  private readonly slot: number
  /** @internal */ readonly generation: number
  /** Yes/no state: bits of connection-state.ts (open, active and ref'd at first). */
  private flags = F.ACTIVE | F.REFED
  private onRequest: OnRequest | null = null
  /** @internal The owner's callbacks (an EventLoop's, shared by its connections). */
  hooks: ConnectionHooks<Connection> | null = null
  /** What few connections need (close callbacks, addresses, bridge, deadline…). */
  private more: ConnectionExtras<Connection> | null = null

  /** @internal */
  constructor(engine: ConnectionHost<Connection>, shard: number, index: number, generation: number) {
    host = engine
    this.slot = shard * 2 ** SLOT_BITS + index
    this.generation = generation
    // The connection is the owner of its reader and writer: no closures per connection
    // (an idle connection's memory is what a server of 10,000 of them pays for).
    this.reader = new Reader(this)
    this.writer = new Writer(this)
  }

  /** @internal The shard that owns the socket. */
  get shard(): number {
    return Math.floor(this.slot / 2 ** SLOT_BITS)
  }

  /** @internal The socket's slot index in its shard. */
  get index(): number {
    return this.slot % 2 ** SLOT_BITS
  }

  private get closed(): boolean {
    return (this.flags & F.CLOSED) !== 0
  }

  /** @internal Whether flag `bit` (connection-state.ts) is set. */
  hasFlag(bit: number): boolean {
    return (this.flags & bit) !== 0
  }

  /**
   * @internal Sets or clears flag `bit`: `CLOSE_ON_PEER_CLOSE` (a dialed connection closes
   * when the peer finished, even without a handler), `ALLOW_HALF_OPEN` (a connection whose
   * peer finished stays open until {@link Connection.shutdownWrite} ended this side too),
   * `WRITE_QUEUED` (the engine holds it for its next batched write).
   */
  setFlag(bit: number, on: boolean): void {
    this.flags = on ? this.flags | bit : this.flags & ~bit
  }

  private extras(): ConnectionExtras<Connection> {
    return (this.more ??= new ConnectionExtras())
  }

  /** @internal The bridge that takes this connection's bytes, FIN and close (lib/net). */
  get sink(): ConnectionSink | null {
    return this.more === null ? null : this.more.sink
  }

  /** @internal */
  set sink(sink: ConnectionSink | null) {
    if (sink !== null || this.more !== null) this.extras().sink = sink
  }

  /**
   * @internal ReaderOwner: a read came back short with none waiting: its deadline starts.
   * One clock read; a native call only when no read timer is armed (see `timeout`).
   */
  readWaitStarted(): void {
    this.more?.deadline?.started(this)
  }

  /** @internal ReadTimerOwner: arms (`ms` > 0) or cancels the native read timer. */
  setReadTimer(ms: number): void {
    if (!this.closed) host.setTimer(this, TIMER_READ, ms)
  }

  /** @internal ReaderOwner: the largest single read. */
  get maxRead(): number {
    return host.config.maxFrame
  }

  /** @internal WriterOwner: output was flushed. */
  scheduleFlush(): void {
    host.markDirty(this)
  }

  /** @internal WriterOwner: the output limit. */
  get maxOutput(): number {
    return host.config.maxOutput
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
    return (this.flags & F.ACTIVE) !== 0
  }

  /**
   * Lets the process exit while this connection is open (as `net.Socket.unref()`): an
   * open connection keeps the process alive by default, an unref'd one does not. Calling it
   * again, or on a closed connection, does nothing. A `ConnectionPool` unrefs its idle
   * connections and refs them again when `get()` hands them out. Returns the connection.
   */
  unref(): this {
    if (this.hasFlag(F.REFED)) {
      this.setFlag(F.REFED, false)
      if (!this.closed) host.retain(-1)
    }
    return this
  }

  /**
   * Undoes {@link Connection.unref}: the open connection keeps the process alive again (the
   * default). Calling it again, or on a closed connection, does nothing. Returns the
   * connection.
   */
  ref(): this {
    if (!this.hasFlag(F.REFED)) {
      this.setFlag(F.REFED, true)
      if (!this.closed) host.retain(1)
    }
    return this
  }

  /** Whether the connection counts as holding the process (the engine's close path). @internal */
  hasRef(): boolean {
    return this.hasFlag(F.REFED)
  }

  /**
   * Closes the connection. Output already flushed is still delivered (given up if it makes no
   * progress for the write timeout, or 30 s without one), and the process stays alive until
   * then, like with `net`'s `end()`; close callbacks run once. Calling it again does nothing.
   */
  close(): void {
    if (this.closed) return
    // Output flushed but still waiting for the batched write goes out before the close.
    if (this.writer.submitted.length > 0) host.flushDirty()
    if (this.closed) return
    host.closeNative(this, false)
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
    if (this.hasFlag(F.WRITE_SHUT)) return flushed
    this.setFlag(F.WRITE_SHUT, true)
    // Output flushed but still waiting for the batched write goes out before the FIN.
    if (this.writer.submitted.length > 0) host.flushDirty()
    if (this.closed) return flushed
    try {
      host.shutdownWrite(this)
    } catch (e) {
      this.finish(e as NetpollError)
      return flushed
    }
    return flushed.then(() => this.bothEnded())
  }

  /** Whether this side was half-closed ({@link Connection.shutdownWrite}). */
  get writeEnded(): boolean {
    return this.hasFlag(F.WRITE_SHUT)
  }

  /** Both directions ended (our FIN handed over, the peer's read): close. */
  private bothEnded(): void {
    const both = F.READ_CLOSED | F.WRITE_SHUT
    if ((this.flags & (both | F.CLOSED)) === both && this.writer.inFlight === 0) this.close()
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
    if (this.hasFlag(F.READ_CLOSED)) sink.deliverEnd()
    // Closed before the bridge took over (e.g. reset right after the connect): say so.
    if (this.closed) sink.connectionClosed(this.extras().closeError)
  }

  /** @internal TCP_NODELAY and keepalive (see `ConnectionHost.setSocketOptions`). */
  setSocketOptions(noDelay: boolean | undefined, keepAliveMs: number): void {
    if (!this.closed) host.setSocketOptions(this, noDelay, keepAliveMs)
  }

  /**
   * @internal Read backpressure driven by the owner (the bridge): stop (`true`) or resume
   * reading from the socket.
   */
  setReadPaused(paused: boolean): void {
    if (this.hasFlag(F.READ_PAUSED) === paused || this.closed) return
    this.setFlag(F.READ_PAUSED, paused)
    host.pauseRead(this, paused)
  }

  /** Adds a callback run once when the connection closes, in the order added. */
  addCloseCallback(callback: CloseCallback): void {
    if (typeof callback !== 'function') throw new TypeError('addCloseCallback expects a function')
    if (this.closed) {
      queueMicrotask(() => callback(this, null))
      return
    }
    const more = this.extras()
    if (more.closeCallbacks === null) more.closeCallbacks = [callback]
    else more.closeCallbacks.push(callback)
  }

  /** This connection's counters (see {@link ConnectionStats}). */
  stats(): ConnectionStats {
    const w = this.writer
    return {
      bytesIn: this.reader.chain.consumed + this.reader.len(), // bridged input counts there too
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
    if (this.closed || (timeout === 0 && this.more?.deadline == null)) return
    const more = this.extras()
    more.deadline ??= new ReadDeadline()
    more.deadline.set(timeout, this.reader.waiting, this)
  }

  /**
   * The write timeout, in ms (0 = none, the default): when flushed output makes no progress
   * for this long — no byte of it written to the socket and none taken by the peer from the
   * socket's buffers — the connection is closed with `ERR_WRITE_TIMEOUT` (pending flushes
   * reject with it). A peer that reads slowly but steadily is never cut, however long a large
   * flush takes; one that stops reading is (within a quarter of the timeout after it).
   */
  setWriteTimeout(ms: number): void {
    if (!this.closed) host.setTimer(this, TIMER_WRITE, checkMs(ms))
  }

  /**
   * Closes the connection with `ERR_IDLE_TIMEOUT` after `ms` without a byte read or written
   * (0 = never, the default). This is a real close, not TCP keepalive.
   */
  setIdleTimeout(ms: number): void {
    if (!this.closed) host.setTimer(this, TIMER_IDLE, checkMs(ms))
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
    const more = this.extras()
    return more.tlsState === undefined ? (more.tlsState = this.closed ? null : host.tlsInfo(this)) : more.tlsState
  }

  private addresses(): SocketEnds {
    if (this.more?.addrs == null && this.closed) return NO_ENDS
    return (this.extras().addrs ??= host.addresses(this))
  }

  /** Bytes of a batch for this connection. @internal */
  data(buf: Buffer): void {
    if (this.closed) return
    const sink = this.sink
    if (sink !== null) {
      this.reader.chain.consumed += buf.length // bytesIn (the sink takes them at once)
      sink.deliver(buf)
      return
    }
    this.reader.push(buf)
    const mark = Math.max(host.config.highWaterMark, this.reader.neededBytes())
    if (!this.hasFlag(F.READ_PAUSED) && this.reader.len() > mark) {
      this.setFlag(F.READ_PAUSED, true)
      host.pauseRead(this, true)
    }
  }

  /**
   * @internal ReaderOwner: a read now needs more bytes than are buffered. Reading may have
   * been paused at the high-water mark before this read asked for more than that (the pause
   * decision did not know of it): resume, or the read could never complete.
   */
  wantMore(): void {
    if (this.hasFlag(F.READ_PAUSED) && !this.closed && this.reader.len() < this.reader.neededBytes()) {
      this.setFlag(F.READ_PAUSED, false)
      host.pauseRead(this, false)
    }
  }

  /** @internal ReaderOwner: bytes were consumed (resume reading below the low-water mark). */
  consumedSome(): void {
    if (this.hasFlag(F.READ_PAUSED) && this.reader.len() < host.config.lowWaterMark) {
      this.setFlag(F.READ_PAUSED, false)
      host.pauseRead(this, false)
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
    while ((this.flags & (F.RUNNING | F.CLOSED)) === 0 && this.onRequest && this.reader.len() > 0) {
      const before = this.reader.chain.consumed
      this.flags |= F.RUNNING
      let result: void | Promise<void>
      try {
        result = this.onRequest(this)
      } catch (e) {
        this.setFlag(F.RUNNING, false)
        this.handlerFailed(e)
        return
      }
      if (result && typeof (result as Promise<void>).then === 'function') {
        ;(result as Promise<void>).then(
          () => this.handlerDone(before),
          (e) => {
            this.setFlag(F.RUNNING, false)
            this.handlerFailed(e)
          },
        )
        return
      }
      this.setFlag(F.RUNNING, false)
      if (this.reader.chain.consumed === before) break
    }
    this.maybeEndAfterPeerClose()
  }

  private handlerDone(before: number): void {
    this.setFlag(F.RUNNING, false)
    if (this.reader.chain.consumed !== before) this.dispatch()
    else this.maybeEndAfterPeerClose()
  }

  private handlerFailed(e: unknown): void {
    this.hooks?.onHandlerError?.(e, this, true)
    const err = e instanceof Error ? (e as NetpollError) : codeError('ERR_HANDLER', String(e))
    this.fail(err)
  }

  /** Whether a handler is running (shutdown waits for those). @internal */
  get busy(): boolean {
    return this.hasFlag(F.RUNNING) || this.reader.len() > 0
  }

  /** The peer sent FIN. @internal */
  peerClosed(): void {
    if (this.closed) return
    this.flags = (this.flags & ~F.ACTIVE) | F.READ_CLOSED
    const sink = this.sink
    if (sink !== null) {
      sink.deliverEnd()
      this.bothEnded()
      return
    }
    this.reader.end(null)
    this.hooks?.onPeerClosed?.(this)
    // Input that came with the FIN is still served before the close.
    this.dispatch()
  }

  /**
   * Without allowHalfOpen, a connection whose peer finished is closed once its handler is
   * done; with it, once this side was half-closed too.
   */
  private maybeEndAfterPeerClose(): void {
    if ((this.flags & (F.READ_CLOSED | F.RUNNING | F.CLOSED)) !== F.READ_CLOSED) return
    if (this.hasFlag(F.ALLOW_HALF_OPEN)) this.bothEnded()
    else if (this.onRequest || this.hasFlag(F.CLOSE_ON_PEER_CLOSE)) this.close()
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
    if (this.closed || !this.more?.deadline?.fired(this.reader.waiting, this)) return
    if (this.reader.timeout()) return
    const e = codeError('ERR_READ_TIMEOUT', 'the read timed out waiting for data')
    this.hooks?.onHandlerError?.(e, this, false)
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
    host.resetNative(this)
    this.finish(error)
  }

  /** Closes with an error (aborting queued output). @internal */
  fail(error: NetpollError): void {
    if (this.closed) return
    host.closeNative(this, true)
    this.finish(error)
  }

  /** The connection is gone; runs the close path once. @internal */
  finish(error: NetpollError | null): void {
    if (this.closed) return
    this.flags = (this.flags & ~F.ACTIVE) | F.CLOSED
    if (error !== null) this.extras().closeError = error
    host.forget(this)
    this.reader.end(error)
    this.writer.fail(error)
    this.hooks?.onClosed?.(this, error)
    this.sink?.connectionClosed(error)
    const callbacks = this.more?.closeCallbacks ?? null
    if (callbacks === null) return
    ;(this.more as ConnectionExtras<Connection>).closeCallbacks = null
    runCloseCallbacks(callbacks, this, error)
  }

  /** Whether the connection is closed. @internal */
  get isClosed(): boolean {
    return this.closed
  }
}

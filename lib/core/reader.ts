/**
 * The reading side of a connection (netpoll's `Reader`), over the bytes its shard delivered.
 */
import { BufferChain } from './buffer-chain'
import { checkSize, codeError, NetpollError } from './errors'

/** Hooks of the connection that owns a reader. @internal */
export interface ReaderOwner {
  /**
   * A read came back short (a synchronous read returned `null`, or an awaited read must wait)
   * while no read was waiting: the read deadline of the wanted bytes starts now. It lasts
   * while {@link Reader.waiting} holds (until the wanted bytes are taken), whatever arrives
   * meanwhile.
   */
  readWaitStarted(): void
  /** Called after bytes were consumed (to resume reading below the low-water mark). */
  consumedSome(): void
  /** A synchronous read found too few bytes: resume reading if it was paused below them. */
  wantMore(): void
  /** The largest single read (`configure({ maxFrame })`). */
  readonly maxRead: number
}

/** What a read does with its bytes. */
const enum Op {
  Take,
  Peek,
  Skip,
  Slice,
}

/**
 * The waiting list of a reader with none (most of the time): one shared, frozen empty array
 * instead of one per connection. A reader makes its own array when a read first waits.
 */
const NO_WAITERS: Waiter[] = Object.freeze([]) as unknown as Waiter[]

/** A read waiting for bytes: performed by {@link Reader} as soon as they are buffered. */
interface Waiter {
  /** Bytes needed, or -1 for "until delim". */
  need: number
  delim: number
  /** What the read does with its `n` bytes once they are buffered. */
  op: Op
  resolve: (value: unknown) => void
  reject: (e: Error) => void
}

/**
 * Reads a byte stream without copying. Methods that need more bytes than are buffered return
 * a Promise that resolves when the bytes arrive, or rejects with `ERR_READ_TIMEOUT` (the read
 * timeout passed; the connection stays open) or `ERR_CONN_CLOSED` (the connection closed or
 * the peer finished sending first). Returned Buffers view JS-owned memory: they stay valid
 * for as long as you hold them, whatever the reader does afterwards. Like Buffers from Node's
 * pool, they may share one `ArrayBuffer` with other bytes received: copy one before
 * transferring its `buffer` to a worker.
 *
 * A read of more than `configure({ maxFrame })` bytes (or an `until` whose delimiter is not
 * within that many bytes) rejects with `ERR_FRAME_TOO_LARGE` before any byte is buffered for
 * it, so a length a peer declares can never make the library buffer without bound.
 */
export class Reader extends BufferChain {
  private waiters: Waiter[] = NO_WAITERS
  /**
   * `null` while more bytes may come; once none will, `true`, or the error reads then get
   * (made when one needs it: an Error per slice or per closed connection would cost more).
   */
  private endState: Error | true | null = null
  /** Bytes the last synchronous read that came back empty asked for (0 once a read took). */
  private wanted = 0

  /** @internal */
  constructor(private readonly owner: ReaderOwner | null) {
    super()
  }

  /** @internal The buffered bytes: the reader is its own chain (one object, not two). */
  get chain(): BufferChain {
    return this
  }

  /** The largest single read (the owner's, fixed once the engine runs; none for a slice). */
  private get limit(): number {
    return this.owner === null ? Number.POSITIVE_INFINITY : this.owner.maxRead
  }

  private get ended(): boolean {
    return this.endState !== null
  }

  /** Bytes buffered and not yet consumed. */
  len(): number {
    return this.size
  }

  /**
   * The next `n` bytes, consumed. The Buffer is a view (no copy) unless it spans chunks.
   * Bytes already buffered are taken at once (the Promise is already resolved); a read that
   * waits takes its bytes as soon as they arrive.
   */
  next(n: number): Promise<Buffer> {
    return this.read(n, 0, Op.Take)
  }

  /** The next `n` bytes, not consumed. */
  peek(n: number): Promise<Buffer> {
    return this.read(n, 0, Op.Peek)
  }

  /**
   * The next `n` bytes, consumed, when they are all buffered; otherwise `null`, and nothing is
   * consumed. The synchronous read of a handler that takes every frame already buffered and
   * returns: no Promise, no microtask per frame. After a `null` the reader remembers that `n`
   * bytes are wanted (read backpressure lets at least that many in) and the connection's
   * handler is called again when more bytes arrive. While an awaited read is waiting it
   * returns `null` (reads never overtake each other). Throws `ERR_FRAME_TOO_LARGE` when `n`
   * exceeds `configure({ maxFrame })`.
   *
   * A `null` starts the connection's read timeout (`setReadTimeout`, the `EventLoop`'s
   * `readTimeout`) unless a read was already waiting: a deadline for the wanted bytes, not
   * moved by bytes that arrive meanwhile, met when a read takes bytes. When it passes first,
   * the connection is closed with `ERR_READ_TIMEOUT` (reported to the close callbacks and to
   * the `EventLoop`'s `onError`).
   */
  tryNext(n: number): Buffer | null {
    return this.tryRead(n, Op.Take) as Buffer | null
  }

  /** Like {@link Reader.tryNext}, without consuming: the next `n` bytes, or `null`. */
  tryPeek(n: number): Buffer | null {
    return this.tryRead(n, Op.Peek) as Buffer | null
  }

  /**
   * The big-endian unsigned 32-bit integer `offset` bytes ahead (a length prefix), without
   * consuming or allocating; `null` when fewer than `offset + 4` bytes are buffered (or a read
   * is waiting), like {@link Reader.tryPeek}. With {@link Reader.tryNext}, the fastest way to
   * take length-prefixed frames.
   */
  tryPeekUInt32BE(offset = 0): number | null {
    checkSize(offset, 'offset')
    if (offset + 4 > this.limit) throw this.tooLarge(offset + 4)
    if (this.waiters.length > 0 || this.size < offset + 4) return this.want(offset + 4)
    return this.chain.uint32BE(offset)
  }

  /** Consumes `n` bytes. */
  skip(n: number): Promise<void> {
    return this.read(n, 0, Op.Skip)
  }

  /** The bytes up to and including the first `delim` byte (0–255), consumed. */
  until(delim: number): Promise<Buffer> {
    if (!Number.isInteger(delim) || delim < 0 || delim > 255) {
      return Promise.reject(new RangeError(`delim must be a byte (0-255), got ${String(delim)}`))
    }
    return this.read(-1, delim, Op.Take)
  }

  /** The next `n` bytes decoded as a string (`utf8` by default), consumed. */
  async readString(n: number, encoding: BufferEncoding = 'utf8'): Promise<string> {
    return (await this.next(n)).toString(encoding)
  }

  /** A copy of the next `n` bytes, consumed: safe to modify. */
  async readBinary(n: number): Promise<Buffer> {
    return Buffer.from(await this.next(n))
  }

  /** The next byte, consumed. */
  async readByte(): Promise<number> {
    return (await this.next(1))[0]
  }

  /**
   * The next `n` bytes as an independent {@link Reader} over the same memory (no copy),
   * consumed from this one: hand a whole frame to another part of the program.
   */
  slice(n: number): Promise<Reader> {
    return this.read(n, 0, Op.Slice)
  }

  /**
   * netpoll's `Release`, kept so that ported code runs: here it has nothing to do, and does
   * nothing. A reader lets go of consumed bytes as its reads take them, and their memory is
   * returned once no Buffer views it any more (the GC decides, as for any Buffer); Buffers
   * already returned stay valid and unchanged, unlike the slices of Go netpoll's `Release`.
   * What a reader holds is its unconsumed bytes ({@link Reader.len}): to keep a few of them
   * for long without keeping the memory they were received in, read a copy (`readBinary`).
   */
  release(): void {}

  /** Performs `op` on the next `n` bytes (all buffered). */
  private perform(op: Op, n: number): unknown {
    switch (op) {
      case Op.Take:
        return this.chain.take(n)
      case Op.Peek:
        return this.chain.peekBytes(n)
      case Op.Skip:
        this.chain.skipBytes(n)
        return undefined
      case Op.Slice: {
        // A slice has all its bytes already, and no owner: it never waits.
        const slice = new Reader(null)
        this.chain.splitInto(n, slice)
        return slice
      }
    }
  }

  /** Performs `op` on the next `n` bytes if they are buffered and no read waits, else null. */
  private tryRead(n: number, op: Op): unknown {
    checkSize(n)
    if (n > this.limit) throw this.tooLarge(n)
    if (this.waiters.length === 0 && this.size >= n) {
      const out = this.perform(op, n)
      if (op !== Op.Peek) this.tookBytes()
      return out
    }
    return this.want(n)
  }

  /**
   * A synchronous read found fewer than `n` bytes: remember them (backpressure lets them in);
   * the read deadline starts unless a read was waiting already.
   */
  private want(n: number): null {
    if (this.ended) return null // no bytes will come: no deadline, nothing to let in
    if (this.wanted === 0 && this.waiters.length === 0) this.owner?.readWaitStarted()
    if (n > this.wanted) {
      this.wanted = n
      this.owner?.wantMore()
    }
    return null
  }

  /** Bytes were consumed: a remembered want is served, and the owner may resume reading. */
  private tookBytes(): void {
    this.wanted = 0
    this.owner?.consumedSome()
  }

  /** Bytes a read of `need` (or until `delim` when −1) can take now, or −1. */
  private available(need: number, delim: number): number {
    if (need < 0) return this.chain.indexOf(delim)
    return this.size >= need ? need : -1
  }

  /**
   * Performs `op` at once when its bytes are buffered and no read waits (reads are served in
   * call order: one never overtakes a waiting one), else when they arrive.
   */
  private read<T>(need: number, delim: number, op: Op): Promise<T> {
    if (need >= 0) {
      try {
        checkSize(need)
      } catch (e) {
        return Promise.reject(e)
      }
      if (need > this.limit) return Promise.reject(this.tooLarge(need))
    }
    if (this.waiters.length === 0) {
      const n = this.available(need, delim)
      if (n >= 0) {
        const out = this.perform(op, n) as T
        if (op !== Op.Peek) this.tookBytes()
        return Promise.resolve(out)
      }
    }
    if (need < 0 && this.size > this.limit) return Promise.reject(this.tooLarge(this.size))
    if (this.owner === null) return Promise.reject(codeError('ERR_CONN_CLOSED', 'not enough bytes in this reader'))
    if (this.ended) return Promise.reject(this.endedError())
    return new Promise<T>((resolve, reject) => {
      if (this.waiters === NO_WAITERS) this.waiters = []
      this.waiters.push({ need, delim, op, resolve: resolve as (v: unknown) => void, reject })
      if (this.waiters.length === 1) {
        // A synchronous want that came back short before keeps its deadline.
        if (this.wanted === 0) this.owner?.readWaitStarted()
        this.owner?.wantMore()
      }
    })
  }

  private tooLarge(n: number): NetpollError {
    return codeError('ERR_FRAME_TOO_LARGE', `a read of ${n} bytes exceeds maxFrame (${this.limit} bytes)`)
  }

  /**
   * The bytes the first waiting read needs (the backpressure mark must not starve it; for
   * `until`, maxFrame). @internal
   */
  neededBytes(): number {
    if (this.waiters.length === 0) return this.wanted
    const need = this.waiters[0].need
    // An `until` may scan up to maxFrame bytes for its delimiter.
    return need < 0 ? Math.min(this.limit, Number.MAX_SAFE_INTEGER) : need
  }

  /** Bytes arrived: perform the reads they satisfy, in order. @internal */
  push(buf: Buffer): void {
    this.chain.append(buf)
    this.wakeWaiters()
  }

  private wakeWaiters(): void {
    let consumed = false
    let served = false
    while (this.waiters.length > 0) {
      const w = this.waiters[0]
      const n = this.available(w.need, w.delim)
      if (n < 0) {
        // An `until` whose delimiter is not within maxFrame bytes will never fit.
        if (w.need < 0 && this.size > this.limit) {
          this.waiters.shift()
          served = true
          w.reject(this.tooLarge(this.size))
          continue
        }
        break
      }
      this.waiters.shift()
      served = true
      consumed ||= w.op !== Op.Peek
      w.resolve(this.perform(w.op, n))
    }
    if (consumed) this.tookBytes()
    // The next waiting read has its own deadline, from now.
    if (served && this.waiters.length > 0) this.owner?.readWaitStarted()
  }

  /**
   * Whether a read is waiting for bytes: an awaited one, or a synchronous one that came back
   * short and whose bytes no read has taken since (its deadline runs). @internal
   */
  get waiting(): boolean {
    return this.wanted > 0 || this.waiters.length > 0
  }

  /** Every waiting read, taken out. */
  private takeWaiters(): Waiter[] {
    const out = this.waiters
    this.waiters = NO_WAITERS
    return out
  }

  /** Re-checks waiters after a consumer took bytes. @internal */
  recheck(): void {
    this.wakeWaiters()
  }

  /**
   * The read deadline passed: awaited reads waiting fail with `ERR_READ_TIMEOUT` (the
   * connection stays open) and the want is over. Returns whether any did; `false` means only
   * a synchronous read was waiting (the owner closes the connection). @internal
   */
  timeout(): boolean {
    this.wanted = 0
    if (this.waiters.length === 0) return false
    const e = codeError('ERR_READ_TIMEOUT', 'the read timed out waiting for data')
    for (const w of this.takeWaiters()) w.reject(e)
    return true
  }

  /** No more bytes will come: fail the reads that can't be satisfied from what is buffered. @internal */
  end(error: NetpollError | null): void {
    this.endState = error ?? true
    this.wanted = 0 // no deadline for bytes that can't come
    // An Error captures a stack trace, which is costly: one is made only for a read that fails.
    if (this.waiters.length === 0) return
    const e = this.endedError()
    for (const w of this.takeWaiters()) w.reject(e)
  }

  private endedError(): Error {
    if (this.endState === null || this.endState === true) {
      this.endState = codeError('ERR_CONN_CLOSED', 'the connection is closed')
    }
    return this.endState
  }
}

/**
 * The reading side of a connection (netpoll's `Reader`), over the bytes its shard delivered.
 */
import { BufferChain } from './buffer-chain'
import { checkSize, codeError, NetpollError } from './errors'

/** Hooks of the connection that owns a reader. @internal */
export interface ReaderOwner {
  /** Arms (ms > 0) or cancels (0) the read timeout while a read waits. */
  armReadTimeout(waiting: boolean): void
  /** Called after bytes were consumed (to resume reading below the low-water mark). */
  consumedSome(): void
}

interface Waiter {
  /** Bytes needed, or -1 for "until delim". */
  need: number
  delim: number
  resolve: (n: number) => void
  reject: (e: Error) => void
}

/**
 * Reads a byte stream without copying. Methods that need more bytes than are buffered return
 * a Promise that resolves when the bytes arrive, or rejects with `ERR_READ_TIMEOUT` (the read
 * timeout passed; the connection stays open) or `ERR_CONN_CLOSED` (the connection closed or
 * the peer finished sending first). Returned Buffers view JS-owned memory: they stay valid
 * for as long as you hold them, whatever the reader does afterwards.
 */
export class Reader {
  /** @internal */
  readonly chain: BufferChain
  private waiters: Waiter[] = []
  private ended: Error | null = null

  /** @internal */
  constructor(
    private readonly owner: ReaderOwner | null,
    chain: BufferChain = new BufferChain(),
  ) {
    this.chain = chain
    if (owner === null) this.ended = codeError('ERR_CONN_CLOSED', 'not enough bytes in this reader')
  }

  /** Bytes buffered and not yet consumed. */
  len(): number {
    return this.chain.len
  }

  /** The next `n` bytes, consumed. The Buffer is a view (no copy) unless it spans chunks. */
  async next(n: number): Promise<Buffer> {
    await this.wait(checkSize(n))
    const out = this.chain.take(n)
    this.owner?.consumedSome()
    return out
  }

  /** The next `n` bytes, not consumed. */
  async peek(n: number): Promise<Buffer> {
    await this.wait(checkSize(n))
    const out = this.chain.peek(n)
    this.recheck()
    return out
  }

  /** Consumes `n` bytes. */
  async skip(n: number): Promise<void> {
    await this.wait(checkSize(n))
    this.chain.skip(n)
    this.owner?.consumedSome()
  }

  /** The bytes up to and including the first `delim` byte (0–255), consumed. */
  async until(delim: number): Promise<Buffer> {
    if (!Number.isInteger(delim) || delim < 0 || delim > 255) {
      throw new RangeError(`delim must be a byte (0-255), got ${String(delim)}`)
    }
    let n = this.waiters.length === 0 ? this.chain.indexOf(delim) : -1
    if (n < 0) n = await this.waitFor(-1, delim)
    const out = this.chain.take(n)
    this.owner?.consumedSome()
    return out
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
  async slice(n: number): Promise<Reader> {
    await this.wait(checkSize(n))
    const part = this.chain.split(n)
    this.owner?.consumedSome()
    return new Reader(null, part)
  }

  /**
   * Drops the references this reader holds to consumed memory. Buffers already returned
   * stay valid (they hold their memory themselves); calling it is optional in JS.
   */
  release(): void {
    // Consumed chunks are dropped as soon as they are consumed: nothing is held.
  }

  private wait(n: number): Promise<number> | number {
    // Reads are served in call order: a read never overtakes one that is waiting.
    if (this.waiters.length === 0 && this.chain.len >= n) return n
    return this.waitFor(n, 0)
  }

  private waitFor(need: number, delim: number): Promise<number> {
    if (this.ended) return Promise.reject(this.ended)
    return new Promise<number>((resolve, reject) => {
      this.waiters.push({ need, delim, resolve, reject })
      if (this.waiters.length === 1) this.owner?.armReadTimeout(true)
    })
  }

  /** The most bytes any waiting read needs (the backpressure mark must not starve it). @internal */
  neededBytes(): number {
    return this.waiters.length > 0 ? this.waiters[0].need : 0
  }

  /** Bytes arrived: wake the reads they satisfy, in order. @internal */
  push(buf: Buffer): void {
    this.chain.push(buf)
    this.wakeWaiters()
  }

  private wakeWaiters(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0]
      let n = w.need
      if (n < 0) n = this.chain.indexOf(w.delim)
      if (n < 0 || this.chain.len < n) return
      this.waiters.shift()
      // Resolve with the count; the continuation takes the bytes. Later waiters are checked
      // again after it consumed (consumedSome → wake) — here we stop to keep the order.
      w.resolve(n)
      if (this.waiters.length === 0) this.owner?.armReadTimeout(false)
      return
    }
  }

  /** Re-checks waiters after a consumer took bytes. @internal */
  recheck(): void {
    this.wakeWaiters()
  }

  /** The read timeout fired: fail the waiting reads; the connection stays open. @internal */
  timeout(): void {
    const e = codeError('ERR_READ_TIMEOUT', 'the read timed out waiting for data')
    for (const w of this.waiters.splice(0)) w.reject(e)
  }

  /** No more bytes will come: fail the reads that can't be satisfied from what is buffered. @internal */
  end(error: NetpollError | null): void {
    this.ended = error ?? codeError('ERR_CONN_CLOSED', 'the connection is closed')
    for (const w of this.waiters.splice(0)) w.reject(this.ended)
  }
}

/** The chunks of an empty chain: one shared, frozen array (an idle connection holds none). */
const NO_CHUNKS: Buffer[] = Object.freeze([]) as unknown as Buffer[]

/**
 * A chain buffering at most this many bytes after its handler ran copies them out of shared
 * memory ({@link BufferChain.unpin}): a quarter of the native side's 256 KiB slab.
 */
const TAIL_COPY_MAX = 64 * 1024

/**
 * A FIFO of Buffers read without copying: the storage of a connection's input and of the
 * independent readers that `slice(n)` makes. Views returned by `take` are subarrays of the
 * JS-owned Buffers the batches delivered (one copy only when the bytes span chunks).
 * `Reader` extends it (one object per connection's input, not two); its member names are
 * the ones `Reader`'s public methods don't use. Its members are internal; the class is
 * declared so that `Reader`'s type can extend it.
 */
export class BufferChain {
  private chunks: Buffer[] = NO_CHUNKS
  private head = 0 // bytes of chunks[0] already consumed
  private length = 0
  /** @internal Total bytes ever consumed (to tell whether a handler made progress). */
  consumed = 0

  /** @internal Readable bytes. */
  get size(): number {
    return this.length
  }

  /** @internal Appends bytes (kept by reference). */
  append(buf: Buffer): void {
    if (buf.length === 0) return
    this.length += buf.length
    if (this.chunks === NO_CHUNKS) this.chunks = [buf]
    else this.chunks.push(buf)
  }

  /** @internal The next `n` bytes, contiguous, without consuming them (`n` ≤ `size`). */
  peekBytes(n: number): Buffer {
    const first = this.chunks[0]
    if (n === 0) return Buffer.alloc(0)
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n)
    const out = Buffer.allocUnsafe(n)
    let copied = 0
    let offset = this.head
    for (const c of this.chunks) {
      const m = Math.min(c.length - offset, n - copied)
      c.copy(out, copied, offset, offset + m)
      copied += m
      offset = 0
      if (copied === n) break
    }
    return out
  }

  /** @internal The big-endian 32-bit unsigned integer at `offset` (`offset + 4` ≤ `size`), unconsumed. */
  uint32BE(offset: number): number {
    const first = this.chunks[0]
    const at = this.head + offset
    if (at + 4 <= first.length) return first.readUInt32BE(at)
    let value = 0
    for (let i = 0; i < 4; i++) value = value * 256 + this.byteAt(offset + i)
    return value
  }

  /** The byte at `offset` (< `size`), unconsumed. */
  private byteAt(offset: number): number {
    let at = this.head + offset
    for (const c of this.chunks) {
      if (at < c.length) return c[at]
      at -= c.length
    }
    throw new RangeError(`offset ${offset} is past the buffered bytes`)
  }

  /** @internal Consumes `n` bytes (`n` ≤ `size`). */
  skipBytes(n: number): void {
    this.length -= n
    this.consumed += n
    while (n > 0) {
      const avail = this.chunks[0].length - this.head
      if (avail > n) {
        this.head += n
        return
      }
      n -= avail
      this.chunks.shift()
      this.head = 0
    }
    // Drained: let the array go (an idle connection holds none).
    if (this.length === 0) this.chunks = NO_CHUNKS
  }

  /** @internal The next `n` bytes, consumed (`n` ≤ `size`). */
  take(n: number): Buffer {
    const out = this.peekBytes(n)
    this.skipBytes(n)
    return out
  }

  /** @internal Moves the next `n` bytes (`n` ≤ `size`) to the end of `out`, without copying. */
  splitInto(n: number, out: BufferChain): void {
    let left = n
    while (left > 0) {
      const c = this.chunks[0]
      const m = Math.min(c.length - this.head, left)
      out.append(c.subarray(this.head, this.head + m))
      this.skipBytes(m)
      left -= m
    }
  }

  /** @internal Bytes before and including the first `delim`, or -1 when it is not buffered. */
  indexOf(delim: number): number {
    let base = 0
    let offset = this.head
    for (const c of this.chunks) {
      const i = c.indexOf(delim, offset)
      if (i >= 0) return base + (i - offset) + 1
      base += c.length - offset
      offset = 0
    }
    return -1
  }

  /**
   * Copies the buffered bytes out of the memory they share with other connections' bytes,
   * when they are few (at most {@link TAIL_COPY_MAX}) and that memory is much larger: a batch's
   * bytes are views into one 256 KiB slab (or one batch-sized Buffer), and a connection that
   * keeps a 3-byte partial header would otherwise keep the whole slab alive. Called once the
   * handler has run on a batch's bytes, so only a tail left for later is copied, never every
   * read. The copy gets memory of its own (not a slice of Node's Buffer pool, whose block is
   * 64 KiB from Node 24 on: 200 connections keeping 3 bytes each pinned 12 MiB of pool blocks),
   * so the chain then pins at most 4 × what it buffers.
   * @internal
   */
  unpin(): void {
    const n = this.length
    if (n === 0 || n > TAIL_COPY_MAX) return
    const limit = 4 * n
    let pinning = false
    for (const c of this.chunks) if (c.buffer.byteLength > limit) pinning = true
    if (!pinning) return
    const out = Buffer.allocUnsafeSlow(n)
    let copied = 0
    let offset = this.head
    for (const c of this.chunks) {
      copied += c.copy(out, copied, offset)
      offset = 0
    }
    this.chunks = [out]
    this.head = 0
  }

  /** @internal Drops every buffered byte. */
  clear(): void {
    this.consumed += this.length
    this.chunks = NO_CHUNKS
    this.head = 0
    this.length = 0
  }
}

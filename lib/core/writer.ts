/**
 * The writing side of a connection (netpoll's `Writer`): bytes are collected without copying
 * and go out on `flush()`, coalesced with every other flush of the same batch into one
 * `writev` per connection.
 */
import { checkSize, codeError, NetpollError } from './errors'

/** Hooks of the connection that owns a writer. @internal */
export interface WriterOwner {
  /** Queues the writer's flushed buffers for the next batched write. */
  scheduleFlush(): void
  /** Most bytes a writer may hold before `ERR_OUTPUT_LIMIT`. */
  readonly maxOutput: number
  /** Whether the connection is still open (else writes fail with `ERR_CONN_CLOSED`). */
  isOpen(): boolean
  /** Whether the connection was half-closed (then writes throw `EPIPE`). */
  readonly writeEnded: boolean
  /** The output limit was passed: close the connection with this error. */
  overLimit(e: NetpollError): void
}

interface PendingFlush {
  seq: number
  /** Bytes this flush handed over (0 for one that only waits for an earlier flush). */
  bytes: number
  resolve: () => void
  reject: (e: Error) => void
}

/**
 * Shared, frozen empty lists: a writer with nothing written, submitted or in flight (an idle
 * connection) holds no arrays of its own; it makes one when it first needs it.
 */
const NO_BUFFERS: Buffer[] = Object.freeze([]) as unknown as Buffer[]
const NO_FLUSHES: PendingFlush[] = Object.freeze([]) as unknown as PendingFlush[]

/** The settle hooks of a `send()`: nobody waits for it. */
function ignore(): void {}

/**
 * Collects output. `writeBinary` keeps a reference to your Buffer (no copy) until the bytes
 * are handed to the kernel: don't modify it before the `flush()` Promise resolves.
 */
export class Writer {
  /** Buffers written since the last flush. @internal */
  pending: Buffer[] = NO_BUFFERS
  private pendingBytes = 0
  /** Buffers flushed and waiting for the batched write (taken by {@link Writer.takeSubmitted}). @internal */
  submitted: Buffer[] = NO_BUFFERS
  /**
   * Bytes handed over by flushes and not yet confirmed written: the sum over the pending
   * flushes, each taken off when its own flush settles (not only when none is left: a
   * connection that always has a newer flush outstanding must not count sent bytes). @internal
   */
  inFlight = 0
  /** Bytes handed over by all flushes so far. @internal */
  flushedTotal = 0
  private seq = 0
  /** The sequence number of the last flush taken for a batched write. */
  private sentSeq = 0
  private flushes: PendingFlush[] = NO_FLUSHES

  /** @internal */
  constructor(private readonly owner: WriterOwner) {}

  private add(buf: Buffer): void {
    if (!this.owner.isOpen()) throw codeError('ERR_CONN_CLOSED', 'the connection is closed')
    if (this.owner.writeEnded) throw Object.assign(codeError('EPIPE', 'write after shutdownWrite()'), { syscall: 'write' })
    if (this.pending === NO_BUFFERS) this.pending = [buf]
    else this.pending.push(buf)
    this.pendingBytes += buf.length
    if (this.pendingBytes + this.inFlight > this.owner.maxOutput) {
      const e = codeError(
        'ERR_OUTPUT_LIMIT',
        `output queued on the connection would exceed ${this.owner.maxOutput} bytes`,
      )
      this.owner.overLimit(e)
      throw e
    }
  }

  /**
   * `n` writable bytes, zero-filled, that go out at the next flush with whatever you wrote
   * into them (write into the returned Buffer before calling `flush()`).
   */
  malloc(n: number): Buffer {
    const buf = Buffer.alloc(checkSize(n))
    this.add(buf)
    return buf
  }

  /** Bytes written (or malloc'd) since the last flush. */
  mallocLen(): number {
    return this.pendingBytes
  }

  /** Keeps only the first `n` bytes written since the last flush (shrinks; never grows). */
  mallocAck(n: number): void {
    checkSize(n)
    if (n > this.pendingBytes) {
      throw new RangeError(`mallocAck(${n}) exceeds the ${this.pendingBytes} bytes written since the last flush`)
    }
    let keep = n
    const kept: Buffer[] = []
    for (const b of this.pending) {
      if (keep === 0) break
      const part = b.length <= keep ? b : b.subarray(0, keep)
      kept.push(part)
      keep -= part.length
    }
    this.pending = kept
    this.pendingBytes = n
  }

  /** Appends `buf` by reference (no copy). */
  writeBinary(buf: Uint8Array): void {
    if (!(buf instanceof Uint8Array)) throw new TypeError('writeBinary expects a Buffer or Uint8Array')
    if (buf.length === 0) return
    this.add(Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length))
  }

  /** Appends a string, encoded (`utf8` by default). */
  writeString(s: string, encoding: BufferEncoding = 'utf8'): void {
    if (typeof s !== 'string') throw new TypeError('writeString expects a string')
    if (s.length > 0) this.add(Buffer.from(s, encoding))
  }

  /** Appends one byte (0–255). */
  writeByte(b: number): void {
    if (!Number.isInteger(b) || b < 0 || b > 255) throw new RangeError(`a byte is 0-255, got ${String(b)}`)
    this.add(Buffer.from([b]))
  }

  /**
   * netpoll's `WriteDirect`: inserts `buf` by reference before the last `remainLen` bytes
   * written since the last flush (e.g. a body between a malloc'd header and trailer).
   */
  writeDirect(buf: Uint8Array, remainLen: number): void {
    checkSize(remainLen, 'remainLen')
    if (remainLen > this.pendingBytes) {
      throw new RangeError(`remainLen ${remainLen} exceeds the ${this.pendingBytes} bytes written since the last flush`)
    }
    const tail: Buffer[] = []
    let left = remainLen
    while (left > 0) {
      const last = this.pending.pop() as Buffer
      if (last.length <= left) {
        tail.unshift(last)
        left -= last.length
      } else {
        this.pending.push(last.subarray(0, last.length - left))
        tail.unshift(last.subarray(last.length - left))
        left = 0
      }
    }
    this.pendingBytes -= remainLen
    this.writeBinary(buf)
    for (const t of tail) this.pending.push(t)
    this.pendingBytes += remainLen
  }

  /** Appends everything written to `other` since its last flush (moved, not copied). */
  append(other: Writer): void {
    for (const b of other.pending) this.add(b)
    other.pending = NO_BUFFERS
    other.pendingBytes = 0
  }

  /**
   * Sends what was written since the last flush. The bytes leave together with every other
   * flush of the same batch (one `writev` per connection); the Promise resolves when they
   * are handed to the kernel, or rejects (`ERR_CONN_CLOSED`, `EPIPE`, `ECONNRESET`,
   * `ERR_WRITE_TIMEOUT`, `ERR_OUTPUT_LIMIT`). Concurrent flushes are queued in order.
   */
  flush(): Promise<void> {
    if (!this.owner.isOpen()) return Promise.reject(codeError('ERR_CONN_CLOSED', 'the connection is closed'))
    if (this.pending.length === 0) {
      if (this.flushes.length === 0) return Promise.resolve()
      // Nothing new: settle together with the latest flush still in flight.
      const seq = this.seq
      return new Promise<void>((resolve, reject) => this.queueFlush({ seq, bytes: 0, resolve, reject }))
    }
    const bytes = this.submit()
    const seq = this.seq
    return new Promise<void>((resolve, reject) => this.queueFlush({ seq, bytes, resolve, reject }))
  }

  /**
   * Sends what was written since the last flush, as `flush()` does, without waiting: no
   * Promise, like `net`'s `socket.write`. The bytes leave with the batch's other flushes (one
   * `writev` per connection); a write that fails closes the connection, and its close
   * callbacks report the error. Throws `ERR_CONN_CLOSED` on a closed connection.
   */
  send(): void {
    if (!this.owner.isOpen()) throw codeError('ERR_CONN_CLOSED', 'the connection is closed')
    if (this.pending.length === 0) return
    const bytes = this.submit()
    this.queueFlush({ seq: this.seq, bytes, resolve: ignore, reject: ignore })
  }

  /**
   * Like `flush()` without a Promise: `callback` runs once the bytes were handed to the
   * kernel (no argument) or with the error that failed them. For the bridge's write
   * callbacks (no Promise per write). @internal
   */
  flushWith(callback: (error?: Error | null) => void): void {
    if (!this.owner.isOpen()) {
      callback(codeError('ERR_CONN_CLOSED', 'the connection is closed'))
      return
    }
    let bytes = 0
    if (this.pending.length > 0) bytes = this.submit()
    else if (this.flushes.length === 0) {
      callback()
      return
    }
    this.queueFlush({ seq: this.seq, bytes, resolve: callback, reject: callback })
  }

  /**
   * Moves what was written to the submitted list for the batched write under a new sequence
   * number; returns its byte count.
   */
  private submit(): number {
    const bytes = this.pendingBytes
    if (this.submitted === NO_BUFFERS) this.submitted = this.pending
    else for (const b of this.pending) this.submitted.push(b)
    this.inFlight += bytes
    this.flushedTotal += bytes
    this.pending = NO_BUFFERS
    this.pendingBytes = 0
    this.owner.scheduleFlush()
    ++this.seq
    return bytes
  }

  private queueFlush(f: PendingFlush): void {
    if (this.flushes === NO_FLUSHES) this.flushes = [f]
    else this.flushes.push(f)
  }

  /** The buffers flushed since the last batched write, taken for it. @internal */
  takeSubmitted(): Buffer[] {
    const out = this.submitted
    this.submitted = NO_BUFFERS
    this.sentSeq = this.seq
    return out
  }

  /** The sequence number the next batched write of this writer covers. @internal */
  get currentSeq(): number {
    return this.seq
  }

  /**
   * The kernel took everything up to flush `seq` (0: every flush handed to the native side
   * so far; flushes still waiting for the batched write are not covered). @internal
   */
  flushed(seq: number): void {
    const upTo = seq === 0 ? this.sentSeq : seq
    while (this.flushes.length > 0 && this.flushes[0].seq <= upTo) {
      const f = this.flushes.shift() as PendingFlush
      this.inFlight -= f.bytes
      f.resolve()
    }
    if (this.flushes.length === 0) this.flushes = NO_FLUSHES // let the array that grew go
  }

  /** The connection failed or closed: every waiting flush fails with `error` (`ERR_CONN_CLOSED` when null). @internal */
  fail(error: Error | null): void {
    this.pending = NO_BUFFERS
    this.submitted = NO_BUFFERS
    this.pendingBytes = 0
    this.inFlight = 0
    const flushes = this.flushes
    if (flushes.length === 0) return
    this.flushes = NO_FLUSHES
    // The default Error (its stack trace is costly) is made only when a flush fails with it.
    const e = error ?? codeError('ERR_CONN_CLOSED', 'the connection is closed')
    for (const f of flushes) f.reject(e)
  }
}

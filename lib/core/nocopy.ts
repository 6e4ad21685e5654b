/**
 * netpoll's nocopy interfaces (`nocopy.go` `Reader` and `Writer`), implemented by
 * {@link LinkBuffer} (synchronously) and, in their async form, by a connection's reader/writer.
 */

/** A value, or a Promise of it: a connection's reads wait for bytes, a LinkBuffer's never do. */
export type MaybePromise<T> = T | Promise<T>

/**
 * The reading side of netpoll's nocopy API (`nocopy.go` `Reader`): consumes readable bytes
 * from the front. {@link LinkBuffer} implements it synchronously (it never waits: asking for
 * more than `len()` throws); a connection's reader may return Promises that settle when
 * enough bytes arrived. Code written against this interface should `await` the results.
 * Exported from the package as `NocopyReader`.
 */
export interface Reader {
  /** Readable bytes. */
  len(): number
  /** Consumes and returns the next `n` bytes. */
  next(n: number): MaybePromise<Buffer>
  /** Returns the next `n` bytes without consuming them. */
  peek(n: number): MaybePromise<Buffer>
  /** Consumes the next `n` bytes. */
  skip(n: number): MaybePromise<void>
  /** Consumes and returns the bytes up to and including the first `delim`. */
  until(delim: number): MaybePromise<Buffer>
  /** Consumes the next `n` bytes and decodes them. */
  readString(n: number, encoding?: BufferEncoding): MaybePromise<string>
  /** Consumes the next `n` bytes and returns a copy. */
  readBinary(n: number): MaybePromise<Buffer>
  /** Consumes and returns the next byte. */
  readByte(): MaybePromise<number>
  /** Splits off the next `n` bytes as an independent reader. */
  slice(n: number): MaybePromise<Reader>
  /** Lets go of memory that is no longer needed. */
  release(): void
}

/**
 * The writing side of netpoll's nocopy API (`nocopy.go` `Writer`): appends pending bytes,
 * then flushes them. {@link LinkBuffer} implements it; a connection's writer flushes to the
 * socket (its `flush` returns a Promise). Exported from the package as `NocopyWriter`.
 */
export interface Writer {
  /** Reserves `n` pending bytes and returns them to be filled. */
  malloc(n: number): Buffer
  /** Pending bytes. */
  mallocLen(): number
  /** Keeps only the first `n` pending bytes. */
  mallocAck(n: number): void
  /** Appends a copy of `data`. */
  writeBinary(data: Uint8Array): void
  /** Appends the encoded bytes of `s`. */
  writeString(s: string, encoding?: BufferEncoding): void
  /** Appends one byte. */
  writeByte(byte: number): void
  /** Inserts `data` before the last `remainLen` pending bytes. */
  writeDirect(data: Uint8Array, remainLen: number): void
  /** Makes the pending bytes readable (for a connection: sends them). */
  flush(): MaybePromise<void>
}

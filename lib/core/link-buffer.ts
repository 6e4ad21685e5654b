/**
 * `LinkBuffer`: netpoll's nocopy buffer for JS, over the Rust core's chain of pooled chunks,
 * and the `Reader`/`Writer` interfaces that connections implement too.
 *
 * Units are bytes. A buffer has *readable* bytes (flushed, not yet consumed: {@link
 * LinkBuffer.len}) and *pending* bytes (written, not yet flushed: {@link LinkBuffer.mallocLen});
 * {@link LinkBuffer.flush} turns pending bytes into readable ones, in write order.
 *
 * Errors: sizes must be non-negative safe integers (`RangeError`, code `ERR_OUT_OF_RANGE`;
 * a non-number is a `TypeError`, code `ERR_INVALID_ARG_TYPE`); asking for more bytes than are
 * readable (or pending, for `mallocAck`/`writeDirect`) throws a `RangeError` with code
 * `ERR_BUFFER_OUT_OF_BOUNDS`; `until` without a delimiter throws an `Error` with code
 * `ERR_NOT_FOUND`. A method that throws changes nothing.
 */
import type { NativeLinkBuffer } from '../../binding'
import { native } from './native'
import type { Reader, Writer } from './nocopy'

/** Counters of the process-wide buffer pool the native LinkBuffers allocate from. */
export interface PoolStats {
  /** Bytes of pooled chunks in use: held by LinkBuffers or by Buffers viewing them. */
  bytesInUse: number
  /** Bytes of chunks waiting in the pool's free lists (bounded, 64 MiB by default). */
  bytesCached: number
  /**
   * Bytes the pool holds: `bytesInUse + bytesCached`. Once the engines have been quiet for a
   * second after a burst, the free lists are trimmed back to a floor (1 MiB by default), so
   * this falls back towards `bytesInUse` when the connections that needed the memory are gone.
   */
  bytesHeld: number
  /** Bytes freed from the free lists by those trims so far. */
  bytesTrimmed: number
  /** Chunk requests served from a free list (no allocation). */
  hits: number
  /** Chunk requests that allocated. */
  misses: number
}

/**
 * A snapshot of the global buffer pool's counters. `bytesInUse` falls only when chunks are
 * released *and* every Buffer viewing them was garbage-collected.
 */
export function poolStats(): PoolStats {
  const s = native.poolStats()
  return {
    bytesInUse: s.bytesInUse,
    bytesCached: s.bytesCached,
    bytesHeld: s.bytesHeld,
    bytesTrimmed: s.bytesTrimmed,
    hits: s.hits,
    misses: s.misses,
  }
}


type CodedError = Error & { code: string }

function coded<E extends Error>(err: E, code: string): E & { code: string } {
  return Object.assign(err, { code })
}

function checkSize(op: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number') {
    throw coded(
      new TypeError(`${op}: the "${name}" argument must be of type number. Received ${describe(value)}`),
      'ERR_INVALID_ARG_TYPE',
    )
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw coded(
      new RangeError(
        `${op}: the value of "${name}" is out of range. It must be an integer >= 0 and <= ` +
          `${Number.MAX_SAFE_INTEGER}. Received ${value}`,
      ),
      'ERR_OUT_OF_RANGE',
    )
  }
}

function checkByte(op: string, name: string, value: unknown, allowChar: boolean): number {
  if (allowChar && typeof value === 'string' && value.length === 1 && value.charCodeAt(0) < 256) {
    return value.charCodeAt(0)
  }
  if (typeof value !== 'number') {
    const expected = allowChar ? 'a byte (number) or a one-character string' : 'of type number'
    throw coded(
      new TypeError(`${op}: the "${name}" argument must be ${expected}. Received ${describe(value)}`),
      'ERR_INVALID_ARG_TYPE',
    )
  }
  if (!Number.isInteger(value) || value < 0 || value > 255) {
    throw coded(
      new RangeError(`${op}: the value of "${name}" is out of range. It must be an integer >= 0 and <= 255. Received ${value}`),
      'ERR_OUT_OF_RANGE',
    )
  }
  return value
}

function checkBytes(op: string, name: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw coded(
      new TypeError(`${op}: the "${name}" argument must be a Buffer or Uint8Array. Received ${describe(value)}`),
      'ERR_INVALID_ARG_TYPE',
    )
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`
  if (typeof value === 'string') return `type string (${JSON.stringify(value.slice(0, 20))})`
  return `type ${typeof value} (${String(value)})`
}

/**
 * Native errors carry a `code` and a message prefixed with the native method's name; this
 * names the public method `op` instead, and makes out-of-bounds errors `RangeError`s, as in
 * Node.
 */
function rethrow(e: unknown, op: string): never {
  if (!(e instanceof Error)) throw e
  const code = (e as Partial<CodedError>).code
  const message = e.message.replace(/^\w+:/, `${op}:`)
  if (code === 'ERR_BUFFER_OUT_OF_BOUNDS' || code === 'ERR_OUT_OF_RANGE') {
    throw coded(new RangeError(message), code)
  }
  if (message !== e.message) e.message = message
  throw e
}

/**
 * Reads of at most this many bytes are copied into a Buffer allocated in JS (for small sizes
 * `Buffer.allocUnsafe` slices Node's shared pool, far cheaper than a native allocation).
 */
const SMALL_READ = 4096

/** Set while `wrap` constructs a LinkBuffer around an existing native buffer. */
let adopting: NativeLinkBuffer | undefined

function wrap(inner: NativeLinkBuffer): LinkBuffer {
  adopting = inner
  try {
    return new LinkBuffer()
  } finally {
    adopting = undefined
  }
}

/**
 * netpoll's LinkBuffer: a byte queue over a chain of pooled native chunks, read without
 * copying where it can.
 *
 * Write with `malloc`/`writeBinary`/`writeString`/`writeByte`/`writeDirect`/`append`, make the
 * bytes readable with `flush`, read them with `next`/`peek`/`skip`/`until`/`readString`/
 * `readBinary`/`readByte`/`slice`, and give memory back with `release`.
 *
 * Buffers returned by reads are never invalidated: a copy (below 128 KiB, and always for
 * `peek` and `readBinary`) or a view that keeps its native chunk alive until the Buffer is
 * garbage-collected (`next`/`until` of 128 KiB or more, while such views pin less than
 * 64 MiB in total). They stay valid and unchanged after
 * `release()` and whatever is written later.
 *
 * A LinkBuffer is used from one thread (the JS thread); it is not safe to share across
 * worker threads.
 */
export class LinkBuffer implements Reader, Writer {
  readonly #native: NativeLinkBuffer
  /** Buffers returned by `malloc` that are not yet copied into the native buffer. */
  #mallocs: Buffer[] | null = null

  /** An empty buffer. Allocates nothing until the first write. */
  constructor() {
    this.#native = adopting ?? new native.NativeLinkBuffer()
    adopting = undefined
  }

  /** Copies the Buffers returned by `malloc` into the native buffer, in order. */
  #sync(): void {
    const mallocs = this.#mallocs
    if (mallocs !== null) {
      this.#mallocs = null
      for (const m of mallocs) this.#native.writeBinary(m)
    }
  }

  // ---- Reader ----

  /** Readable bytes: flushed and not yet consumed (pending bytes are not counted). */
  len(): number {
    return this.#native.len()
  }

  /** Whether no byte is readable (`len() === 0`); pending bytes may exist. */
  isEmpty(): boolean {
    return this.#native.isEmpty()
  }

  /**
   * Consumes and returns the next `n` readable bytes.
   *
   * The Buffer stays valid and unchanged for as long as it is referenced. Below 128 KiB it is
   * a copy (up to 4 KiB, a slice of Node's shared Buffer pool, like `Buffer.allocUnsafe`).
   * From 128 KiB it views the native chunk without copying and holds that chunk out of the
   * pool until the Buffer is garbage-collected and its finalizer has run (after the current
   * macrotask); such views pin at most 64 MiB process-wide, past which they are copies too.
   * Writing into the Buffer changes nothing else.
   * @throws RangeError `ERR_OUT_OF_RANGE` if `n` is not a non-negative safe integer,
   *   `ERR_BUFFER_OUT_OF_BOUNDS` if `n > len()`.
   */
  next(n: number): Buffer {
    checkSize('next', 'n', n)
    this.#sync()
    try {
      if (n <= SMALL_READ) {
        const out = Buffer.allocUnsafe(n)
        this.#native.readInto(out)
        return out
      }
      return this.#native.next(n)
    } catch (e) {
      rethrow(e, 'next')
    }
  }

  /**
   * Returns a copy of the next `n` readable bytes without consuming them.
   * @throws RangeError as {@link LinkBuffer.next}.
   */
  peek(n: number): Buffer {
    checkSize('peek', 'n', n)
    this.#sync()
    try {
      if (n <= SMALL_READ) {
        const out = Buffer.allocUnsafe(n)
        this.#native.peekInto(out)
        return out
      }
      return this.#native.peek(n)
    } catch (e) {
      rethrow(e, 'peek')
    }
  }

  /**
   * Consumes the next `n` readable bytes without returning them.
   * @throws RangeError as {@link LinkBuffer.next}.
   */
  skip(n: number): void {
    checkSize('skip', 'n', n)
    this.#sync()
    try {
      this.#native.skip(n)
    } catch (e) {
      rethrow(e, 'skip')
    }
  }

  /**
   * Consumes and returns the readable bytes up to and including the first `delim` (a byte
   * value, or a one-character string such as `'\n'`). Same validity as {@link LinkBuffer.next}.
   * @throws Error `ERR_NOT_FOUND` (consuming nothing) if no readable byte equals `delim`.
   * @throws RangeError `ERR_OUT_OF_RANGE` if `delim` is not a byte.
   */
  until(delim: number | string): Buffer {
    const byte = checkByte('until', 'delim', delim, true)
    this.#sync()
    try {
      return this.#native.until(byte)
    } catch (e) {
      rethrow(e, 'until')
    }
  }

  /**
   * Consumes the next `n` readable bytes and decodes them with `encoding` (default
   * `'utf8'`), like `buf.toString(encoding)`: invalid UTF-8 becomes U+FFFD. `n` counts bytes,
   * not characters.
   * @throws RangeError as {@link LinkBuffer.next}; TypeError `ERR_UNKNOWN_ENCODING`.
   */
  readString(n: number, encoding: BufferEncoding = 'utf8'): string {
    checkSize('readString', 'n', n)
    if (encoding === 'utf8' || encoding === 'utf-8') {
      this.#sync()
      try {
        return this.#native.readString(n)
      } catch (e) {
        rethrow(e, 'readString')
      }
    }
    if (!Buffer.isEncoding(encoding)) {
      throw coded(new TypeError(`readString: unknown encoding: ${String(encoding)}`), 'ERR_UNKNOWN_ENCODING')
    }
    try {
      return this.readBinary(n).toString(encoding)
    } catch (e) {
      rethrow(e, 'readString')
    }
  }

  /**
   * Consumes the next `n` readable bytes and returns them in a new Buffer (always a copy).
   * @throws RangeError as {@link LinkBuffer.next}.
   */
  readBinary(n: number): Buffer {
    checkSize('readBinary', 'n', n)
    this.#sync()
    try {
      if (n <= SMALL_READ) {
        const out = Buffer.allocUnsafe(n)
        this.#native.readInto(out)
        return out
      }
      return this.#native.readBinary(n)
    } catch (e) {
      rethrow(e, 'readBinary')
    }
  }

  /**
   * Consumes and returns the next readable byte (0–255).
   * @throws RangeError `ERR_BUFFER_OUT_OF_BOUNDS` if nothing is readable.
   */
  readByte(): number {
    this.#sync()
    try {
      return this.#native.readByte()
    } catch (e) {
      rethrow(e, 'readByte')
    }
  }

  /**
   * Splits off the next `n` readable bytes as a new, independent LinkBuffer without copying,
   * and consumes them from this one. The new buffer has `len() === n` and nothing pending;
   * reading, writing or releasing either never affects the other.
   * @throws RangeError as {@link LinkBuffer.next}.
   */
  slice(n: number): LinkBuffer {
    checkSize('slice', 'n', n)
    this.#sync()
    try {
      return wrap(this.#native.slice(n))
    } catch (e) {
      rethrow(e, 'slice')
    }
  }

  /**
   * Gives memory back to the pool: consumed chunks (already dropped by the reads), and, when
   * nothing is readable or pending, the chunk kept for the next write. Buffers returned
   * earlier stay valid and unchanged (unlike netpoll's `Release`).
   */
  release(): void {
    this.#sync()
    this.#native.release()
  }

  // ---- Writer ----

  /**
   * Reserves `n` pending bytes and returns them as a fresh zero-filled Buffer to fill in
   * place. The Buffer is copied into this LinkBuffer at the next call on it (any method), in
   * order with the other writes: fill it before that; later changes to it are ignored. Bytes
   * left unfilled are zeros; `mallocAck` can drop them.
   * @throws RangeError `ERR_OUT_OF_RANGE` if `n` is not a non-negative safe integer.
   */
  malloc(n: number): Buffer {
    checkSize('malloc', 'n', n)
    const buf = Buffer.alloc(n)
    if (n > 0) {
      if (this.#mallocs === null) this.#mallocs = [buf]
      else this.#mallocs.push(buf)
    }
    return buf
  }

  /** Pending bytes: written or malloc'd and not yet flushed. */
  mallocLen(): number {
    this.#sync()
    return this.#native.mallocLen()
  }

  /**
   * Keeps only the first `n` pending bytes and discards the rest (netpoll's `MallocAck`).
   * Readable bytes are not affected.
   * @throws RangeError `ERR_OUT_OF_RANGE` for a bad `n`, `ERR_BUFFER_OUT_OF_BOUNDS` if
   *   `n > mallocLen()`.
   */
  mallocAck(n: number): void {
    checkSize('mallocAck', 'n', n)
    this.#sync()
    try {
      this.#native.mallocAck(n)
    } catch (e) {
      rethrow(e, 'mallocAck')
    }
  }

  /**
   * Appends a copy of `data` as pending bytes.
   * @throws TypeError `ERR_INVALID_ARG_TYPE` if `data` is not a Uint8Array/Buffer.
   */
  writeBinary(data: Uint8Array): void {
    checkBytes('writeBinary', 'data', data)
    this.#sync()
    this.#native.writeBinary(data)
  }

  /**
   * Appends `s` encoded with `encoding` (default `'utf8'`) as pending bytes.
   * @throws TypeError `ERR_INVALID_ARG_TYPE` if `s` is not a string, `ERR_UNKNOWN_ENCODING`.
   */
  writeString(s: string, encoding: BufferEncoding = 'utf8'): void {
    if (typeof s !== 'string') {
      throw coded(
        new TypeError(`writeString: the "s" argument must be of type string. Received ${describe(s)}`),
        'ERR_INVALID_ARG_TYPE',
      )
    }
    this.#sync()
    if (encoding === 'utf8' || encoding === 'utf-8') {
      this.#native.writeString(s)
    } else if (Buffer.isEncoding(encoding)) {
      this.#native.writeBinary(Buffer.from(s, encoding))
    } else {
      throw coded(new TypeError(`writeString: unknown encoding: ${String(encoding)}`), 'ERR_UNKNOWN_ENCODING')
    }
  }

  /**
   * Appends one pending byte.
   * @throws RangeError `ERR_OUT_OF_RANGE` unless `byte` is an integer 0–255.
   */
  writeByte(byte: number): void {
    const b = checkByte('writeByte', 'byte', byte, false)
    this.#sync()
    this.#native.writeByte(b)
  }

  /**
   * netpoll's `WriteDirect`: inserts `data` before the last `remainLen` pending bytes.
   * Typical use: `malloc` a header and a trailer, then put a body between them with
   * `writeDirect(body, trailerLength)`. From JS, `data` is copied (JS memory can change or be
   * detached at any time); the nocopy form exists in the Rust core.
   * @throws RangeError `ERR_OUT_OF_RANGE` for a bad `remainLen`, `ERR_BUFFER_OUT_OF_BOUNDS`
   *   if `remainLen > mallocLen()`; TypeError if `data` is not a Uint8Array.
   */
  writeDirect(data: Uint8Array, remainLen: number): void {
    checkBytes('writeDirect', 'data', data)
    checkSize('writeDirect', 'remainLen', remainLen)
    this.#sync()
    try {
      this.#native.writeDirect(data, remainLen)
    } catch (e) {
      rethrow(e, 'writeDirect')
    }
  }

  /**
   * netpoll's `Append`: moves all of `other`'s bytes (readable, then pending) to the end of
   * this buffer as pending bytes, without copying. `other` is left empty and usable.
   * @throws TypeError `ERR_INVALID_ARG_TYPE` if `other` is not a LinkBuffer; Error
   *   `ERR_INVALID_ARG_VALUE` if `other` is this buffer.
   */
  append(other: LinkBuffer): void {
    if (!(other instanceof LinkBuffer)) {
      throw coded(
        new TypeError(`append: the "other" argument must be a LinkBuffer. Received ${describe(other)}`),
        'ERR_INVALID_ARG_TYPE',
      )
    }
    if (other === this) {
      throw coded(new Error('append: cannot append a LinkBuffer to itself'), 'ERR_INVALID_ARG_VALUE')
    }
    other.#sync()
    this.#sync()
    this.#native.append(other.#native)
  }

  /** Makes every pending byte readable, in write order: `len()` grows by `mallocLen()`. */
  flush(): void {
    this.#sync()
    this.#native.flush()
  }
}

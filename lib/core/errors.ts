/**
 * Errors: every failure is a JS `Error` with Node-style fields (`code`, `errno`, `syscall`,
 * `address`, `port`). Codes are Node's (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`,
 * `EADDRINUSE`, `EPIPE`, …) or ours: `ERR_CONN_CLOSED`, `ERR_READ_TIMEOUT`,
 * `ERR_WRITE_TIMEOUT`, `ERR_IDLE_TIMEOUT`, `ERR_FRAME_TOO_LARGE`, `ERR_OUTPUT_LIMIT`,
 * `ERR_UNSUPPORTED_PLATFORM`, `ERR_INVALID_ADDRESS`, `ERR_SHUTDOWN`.
 */

/** An error of this library: an `Error` with Node-style fields. */
export interface NetpollError extends Error {
  /** Node-style error code, e.g. `ECONNREFUSED` or `ERR_CONN_CLOSED`. */
  code: string
  /** Negative errno, as in Node, when the OS reported the error. */
  errno?: number
  /** The system call that failed, when the OS reported the error. */
  syscall?: string
  /** The address involved (IP or socket path), when there is one. */
  address?: string
  /** The port involved, when there is one. */
  port?: number
}

/** The fields of an error as the native layer reports them. @internal */
export interface ErrorFields {
  code: string
  message: string
  errno?: number
  syscall?: string
  address?: string
  port?: number
}

/** Builds a {@link NetpollError}. @internal */
export function netError(fields: ErrorFields): NetpollError {
  const err = new Error(fields.message) as NetpollError
  err.code = fields.code
  if (fields.errno !== undefined) err.errno = fields.errno
  if (fields.syscall !== undefined) err.syscall = fields.syscall
  if (fields.address !== undefined) err.address = fields.address
  if (fields.port !== undefined) err.port = fields.port
  return err
}

/** An error with one of our codes and a message. @internal */
export function codeError(code: string, message: string): NetpollError {
  return netError({ code, message })
}

const NATIVE_PREFIX = 'netpoll:'

/**
 * Turns an error thrown by the native layer into a {@link NetpollError} (the native layer
 * encodes the fields as JSON after a `netpoll:` prefix); other errors pass through.
 * @internal
 */
export function fromNative(e: unknown): unknown {
  if (e instanceof Error && e.message.startsWith(NATIVE_PREFIX)) {
    try {
      return netError(JSON.parse(e.message.slice(NATIVE_PREFIX.length)) as ErrorFields)
    } catch {
      return e // not one of ours after all: keep it as it is
    }
  }
  return e
}

/** Runs a native call, rethrowing its errors as {@link NetpollError}s. @internal */
export function native<T>(call: () => T): T {
  try {
    return call()
  } catch (e) {
    throw fromNative(e)
  }
}

/** Checks a byte count: a non-negative integer, else a `RangeError` `ERR_OUT_OF_RANGE`. @internal */
export function checkSize(n: unknown, what = 'n'): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    const err = new RangeError(`${what} must be a non-negative integer, got ${String(n)}`) as RangeError & {
      code: string
    }
    err.code = 'ERR_OUT_OF_RANGE'
    throw err
  }
  return n
}

/** Validates a timeout in ms (a non-negative finite number; fractions are dropped). */
export function checkMs(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`a timeout is a non-negative number of ms, got ${String(ms)}`)
  }
  return Math.floor(ms)
}

/**
 * An error from an internal failure (a Rust panic caught at the native boundary becomes a JS
 * Error): code `ERR_INTERNAL`, the original as `cause`. Our own coded errors pass through.
 * @internal
 */
export function internalError(e: unknown): NetpollError {
  const n = fromNative(e)
  if (n !== e) return n as NetpollError // one of ours, with its own code
  const err = codeError('ERR_INTERNAL', `netpoll internal error: ${e instanceof Error ? e.message : String(e)}`)
  err.cause = e
  return err
}

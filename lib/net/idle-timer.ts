/**
 * The inactivity timer behind `Socket.setTimeout()`: `'timeout'` is emitted after `ms`
 * without a byte read or written; the socket stays open (as with `net`). Activity only
 * stores a timestamp (no timer call per chunk); the one timer per socket re-arms itself for
 * the time left when it fires early, and after a `'timeout'` the next activity arms it again.
 * Setting the timeout is lazy too: `set(0)` leaves an armed timer to find nothing to do when
 * it fires, and `set(ms)` re-arms only when the armed timer would fire too late. node:http
 * sets `keepAliveTimeout` after each response and 0 when the next request starts: with
 * eager timers that was a `setTimeout` and a `clearTimeout` per request.
 * @internal
 */
import type { EventEmitter } from 'node:events'

/** Throws net's `ERR_OUT_OF_RANGE` / `ERR_INVALID_ARG_TYPE` for a bad timeout. */
export function checkTimeout(ms: unknown): asserts ms is number {
  if (typeof ms !== 'number') {
    throw Object.assign(new TypeError(`The "msecs" argument must be of type number. Received ${typeof ms}`), {
      code: 'ERR_INVALID_ARG_TYPE',
    })
  }
  if (!Number.isFinite(ms) || ms < 0) {
    throw Object.assign(new RangeError(`The value of "msecs" is out of range. It must be a non-negative finite number. Received ${ms}`), {
      code: 'ERR_OUT_OF_RANGE',
    })
  }
}

export class IdleTimer {
  private ms = 0
  private last = 0
  /** When the armed timer fires (ms since the epoch). */
  private due = 0
  private timer: NodeJS.Timeout | null = null
  private readonly fire = (): void => this.onTimer()

  constructor(private readonly target: EventEmitter) {}

  /** Arms for `ms` of inactivity from now (0 disarms). */
  set(ms: number): void {
    this.ms = Math.floor(ms)
    if (this.ms === 0) return // an armed timer finds ms 0 when it fires
    this.last = Date.now()
    if (this.timer !== null && this.due <= this.last + this.ms) return // it re-arms for the rest
    this.stop()
    this.arm(this.ms)
  }

  /** Bytes moved: the inactivity period starts again. */
  touch(): void {
    if (this.ms === 0) return
    this.last = Date.now()
    if (this.timer === null) this.arm(this.ms)
  }

  /** Disarms (the socket closed). */
  stop(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
  }

  private arm(ms: number): void {
    // Like net's, the timer does not keep the process alive.
    this.due = Date.now() + ms
    this.timer = setTimeout(this.fire, ms).unref()
  }

  private onTimer(): void {
    this.timer = null
    if (this.ms === 0) return // disarmed since it was armed
    const left = this.last + this.ms - Date.now()
    if (left > 0) {
      this.arm(left)
      return
    }
    this.target.emit('timeout')
  }
}

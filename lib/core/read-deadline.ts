/**
 * A connection's read deadline (see `Connection.setReadTimeout`): the timeout, when the read
 * that waits started to wait, and whether the native read timer is armed. The deadline lives
 * in JS, so the hot path of synchronous reads pays one clock read per started wait: the native
 * timer is armed only when none is, never cancelled when a read is served, and checked when it
 * fires (re-armed for the time left if the read waiting then started later).
 * @internal
 */
// `performance` is Node's global: `node:perf_hooks` (~0.3 MB of RSS) then loads only once a
// read timeout is used.

/** Arms (`ms` > 0) or cancels (0) the native read timer of a connection. @internal */
export interface ReadTimerOwner {
  setReadTimer(ms: number): void
}

/** @internal */
export class ReadDeadline {
  /** The read timeout in ms (0: none). */
  ms = 0
  /** When the waiting read started to wait (`performance.now()`). */
  private since = 0
  /** Whether the native timer is armed (it may be for an earlier wait). */
  private armed = false

  /** A read came back short with none waiting: its deadline starts now. */
  started(owner: ReadTimerOwner): void {
    if (this.ms === 0) return
    this.since = performance.now()
    if (!this.armed) this.arm(owner, this.ms)
  }

  /** A new timeout; a read already `waiting` gets it counted from now. */
  set(ms: number, waiting: boolean, owner: ReadTimerOwner): void {
    this.ms = ms
    if (ms > 0 && waiting) {
      this.since = performance.now()
      this.arm(owner, ms) // replaces a timer armed for another timeout
    } else if (this.armed) {
      this.armed = false
      owner.setReadTimer(0)
    }
  }

  /**
   * The native timer fired: whether the deadline of the read `waiting` now has passed. When it
   * lies ahead, the timer is armed again for the time left.
   */
  fired(waiting: boolean, owner: ReadTimerOwner): boolean {
    this.armed = false
    if (this.ms === 0 || !waiting) return false
    const left = this.since + this.ms - performance.now()
    if (left <= 0) return true
    this.arm(owner, Math.ceil(left))
    return false
  }

  private arm(owner: ReadTimerOwner, ms: number): void {
    this.armed = true
    owner.setReadTimer(ms)
  }
}

// What a TLS failure must leave behind: nothing. A baseline of descriptors (/proc/self/fd),
// engine connections and timers, and the buffer pool's bytes in use, and a bounded wait until
// all are back to it.
import { readdirSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { poolStats, stats } from '../../index'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** The counters a failure must not raise. */
export interface Usage {
  fds: number
  connections: number
  timers: number
  poolBytes: number
}

/** The counters now (after a GC, so that released pool chunks are counted as free). */
export function usage(): Usage {
  gc()
  const s = stats()
  return { fds: readdirSync('/proc/self/fd').length, connections: s.connections, timers: s.timers, poolBytes: poolStats().bytesInUse }
}

/**
 * Waits (≤ `ms`) until every counter is at most `base`'s (pool bytes: plus `slack`, the
 * chunks a still-open test socket may hold); returns the last reading for the message.
 */
export async function backTo(base: Usage, ms = 10_000, slack = 0): Promise<{ ok: boolean; now: Usage }> {
  const deadline = Date.now() + ms
  let now = usage()
  while (Date.now() < deadline) {
    now = usage()
    if (now.fds <= base.fds && now.connections <= base.connections && now.timers <= base.timers && now.poolBytes <= base.poolBytes + slack) {
      return { ok: true, now }
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return { ok: false, now }
}

// setTimeout re-set in sequence (what node:http does per keep-alive request: the
// keepAliveTimeout after a response, 0 when the next request starts): the bridge's lazy
// inactivity timer must behave as net's eager one. Each sequence runs on a net.Socket and on a
// netpoll Socket against the same kind of peer. Timers never fire early, so the lower bounds
// hold on a loaded machine; the upper bounds are generous.
import test from 'ava'
import * as net from 'node:net'
import type { Duplex } from 'node:stream'
import { connect } from '../../index'
import { peer } from './scenarios'

type Timed = Duplex & { setTimeout(ms: number, cb?: () => void): unknown }
const impls: [string, (port: number) => Timed][] = [
  ['net', (port) => net.connect({ port, host: '127.0.0.1' })],
  ['netpoll', (port) => connect({ port, host: '127.0.0.1' }) as unknown as Timed],
]

/** Connects, runs `script`, and resolves with the ms from the script's start to each 'timeout' seen within `watchMs`. */
async function timeouts(make: (port: number) => Timed, script: (s: Timed) => void, watchMs: number): Promise<number[]> {
  const { port, server } = await peer({}, () => {})
  const s = make(port)
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve)
      s.once('error', reject)
    })
    const fired: number[] = []
    const start = Date.now()
    s.on('timeout', () => fired.push(Date.now() - start))
    script(s)
    await new Promise((r) => setTimeout(r, watchMs))
    return fired
  } finally {
    s.destroy()
    server.close()
  }
}

for (const [name, make] of impls) {
  test(`${name}: a shorter timeout set after a longer one fires at the shorter`, async (t) => {
    const fired = await timeouts(make, (s) => {
      s.setTimeout(5000)
      s.setTimeout(150)
    }, 3000)
    t.is(fired.length, 1)
    t.true(fired[0] >= 140 && fired[0] < 2900, `fired after ${fired[0]} ms`)
  })

  test(`${name}: setTimeout(0) disarms a timeout already armed`, async (t) => {
    const fired = await timeouts(make, (s) => {
      s.setTimeout(150)
      s.setTimeout(0)
    }, 600)
    t.deepEqual(fired, [])
  })

  test(`${name}: disarmed then set longer: fires at the longer, once`, async (t) => {
    const fired = await timeouts(make, (s) => {
      s.setTimeout(150)
      s.setTimeout(0)
      s.setTimeout(600)
    }, 3000)
    t.is(fired.length, 1)
    t.true(fired[0] >= 590 && fired[0] < 2900, `fired after ${fired[0]} ms`)
  })
}

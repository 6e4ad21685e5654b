// The read timeout is a deadline on every read path (issue 13 §1, RELIABILITY R7): a read
// that comes back short — a synchronous tryPeekUInt32BE/tryNext returning null, or an awaited
// next(n) that must wait — starts it; bytes arriving meanwhile do not move it; taking the
// wanted bytes meets it. Slowloris peers (a silent half-frame, a one-byte drip) are cut within
// readTimeout + 10 % of the deadline's start, with ERR_READ_TIMEOUT reported to onError and
// the close callbacks, while a well-behaved client beside them is served; a frame completed in
// time is not cut; dialed connections behave the same; and the echo-server examples' own
// --read-timeout does it too. Runs in the engine of NETPOLL_MODE.
import test from 'ava'
import * as net from 'node:net'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Connection, createListener, dial, EventLoop, NetpollError } from '../index'
import { EXAMPLES, spawnLine, stop } from './client/helpers'
import { frame, framedEcho, netConnect, readExactly, until } from './helpers'

/** The read timeout: large enough that a loaded 2-core machine does not make it flake. */
const RT = 1200
/** Lateness allowed past a deadline: 10 %, plus a timer tick and a turn of a busy loop. */
const LATE = RT * 0.1 + 25
const PEERS = 50
/** A 4-byte length prefix declaring 1000 bytes. */
const PREFIX = Buffer.from([0, 0, 0x03, 0xe8])

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Takes every whole frame buffered with the synchronous reads, as examples/echo-server.js. */
function syncEcho(conn: Connection): void {
  const r = conn.reader
  for (;;) {
    const n = r.tryPeekUInt32BE()
    if (n === null) return
    const f = r.tryNext(4 + n)
    if (f === null) return
    conn.writer.writeBinary(Buffer.from(f))
    conn.writer.flush().catch(() => {})
  }
}

type Handler = (conn: Connection) => void | Promise<void>
const HANDLERS: Array<[string, Handler]> = [
  ['sync (tryPeekUInt32BE/tryNext)', syncEcho],
  ['async (await reader.next)', framedEcho],
]

/** A server with the read timeout; records when each connection's handler first ran and when it closed. */
async function deadlineServer(handler: Handler) {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const firstRun = new Map<Connection, number>()
  const closes = new Map<Connection, { code: string | null; at: number }>()
  const errors: Array<string | undefined> = []
  const loop = new EventLoop(
    (conn) => {
      if (!firstRun.has(conn)) firstRun.set(conn, performance.now())
      return handler(conn)
    },
    {
      readTimeout: RT,
      onError: (e) => errors.push((e as NetpollError).code),
      onPrepare: (c) => c.addCloseCallback((conn, e) => closes.set(conn, { code: e?.code ?? null, at: performance.now() })),
    },
  )
  loop.serve(ln)
  return { loop, port: ln.address.port!, firstRun, closes, errors }
}

/** Round trips on `s` every `every` ms until `done()` (or 3 × RT); resolves with how many were answered. */
async function wellBehaved(s: net.Socket, done: () => boolean, every: number): Promise<number> {
  let answered = 0
  const end = performance.now() + 3 * RT
  for (let i = 0; !done() && performance.now() < end; i++) {
    const f = frame(Buffer.from(`request ${i}`))
    s.write(f)
    if (!(await readExactly(s, f.length, 5000)).equals(f)) throw new Error(`answer ${i} differs`)
    answered++
    await sleep(every)
  }
  return answered
}

const ATTACKS = {
  'a silent half-frame (4-byte prefix declaring 1000 bytes, 5 bytes, silence)': { first: Buffer.concat([PREFIX, Buffer.alloc(5)]), drip: false },
  'a one-byte drip (one byte every readTimeout/4)': { first: Buffer.concat([PREFIX, Buffer.alloc(1)]), drip: true },
}

for (const [attackName, attack] of Object.entries(ATTACKS)) {
  for (const [handlerName, handler] of HANDLERS) {
    test.serial(`${PEERS} peers sending ${attackName} to a ${handlerName} handler are closed within readTimeout + 10 % with ERR_READ_TIMEOUT; a well-behaved client is served`, async (t) => {
      t.timeout(30_000)
      const srv = await deadlineServer(handler)
      const healthy = await netConnect({ host: '127.0.0.1', port: srv.port })
      const peers = await Promise.all(Array.from({ length: PEERS }, () => netConnect({ host: '127.0.0.1', port: srv.port })))
      let peersClosed = 0
      for (const s of peers) {
        s.on('error', () => {})
        s.on('close', () => peersClosed++)
        s.write(attack.first)
      }
      const drip = attack.drip
        ? setInterval(() => {
            for (const s of peers) if (!s.destroyed) s.write(Buffer.alloc(1))
          }, RT / 4)
        : null
      const cut = (): number => [...srv.closes.values()].filter((c) => c.code === 'ERR_READ_TIMEOUT').length
      try {
        const answered = await wellBehaved(healthy, () => cut() >= PEERS, RT / 8)
        await until(() => cut() >= PEERS && peersClosed === PEERS, 3 * RT)
        t.true(answered >= 4, `the well-behaved client was answered ${answered} times meanwhile`)
      } finally {
        if (drip) clearInterval(drip)
      }
      t.is(srv.closes.size, PEERS, 'only the attackers were closed')
      t.is(srv.errors.filter((c) => c === 'ERR_READ_TIMEOUT').length, PEERS, 'onError saw each one')
      const stats = srv.loop.stats()
      t.is(stats.closedWithError, PEERS)
      // A synchronous read's timeout is no handler error; an awaited one rejects the handler.
      t.is(stats.handlerErrors, handler === syncEcho ? 0 : PEERS)
      // From the deadline's start (the first handler call, where the first read came back short).
      const late: number[] = []
      for (const [conn, c] of srv.closes) {
        const after = c.at - srv.firstRun.get(conn)!
        if (after < RT - 1 || after > RT + LATE) late.push(Math.round(after))
      }
      t.deepEqual(late, [], `closed outside [${RT}, ${RT + LATE}] ms after the deadline started`)
      t.is(srv.loop.connections, 1, 'the well-behaved client is still open')
      healthy.write(frame(Buffer.from('still served')))
      t.is((await readExactly(healthy, 16)).subarray(4).toString(), 'still served')
      healthy.destroy()
      await srv.loop.shutdown({ timeout: 1000 })
    })
  }
}

for (const [handlerName, handler] of HANDLERS) {
  test.serial(`a frame completed in time is not cut (${handlerName}): taking the wanted bytes meets the deadline`, async (t) => {
    t.timeout(30_000)
    const srv = await deadlineServer(handler)
    const s = await netConnect({ host: '127.0.0.1', port: srv.port })
    const whole = frame(Buffer.alloc(1000, 7))
    // Half a frame, the rest at 0.6 × RT, then whole frames at 1.2 and 1.8 × RT. A deadline not
    // met by taking the bytes would cut it at RT; each later wait (the synchronous handler
    // asks for the next length as soon as it took a frame) has a deadline of its own.
    s.write(whole.subarray(0, 9))
    await sleep(RT * 0.6)
    s.write(whole.subarray(9))
    t.true((await readExactly(s, whole.length)).equals(whole))
    for (const at of [1.2, 1.8]) {
      await sleep(RT * 0.6)
      s.write(whole)
      t.true((await readExactly(s, whole.length)).equals(whole), `the frame sent at ${at} × RT`)
    }
    t.is(srv.closes.size, 0, 'no connection was closed')
    t.deepEqual(srv.errors, [])
    t.is(srv.loop.connections, 1)
    s.destroy()
    await srv.loop.shutdown({ timeout: 1000 })
  })
}

test.serial('dialed connections: a synchronous read left short is closed by the deadline, a drip does not hold it', async (t) => {
  t.timeout(30_000)
  const drips: NodeJS.Timeout[] = []
  // The peer sends a half frame to each client and then drips one byte every RT/4 to the first.
  let accepted = 0
  const server = net.createServer((s) => {
    s.on('error', () => {})
    s.write(Buffer.concat([PREFIX, Buffer.alloc(3)]))
    if (accepted++ === 0) drips.push(setInterval(() => !s.destroyed && s.write(Buffer.alloc(1)), RT / 4))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`
  try {
    const closes: Array<{ code: string | null; after: number }> = []
    const clients: Connection[] = []
    for (let i = 0; i < 2; i++) {
      const c = await dial('tcp', address)
      c.setReadTimeout(RT)
      let started = 0
      c.addCloseCallback((_c, e) => closes.push({ code: e?.code ?? null, after: performance.now() - started }))
      // The first has a synchronous handler; the second reads once, without a handler.
      if (i === 0) {
        c.setOnRequest((conn) => {
          if (started === 0) started = performance.now()
          syncEcho(conn)
        })
      } else {
        started = performance.now()
        t.is(c.reader.tryNext(4 + 1000), null) // the frame is not whole (its first bytes may be here): the deadline starts
      }
      clients.push(c)
    }
    await until(() => closes.length === 2, 3 * RT)
    for (const c of closes) {
      t.is(c.code, 'ERR_READ_TIMEOUT')
      t.true(c.after >= RT - 1 && c.after <= RT + LATE, `closed ${Math.round(c.after)} ms after the deadline started`)
    }
    t.false(clients.some((c) => c.isActive()))
  } finally {
    for (const d of drips) clearInterval(d)
    server.close()
  }
})

test.serial('an awaited read past its deadline rejects and the connection stays open; a later synchronous want closes it', async (t) => {
  t.timeout(20_000)
  let peer: net.Socket | null = null
  const server = net.createServer((s) => (peer = s))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  try {
    const c = await dial('tcp', `127.0.0.1:${(server.address() as net.AddressInfo).port}`)
    const short = 300
    c.setReadTimeout(short)
    let closedWith: string | null | undefined
    c.addCloseCallback((_c, e) => (closedWith = e?.code ?? null))
    const e = await t.throwsAsync<NetpollError>(c.reader.next(4))
    t.is(e?.code, 'ERR_READ_TIMEOUT')
    await sleep(short * 1.5) // the deadline is over: no second expiry closes it
    t.true(c.isActive())
    t.is(closedWith, undefined)
    await until(() => peer !== null)
    ;(peer as unknown as net.Socket).write('ab')
    await until(() => c.reader.len() === 2)
    const since = performance.now()
    t.is(c.reader.tryNext(4), null)
    await until(() => closedWith !== undefined, 10 * short)
    t.is(closedWith, 'ERR_READ_TIMEOUT')
    t.true(performance.now() - since >= short - 1)
  } finally {
    ;(peer as net.Socket | null)?.destroy()
    server.close()
  }
})

for (const example of ['echo-server.js', 'net-echo-server.js']) {
  test.serial(`${example} --read-timeout closes slowloris peers in both protocols and keeps serving the others`, async (t) => {
    t.timeout(40_000)
    for (const protocol of ['framed', 'raw']) {
      const { child, line } = await spawnLine([join(EXAMPLES, example), '--listen', 'tcp://127.0.0.1:0', '--protocol', protocol, '--read-timeout', String(RT)])
      try {
        const port = Number(line.split(':').pop())
        // framed: silent half-frames and drips, timed from the connect (the first frame is
        // wanted from then); raw: peers silent after one echo, timed from their request.
        const peers: Array<{ s: net.Socket; start: number; closedAfter: number }> = []
        const connectPeer = async (first: Buffer): Promise<void> => {
          const start = performance.now()
          const s = await netConnect({ host: '127.0.0.1', port })
          const p = { s, start, closedAfter: -1 }
          s.on('error', () => {})
          s.on('close', () => (p.closedAfter = performance.now() - p.start))
          // raw: the server waits for the next bytes from when it took these.
          if (protocol === 'raw') p.start = performance.now()
          s.write(first)
          if (protocol === 'raw') await readExactly(s, 5)
          peers.push(p)
        }
        const n = 20
        if (protocol === 'framed') {
          await Promise.all(Array.from({ length: n }, (_, i) => connectPeer(Buffer.concat([PREFIX, Buffer.alloc(i % 2 === 0 ? 5 : 1)]))))
        } else {
          await Promise.all(Array.from({ length: n }, () => connectPeer(Buffer.from('hello'))))
        }
        const drip = setInterval(() => {
          if (protocol === 'framed') for (let i = 1; i < n; i += 2) if (!peers[i].s.destroyed) peers[i].s.write(Buffer.alloc(1))
        }, RT / 4)
        const healthy = await netConnect({ host: '127.0.0.1', port })
        let answered = 0
        try {
          answered = await wellBehaved(healthy, () => peers.every((p) => p.closedAfter >= 0), RT / 8)
          await until(() => peers.every((p) => p.closedAfter >= 0), 3 * RT)
        } finally {
          clearInterval(drip)
        }
        t.true(answered >= 4, `${protocol}: the well-behaved client was answered ${answered} times`)
        // The server's deadline starts after the client's connect (or echo) began: a little
        // later, never earlier; the close then crosses to this process.
        const outside = peers.filter((p) => p.closedAfter < RT - 1 || p.closedAfter > RT + LATE + 25).map((p) => Math.round(p.closedAfter))
        t.deepEqual(outside, [], `${protocol}: closed outside [${RT}, ${RT + LATE + 25}] ms`)
        t.false(healthy.destroyed, `${protocol}: the well-behaved client is open`)
        healthy.write(frame(Buffer.from('still served')))
        t.is((await readExactly(healthy, 16)).subarray(4).toString(), 'still served')
        healthy.destroy()
      } finally {
        await stop(child)
      }
    }
  })
}

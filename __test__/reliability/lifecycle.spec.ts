// Connection lifecycle (RELIABILITY.md R11, R13, R23): callbacks in order and exactly once
// under churn, nothing delivered after close, and Buffers handed to handlers keeping their
// bytes however long they are kept.
import test from 'ava'
import { createHash } from 'node:crypto'
import * as net from 'node:net'
import { Connection, createListener, EventLoop, NetpollError } from '../../index'
import { frame, netConnect, until } from '../helpers'

type Ev = 'prepare' | 'connect' | 'request' | 'disconnect' | 'close'

/** Checks one connection's events against netpoll's order; returns the first violation. */
function violation(events: Ev[]): string | null {
  if (events[0] !== 'prepare') return `starts with ${events[0]}`
  if (events[1] !== 'connect') return `second is ${events[1]}`
  const closes = events.filter((e) => e === 'close').length
  if (closes !== 1) return `${closes} closes`
  if (events[events.length - 1] !== 'close') return 'an event after close'
  if (events.filter((e) => e === 'disconnect').length > 1) return 'two disconnects'
  return null
}

test('R13: 300 connections opened and dropped at random moments, some during onConnect', async (t) => {
  t.timeout(60_000)
  const ln = await createListener('tcp', '127.0.0.1:0')
  const log = new Map<Connection, Ev[]>()
  const push = (c: Connection, e: Ev): void => {
    const list = log.get(c)
    if (list) list.push(e)
    else log.set(c, [e])
  }
  const loop = new EventLoop(
    async (c) => {
      push(c, 'request')
      await c.reader.next(c.reader.len())
    },
    {
      onPrepare: (c) => {
        push(c, 'prepare')
        c.addCloseCallback(() => push(c, 'close'))
      },
      onConnect: async (c) => {
        push(c, 'connect')
        await new Promise((r) => setTimeout(r, Math.random() * 10))
      },
      onDisconnect: (c) => push(c, 'disconnect'),
    },
  )
  loop.serve(ln)
  await Promise.all(
    Array.from({ length: 300 }, async (_, i) => {
      const s = net.connect(ln.address.port!, '127.0.0.1')
      s.on('error', () => {})
      await new Promise((r) => s.once('connect', r))
      if (i % 3 === 0) s.write('x')
      await new Promise((r) => setTimeout(r, Math.random() * 15))
      if (i % 2 === 0) s.resetAndDestroy()
      else s.end()
    }),
  )
  await until(() => loop.connections === 0, 20_000)
  t.is(log.size, 300)
  const bad = [...log.values()].map(violation).filter((v) => v !== null)
  t.deepEqual(bad, [])
  await loop.shutdown({ timeout: 1000 })
})

test('R11: writes, flushes and reads after a local close, a peer FIN and a reset all fail cleanly', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const conns: Connection[] = []
  const loop = new EventLoop(async () => {}, { onPrepare: (c) => conns.push(c) })
  loop.serve(ln)
  const port = ln.address.port!
  const local = await netConnect({ host: '127.0.0.1', port })
  const fin = await netConnect({ host: '127.0.0.1', port })
  const rst = await netConnect({ host: '127.0.0.1', port })
  await until(() => conns.length === 3)
  const [a, b, c] = conns
  a.close()
  fin.end()
  rst.resetAndDestroy()
  await until(() => !b.isActive() && !c.isActive())
  for (const conn of [a, b, c]) {
    let code: string | undefined
    try {
      conn.writer.writeBinary(Buffer.from('late'))
      await conn.writer.flush()
      // A peer that only half-closed may still take bytes: then the next read must fail.
      await conn.reader.next(1)
    } catch (e) {
      code = (e as NetpollError).code
    }
    t.true(['ERR_CONN_CLOSED', 'ECONNRESET', 'EPIPE'].includes(code ?? ''), `got ${code}`)
  }
  for (const s of [local, fin, rst]) s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('R23: Buffers kept by handlers keep their bytes through 200 connections of churn', async (t) => {
  t.timeout(60_000)
  const ln = await createListener('tcp', '127.0.0.1:0')
  const kept: Array<{ buf: Buffer; digest: string }> = []
  const payloadOf = (i: number, size: number): Buffer => Buffer.alloc(size, `conn-${i}:`)
  const loop = new EventLoop(async (c) => {
    const n = (await c.reader.next(4)).readUInt32BE(0)
    const p = await c.reader.next(n) // a view of delivered bytes: kept past the handler
    kept.push({ buf: p, digest: createHash('sha1').update(p).digest('hex') })
  })
  loop.serve(ln)
  for (let round = 0; round < 4; round++) {
    await Promise.all(
      Array.from({ length: 50 }, async (_, j) => {
        const i = round * 50 + j
        const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
        // Sizes around the copy/reference thresholds: 100 B to 300 KiB.
        s.write(frame(payloadOf(i, 100 + ((i * 7919) % (300 << 10)))))
        s.end()
        await new Promise((r) => s.on('close', r))
      }),
    )
  }
  await until(() => kept.length === 200, 20_000)
  const changed = kept.filter((k) => createHash('sha1').update(k.buf).digest('hex') !== k.digest)
  t.is(changed.length, 0, 'bytes changed after the handler saw them')
  // And each holds exactly what its own connection sent, never another's bytes.
  const wrong = kept.filter((k) => {
    const i = Number(/^conn-(\d+):/.exec(k.buf.toString('latin1', 0, 16))?.[1] ?? -1)
    return i < 0 || !k.buf.equals(payloadOf(i, k.buf.length)) || k.buf.length !== 100 + ((i * 7919) % (300 << 10))
  })
  t.is(wrong.length, 0)
  t.is(new Set(kept.map((k) => k.buf.toString('latin1', 0, 12))).size, 200)
  await loop.shutdown({ timeout: 1000 })
})

// The binding's destroy() called while the engine delivers a batch would free the engine
// under its own feet: it is refused with a clear error, and works once the batch is over.
test('the native destroy() is refused inside a batch and works after it', async (t) => {
  const { native } = await import('../../dist/core/native')
  const mode = process.env.NETPOLL_MODE === 'threaded' ? 'threaded' : 'inline'
  let inBatch: unknown = 'no batch'
  let done: () => void
  const delivered = new Promise<void>((r) => (done = r))
  const engine = new native.NativeEngine({ mode, pollers: 2 }, () => {
    if (inBatch === 'no batch') {
      try {
        engine.destroy()
        inBatch = null
      } catch (e) {
        inBatch = e
      }
      done()
    }
  })
  const info = engine.listen('tcp', '127.0.0.1:0', 16, false)
  const client = net.connect({ host: '127.0.0.1', port: info.port! }).on('error', () => {})
  const timer = setTimeout(() => done(), 10_000)
  await delivered
  clearTimeout(timer)
  t.true(inBatch instanceof Error, `destroy() inside the batch: ${String(inBatch)}`)
  t.regex((inBatch as Error).message, /while the engine delivers a batch/)
  await new Promise((r) => setImmediate(r))
  t.notThrows(() => engine.destroy())
  t.throws(() => engine.stats(), { message: /destroyed/ })
  client.destroy()
})

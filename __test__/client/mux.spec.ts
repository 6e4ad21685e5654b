import test from 'ava'
import * as net from 'node:net'
import { Connection, createListener, dial, EventLoop, MuxClient, NetpollError, Reader, ShardQueue } from '../../index'
import { frame, framedEcho, until } from '../helpers'
import { bounded } from './helpers'

/** A net server that hands every connection to `onConn`. */
async function netServer(onConn: (s: net.Socket) => void): Promise<{ address: string; close: () => void }> {
  const server = net.createServer(onConn)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, close: () => server.close() }
}

/** Counts `conn.writer.flush()` calls. */
function countFlushes(conn: Connection): () => number {
  let n = 0
  const flush = conn.writer.flush.bind(conn.writer)
  conn.writer.flush = () => {
    n++
    return flush()
  }
  return () => n
}

test('ShardQueue: the frames of one tick leave with one flush, in enqueue order', async (t) => {
  const received: Buffer[] = []
  const server = await netServer((s) => s.on('data', (d) => received.push(d)))
  const conn = await dial('tcp', server.address)
  const flushes = countFlushes(conn)
  const q = new ShardQueue(conn)
  const frames = Array.from({ length: 100 }, (_, i) => frame(Buffer.from(`frame ${i}`)))
  const batches: Promise<void>[] = []
  // Producers: synchronous ones and ones resuming in microtasks of the same tick.
  for (let i = 0; i < 50; i++) batches.push(q.add(frames[i]))
  await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      await null
      batches.push(q.add(frames[50 + i].subarray(0, 4), frames[50 + i].subarray(4)))
    }),
  )
  t.is(q.pending, 150) // 50 single-part frames and 50 two-part ones, not flushed yet
  await Promise.all(batches)
  t.is(new Set(batches).size, 1) // one batch
  t.is(flushes(), 1)
  t.is(q.pending, 0)
  await q.add(frame(Buffer.from('next tick')))
  t.is(flushes(), 2)
  const all = Buffer.concat([...frames, frame(Buffer.from('next tick'))])
  await until(() => Buffer.concat(received).length === all.length)
  t.deepEqual(Buffer.concat(received), all)
  conn.close()
  t.is((await t.throwsAsync<NetpollError>(q.add(frames[0])))?.code, 'ERR_CONN_CLOSED')
  server.close()
})

test('ShardQueue: a batch flushed after the connection closed rejects; ignoring it is safe', async (t) => {
  const server = await netServer(() => {})
  const conn = await dial('tcp', server.address)
  const q = new ShardQueue(conn)
  const awaited = q.add(Buffer.from('never sent'))
  conn.close()
  t.is((await t.throwsAsync<NetpollError>(awaited))?.code, 'ERR_CONN_CLOSED')
  // A batch nobody awaits: no unhandled rejection (ava fails the test on one).
  const other = await dial('tcp', server.address)
  void new ShardQueue(other).add(Buffer.from('ignored'))
  other.close()
  await new Promise((r) => setTimeout(r, 20))
  server.close()
})

test('MuxClient: concurrent requests get their own responses; each producer keeps its order on the wire', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const wire: string[] = []
  const loop = new EventLoop(async (conn) => {
    const n = (await conn.reader.next(4)).readUInt32BE(0)
    const body = await conn.reader.next(n)
    wire.push(body.subarray(4).toString())
    conn.writer.writeBinary(frame(body))
    await conn.writer.flush()
  })
  loop.serve(ln)
  const client = new MuxClient(await dial('tcp', ln.toString()))
  const producer = (p: number): Promise<string[]> =>
    Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const body = await client.request(Buffer.from(`p${p}-${i}`))
        t.true(body instanceof Reader)
        return (await body.next(body.len())).toString()
      }),
    )
  const results = await bounded(Promise.all([0, 1, 2, 3].map(producer)), 10_000, 'the requests')
  results.forEach((answers, p) => t.deepEqual(answers, Array.from({ length: 50 }, (_, i) => `p${p}-${i}`)))
  for (let p = 0; p < 4; p++) {
    const mine = wire.filter((w) => w.startsWith(`p${p}-`))
    t.deepEqual(mine, Array.from({ length: 50 }, (_, i) => `p${p}-${i}`))
  }
  t.is(client.pending, 0)
  t.true(client.isActive())
  client.close()
  t.false(client.isActive())
  await loop.shutdown({ timeout: 1000 })
})

test('MuxClient: responses out of order are matched by id', async (t) => {
  // Answers each group of 10 frames in reverse order.
  const server = await netServer((s) => {
    let buf = Buffer.alloc(0)
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d])
      const frames: Buffer[] = []
      let off = 0
      while (buf.length - off >= 4 && buf.length - off >= 4 + buf.readUInt32BE(off)) {
        const n = buf.readUInt32BE(off)
        frames.push(buf.subarray(off, off + 4 + n))
        off += 4 + n
      }
      if (frames.length < 10) return
      buf = buf.subarray(off)
      s.write(Buffer.concat(frames.reverse()))
    })
  })
  const client = new MuxClient(await dial('tcp', server.address))
  const answers = await bounded(
    Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const body = await client.request(Buffer.from(`req ${i}`))
        return (await body.next(body.len())).toString()
      }),
    ),
    10_000,
    'the requests',
  )
  t.deepEqual(answers, Array.from({ length: 10 }, (_, i) => `req ${i}`))
  client.close()
  server.close()
})

test('MuxClient: a close fails every pending request with ERR_CONN_CLOSED, and later ones', async (t) => {
  const server = await netServer(() => {}) // never answers
  const client = new MuxClient(await dial('tcp', server.address))
  const pending = Array.from({ length: 5 }, (_, i) => client.request(Buffer.from(`q${i}`)))
  await until(() => client.pending === 5)
  client.close()
  for (const p of pending) t.is((await t.throwsAsync<NetpollError>(p))?.code, 'ERR_CONN_CLOSED')
  t.is((await t.throwsAsync<NetpollError>(client.request(Buffer.from('late'))))?.code, 'ERR_CONN_CLOSED')
  t.is(client.pending, 0)
  server.close()
})

test('MuxClient: the peer closing fails pending requests; a too-large frame closes with a cause', async (t) => {
  let peer: net.Socket | null = null
  const server = await netServer((s) => (peer = s))
  const a = new MuxClient(await dial('tcp', server.address))
  const p = a.request(Buffer.from('x'))
  await until(() => peer !== null)
  ;(peer as unknown as net.Socket).end()
  t.is((await t.throwsAsync<NetpollError>(p))?.code, 'ERR_CONN_CLOSED')

  peer = null
  const b = new MuxClient(await dial('tcp', server.address), { maxFrame: 100 })
  const q = b.request(Buffer.from('y'))
  await until(() => peer !== null)
  ;(peer as unknown as net.Socket).write(Buffer.from([0, 0, 1, 0, 0, 0, 0, 1])) // 256 > 100
  const e = await t.throwsAsync<NetpollError>(q)
  t.is(e?.code, 'ERR_CONN_CLOSED')
  t.is((e?.cause as NetpollError).code, 'ERR_FRAME_TOO_LARGE')
  server.close()
})

test('MuxClient over a framed echo server: large payloads arrive whole', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(framedEcho)
  loop.serve(ln)
  const client = new MuxClient(await dial('tcp', ln.toString()))
  const payloads = [0, 1, 1000, 300_000].map((n) => Buffer.alloc(n, n % 251))
  const bodies = await Promise.all(payloads.map((p) => client.request(p)))
  bodies.forEach((body, i) => t.is(body.len(), payloads[i].length))
  for (const [i, body] of bodies.entries()) t.true((await body.next(body.len())).equals(payloads[i]))
  client.close()
  await loop.shutdown({ timeout: 1000 })
})

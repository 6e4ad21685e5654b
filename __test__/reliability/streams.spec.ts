// Byte streams at their edges (RELIABILITY.md R1, R2, R3, R21, R29): resets with output
// queued, data arriving with the FIN, closing with output queued for a slow reader, a burst
// larger than the read budget, and writing to a peer that is gone. Each checks that nothing
// was lost (digests, counts) and that the connection is reported closed exactly once.
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import * as net from 'node:net'
import { Connection, createListener, EventLoop, NetpollError, stats } from '../../index'
import { frame, framedEcho, netConnect, readExactly, until } from '../helpers'

/** A server whose connections are handed to `onConn` and whose closes are recorded. */
async function server(onConn: (c: Connection) => void, onRequest = async (_c: Connection) => {}) {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const closes: Array<string | null> = []
  const loop = new EventLoop(onRequest, {
    onPrepare: (c) => {
      c.addCloseCallback((_c, e) => closes.push(e?.code ?? null))
      onConn(c)
    },
  })
  loop.serve(ln)
  return { port: ln.address.port!, closes, loop }
}

test('R1: a reset while 8 MiB are queued closes once with ECONNRESET/EPIPE and frees the queue', async (t) => {
  let conn: Connection | null = null
  const srv = await server((c) => (conn = c))
  const s = await netConnect({ host: '127.0.0.1', port: srv.port })
  s.pause()
  await until(() => conn !== null)
  const c = conn as unknown as Connection
  c.writer.writeBinary(Buffer.alloc(8 << 20, 7))
  const flushed = c.writer.flush()
  await until(() => stats().bytesQueued > 0)
  s.resetAndDestroy()
  const e = await t.throwsAsync<NetpollError>(flushed)
  t.true(['ECONNRESET', 'EPIPE'].includes(e?.code ?? ''), e?.code)
  await until(() => srv.closes.length === 1)
  t.true(['ECONNRESET', 'EPIPE'].includes(srv.closes[0] ?? ''))
  await until(() => stats().bytesQueued === 0)
  t.false(c.isActive())
  await srv.loop.shutdown({ timeout: 1000 })
  t.is(srv.closes.length, 1, 'closed exactly once')
})

test('R2: a request followed at once by FIN is answered in full before our FIN', async (t) => {
  const srv = await server(() => {}, framedEcho)
  const payload = randomBytes(100_000)
  const s = net.connect(srv.port, '127.0.0.1')
  s.end(frame(payload)) // data and FIN back to back
  const chunks: Buffer[] = []
  s.on('data', (d) => chunks.push(d))
  await new Promise((r) => s.on('end', r))
  t.true(Buffer.concat(chunks).equals(frame(payload)))
  await until(() => srv.closes.length === 1)
  t.deepEqual(srv.closes, [null])
  await srv.loop.shutdown({ timeout: 1000 })
})

test('R3: close() with 16 MiB queued delivers every byte to a slow reader, then FIN', async (t) => {
  t.timeout(60_000)
  const data = randomBytes(16 << 20)
  const srv = await server((c) => {
    c.writer.writeBinary(data)
    void c.writer.flush().catch(() => {})
    c.close() // graceful: the queued output still goes out
  })
  const s = await netConnect({ host: '127.0.0.1', port: srv.port })
  const hash = createHash('sha256')
  let got = 0
  let endedAt = -1
  // A slow reader: pause for 20 ms after every MiB.
  let nextPause = 1 << 20
  s.on('data', (d: Buffer) => {
    hash.update(d)
    got += d.length
    if (got >= nextPause) {
      nextPause += 1 << 20
      s.pause()
      setTimeout(() => s.resume(), 20)
    }
  })
  await new Promise<void>((r) =>
    s.on('end', () => {
      endedAt = got
      r()
    }),
  )
  t.is(endedAt, data.length, 'FIN only after the last byte')
  t.is(hash.digest('hex'), createHash('sha256').update(data).digest('hex'))
  s.destroy()
  await srv.loop.shutdown({ timeout: 1000 })
})

test('R21: an 8 MiB burst, then silence, is delivered whole (no stall at the read budget)', async (t) => {
  const data = randomBytes(8 << 20)
  let received: Buffer | null = null
  const srv = await server(
    () => {},
    async (c) => {
      received = await c.reader.next(data.length)
    },
  )
  const s = await netConnect({ host: '127.0.0.1', port: srv.port })
  s.write(data)
  await until(() => received !== null, 20_000)
  t.true((received as unknown as Buffer).equals(data))
  s.destroy()
  await srv.loop.shutdown({ timeout: 1000 })
})

test('R29: writing to a peer that is gone fails once with EPIPE/ECONNRESET; the process lives', async (t) => {
  let conn: Connection | null = null
  const srv = await server((c) => (conn = c))
  const s = await netConnect({ host: '127.0.0.1', port: srv.port })
  await until(() => conn !== null)
  const c = conn as unknown as Connection
  s.destroy()
  await until(() => !c.isActive())
  let failure: NetpollError | null = null
  for (let i = 0; i < 50 && failure === null; i++) {
    try {
      c.writer.writeBinary(Buffer.alloc(64 << 10))
      await c.writer.flush()
    } catch (e) {
      failure = e as NetpollError
    }
  }
  t.truthy(failure, 'a write to a closed peer must fail')
  t.true(['EPIPE', 'ECONNRESET', 'ERR_CONN_CLOSED'].includes(failure?.code ?? ''), failure?.code)
  await until(() => srv.closes.length === 1)
  t.is(srv.closes.length, 1)
  // Still serving.
  const s2 = await netConnect({ host: '127.0.0.1', port: srv.port })
  s2.destroy()
  await srv.loop.shutdown({ timeout: 1000 })
})

test('R2 (echo): 200 clients each send one frame and FIN; every answer arrives', async (t) => {
  const srv = await server(() => {}, framedEcho)
  const results = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const p = Buffer.from(`request-${i}-`.repeat(1 + (i % 50)))
      const s = net.connect(srv.port, '127.0.0.1')
      s.end(frame(p))
      const back = await readExactly(s, 4 + p.length)
      s.destroy()
      return back.equals(frame(p))
    }),
  )
  t.is(results.filter(Boolean).length, 200)
  await srv.loop.shutdown({ timeout: 1000 })
})

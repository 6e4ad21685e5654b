// Limits a peer can't get around, with small configured values: read backpressure keeps a
// flooded connection's buffered input near the high-water mark, and a writer that ignores
// backpressure gets ERR_OUTPUT_LIMIT instead of growing without bound.
import test from 'ava'
import { createHash } from 'node:crypto'
import { configure, Connection, createListener, EventLoop, NetpollError } from '../index'
import { netConnect, until } from './helpers'

const HWM = 256 << 10
const LWM = 64 << 10
const MAX_OUTPUT = 1 << 20
configure({ highWaterMark: HWM, lowWaterMark: LWM, maxOutput: MAX_OUTPUT })

test('a flooding peer is held at the high-water mark while the handler consumes slowly; nothing is lost', async (t) => {
  t.timeout(60_000)
  const ln = await createListener('tcp', '127.0.0.1:0')
  const TOTAL = 32 << 20
  const hash = createHash('sha256')
  let consumed = 0
  let maxBuffered = 0
  const loop = new EventLoop(async (conn: Connection) => {
    // A slow handler: 64 KiB every 2 ms (about 32 MB/s), far below loopback speed.
    while (consumed < TOTAL) {
      maxBuffered = Math.max(maxBuffered, conn.reader.len())
      const n = Math.min(64 << 10, TOTAL - consumed)
      hash.update(await conn.reader.next(n))
      consumed += n
      await new Promise((r) => setTimeout(r, 2))
    }
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  const sent = createHash('sha256')
  const chunk = Buffer.alloc(1 << 20)
  for (let i = 0; i < TOTAL / chunk.length; i++) {
    chunk.fill(i & 0xff)
    chunk.writeUInt32BE(i, 0)
    sent.update(chunk)
    if (!s.write(Buffer.from(chunk))) await new Promise((r) => s.once('drain', r))
  }
  await until(() => consumed === TOTAL, 50_000)
  t.is(hash.digest('hex'), sent.digest('hex'))
  // Paused once above HWM. On top: the batch that crossed it and the one already on its way
  // when the pause landed, each bounded by the shard's input limit (HWM) plus one read.
  t.true(maxBuffered <= 3 * HWM + 2 * (64 << 10), `buffered up to ${maxBuffered} bytes`)
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('a writer that ignores backpressure gets ERR_OUTPUT_LIMIT and its connection closes', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  let closeCode: string | undefined
  let writeError: NetpollError | undefined
  let written = 0
  const loop = new EventLoop(
    async (conn) => {
      await conn.reader.next(1)
      // Never awaits a flush: 64 MiB against a 1 MiB cap and a peer that does not read.
      try {
        for (let i = 0; i < 1024; i++) {
          conn.writer.writeBinary(Buffer.alloc(64 << 10))
          written += 64 << 10
          conn.writer.flush().catch(() => {})
          if (i % 16 === 15) await new Promise((r) => setImmediate(r))
        }
      } catch (e) {
        writeError = e as NetpollError
      }
    },
    { onPrepare: (c) => c.addCloseCallback((_c, e) => (closeCode = e?.code)) },
  )
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  s.pause()
  s.write('x')
  await until(() => closeCode !== undefined, 10_000)
  t.is(closeCode, 'ERR_OUTPUT_LIMIT')
  t.true(written < 64 << 20, 'stopped long before the 64 MiB')
  t.true(writeError === undefined || ['ERR_OUTPUT_LIMIT', 'ERR_CONN_CLOSED'].includes(writeError.code))
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

// Limits a peer can't get around, with small configured values: read backpressure keeps a
// flooded connection's buffered input near the high-water mark, and a writer that ignores
// backpressure gets ERR_OUTPUT_LIMIT instead of growing without bound.
import test from 'ava'
import { createHash } from 'node:crypto'
import * as net from 'node:net'
import { configure, Connection, createListener, dial, EventLoop, NetpollError } from '../index'
import { netConnect, until } from './helpers'

const HWM = 256 << 10
const LWM = 64 << 10
const MAX_OUTPUT = 1 << 20
const MAX_FRAME = 1 << 20
configure({ highWaterMark: HWM, lowWaterMark: LWM, maxOutput: MAX_OUTPUT, maxFrame: MAX_FRAME })

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

// A connection that always has a newer flush outstanding (each flush awaited only after the
// next one started, as a mux with async handlers does): sent bytes stop counting against
// maxOutput when their own flush settles, not only when no flush is left.
test('flushes overlapping forever pass many times maxOutput without ERR_OUTPUT_LIMIT', async (t) => {
  let got = 0
  const server = net.createServer((s) => s.on('data', (d: Buffer) => (got += d.length)))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const conn = await dial('tcp', `127.0.0.1:${(server.address() as net.AddressInfo).port}`)
  const CHUNK = 128 << 10
  const ROUNDS = 8 * (MAX_OUTPUT / CHUNK) // 8 MiB through a 1 MiB cap
  try {
    let previous: Promise<void> | null = null
    for (let i = 0; i < ROUNDS; i++) {
      conn.writer.writeBinary(Buffer.alloc(CHUNK))
      const flush = conn.writer.flush()
      if (previous) await previous
      previous = flush
    }
    await previous
    await until(() => got === ROUNDS * CHUNK, 10_000)
    t.true(conn.isActive())
    t.is(conn.stats().bytesQueued, 0)
  } finally {
    conn.close()
    server.close()
  }
})

// The same, deterministically: the engine reports a flush done (as the threaded reactor
// does by sequence number) while a newer flush is still pending; its own bytes stop
// counting at once. Before, they counted until no flush was left, and the write below
// failed with ERR_OUTPUT_LIMIT.
test('a settled flush takes its own bytes off the output count while a newer one is pending', async (t) => {
  const server = net.createServer((s) => s.resume())
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const conn = await dial('tcp', `127.0.0.1:${(server.address() as net.AddressInfo).port}`)
  try {
    conn.writer.writeBinary(Buffer.alloc(MAX_OUTPUT - (256 << 10)))
    const first = conn.writer.flush()
    conn.writer.writeBinary(Buffer.alloc(128 << 10))
    const second = conn.writer.flush()
    conn.flushed(1) // the record the engine hands over when the first flush's bytes left
    await first
    t.is(conn.stats().bytesQueued, 128 << 10)
    t.notThrows(() => conn.writer.writeBinary(Buffer.alloc(512 << 10)))
    await Promise.all([second, conn.writer.flush()])
    t.is(conn.stats().bytesQueued, 0)
    t.true(conn.isActive())
  } finally {
    conn.close()
    server.close()
  }
})

test('a declared length over maxFrame is refused at once, before any byte is buffered for it', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const errors: string[] = []
  let buffered = -1
  const loop = new EventLoop(
    async (conn) => {
      const n = (await conn.reader.next(4)).readUInt32BE(0)
      buffered = conn.reader.len()
      await conn.reader.next(n) // 2 GiB declared: must reject, not wait for it
    },
    { onError: (e) => errors.push((e as NetpollError).code) },
  )
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  const header = Buffer.alloc(4)
  header.writeUInt32BE(0x7fffffff, 0)
  s.write(Buffer.concat([header, Buffer.alloc(1000)]))
  await new Promise((r) => s.on('close', r)) // the handler's rejection closed the connection
  t.deepEqual(errors, ['ERR_FRAME_TOO_LARGE'])
  t.true(buffered <= 1000)
  await loop.shutdown({ timeout: 1000 })
})

test('until() whose delimiter is not within maxFrame bytes is refused', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  let code: string | undefined
  const loop = new EventLoop(async (conn) => {
    await conn.reader.until(0x0a).catch((e: NetpollError) => {
      code = e.code
      conn.close()
    })
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  s.on('error', () => {})
  s.write(Buffer.alloc(MAX_FRAME + (64 << 10), 0x61)) // no newline anywhere
  await until(() => code !== undefined, 10_000)
  t.is(code, 'ERR_FRAME_TOO_LARGE')
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('a read larger than the high-water mark completes even when reading was paused before it asked', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const size = 4 * HWM
  let got: Buffer | null = null
  const loop = new EventLoop(async (conn) => {
    // Let the input pile up past the high-water mark (reading pauses), then ask for more.
    await until(() => conn.reader.len() > HWM)
    await new Promise((r) => setTimeout(r, 50))
    got = await conn.reader.next(size)
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  const data = Buffer.alloc(size, 5)
  s.write(data)
  await until(() => got !== null, 10_000)
  t.true((got as unknown as Buffer).equals(data))
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

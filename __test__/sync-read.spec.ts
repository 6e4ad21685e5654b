// Synchronous reads (`tryNext`/`tryPeek`): a handler takes every whole frame already buffered
// and returns, and is called again when more bytes arrive; read backpressure lets a wanted
// frame larger than the high-water mark in; maxFrame holds; reads never overtake each other.
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import { configure, Connection, createListener, EventLoop, NetpollError } from '../index'
import { frame, netConnect, readExactly, until } from './helpers'

const HWM = 64 << 10
const MAX_FRAME = 1 << 20
configure({ highWaterMark: HWM, lowWaterMark: HWM / 4, maxFrame: MAX_FRAME })

/** Answers every whole frame buffered with a built copy; returns at the first partial one. */
function syncEcho(conn: Connection): Promise<void> | undefined {
  const r = conn.reader
  let answered = false
  for (;;) {
    const head = r.tryPeek(4)
    if (head === null) break
    const f = r.tryNext(4 + head.readUInt32BE(0))
    if (f === null) break
    conn.writer.writeBinary(Buffer.from(f))
    answered = true
  }
  if (answered) return conn.writer.flush()
}

test('a synchronous handler answers frames split anywhere, in order, byte for byte', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  let calls = 0
  const loop = new EventLoop((conn) => {
    calls++
    return syncEcho(conn)
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  const frames = Array.from({ length: 600 }, (_, i) => frame(randomBytes(i % 7 === 0 ? 0 : (i * 797) % 40_000)))
  const all = Buffer.concat(frames)
  const back = readExactly(s, all.length, 20_000)
  // Writes cut at odd places: frames arrive split across batches, headers included.
  for (let at = 0; at < all.length; ) {
    const n = 1 + ((at * 31) % 9000)
    s.write(all.subarray(at, at + n))
    at += n
  }
  const got = await back
  t.is(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(all).digest('hex'))
  t.true(calls > 1)
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('tryPeek does not consume; tryNext of a frame not yet whole returns null and consumes nothing', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const seen: Array<[number, number | null, number]> = []
  const loop = new EventLoop((conn) => {
    const before = conn.reader.len()
    const peeked = conn.reader.tryPeek(2)
    const taken = conn.reader.tryNext(10)
    seen.push([before, peeked === null ? null : peeked.length, conn.reader.len()])
    if (taken) conn.close()
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  s.write(Buffer.alloc(6, 1))
  await until(() => seen.length === 1)
  s.write(Buffer.alloc(4, 2))
  await new Promise((r) => s.on('close', r))
  t.deepEqual(seen[0], [6, 2, 6])
  t.deepEqual(seen[seen.length - 1], [10, 2, 0])
  await loop.shutdown({ timeout: 1000 })
})

test('a tryNext larger than the high-water mark completes, even when reading was paused before it asked', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const size = 8 * HWM
  let got: Buffer | null = null
  let conn: Connection | null = null
  const loop = new EventLoop((c) => {
    conn = c // reads nothing yet: the input piles up past the high-water mark and reading pauses
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  const data = randomBytes(size)
  s.write(data)
  await until(() => conn !== null && conn.reader.len() > HWM)
  await new Promise((r) => setTimeout(r, 50))
  t.true((conn as unknown as Connection).reader.len() < size) // paused: not everything came in
  ;(conn as unknown as Connection).setOnRequest((c) => {
    const b = c.reader.tryNext(size)
    if (b) got = b
  })
  await until(() => got !== null, 10_000)
  t.true((got as unknown as Buffer).equals(data))
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('tryNext over maxFrame throws ERR_FRAME_TOO_LARGE: the handler fails and its connection closes', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const errors: string[] = []
  const loop = new EventLoop(
    (conn) => {
      const head = conn.reader.tryPeek(4)
      if (head) conn.reader.tryNext(4 + head.readUInt32BE(0))
    },
    { onError: (e) => errors.push((e as NetpollError).code) },
  )
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  const header = Buffer.alloc(4)
  header.writeUInt32BE(MAX_FRAME, 0) // 4 + MAX_FRAME bytes: one byte over
  s.write(Buffer.concat([header, Buffer.alloc(100)]))
  s.on('error', () => {})
  await new Promise((r) => s.on('close', r))
  t.deepEqual(errors, ['ERR_FRAME_TOO_LARGE'])
  await loop.shutdown({ timeout: 1000 })
})

test('tryPeekUInt32BE reads a length across chunk boundaries, at an offset, without consuming', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const seen: Array<[number | null, number | null, number]> = []
  let tooFar = ''
  const loop = new EventLoop((conn) => {
    seen.push([conn.reader.tryPeekUInt32BE(), conn.reader.tryPeekUInt32BE(2), conn.reader.len()])
    try {
      conn.reader.tryPeekUInt32BE(MAX_FRAME) // would need more than maxFrame buffered
    } catch (e) {
      tooFar = (e as NetpollError).code
    }
    if (conn.reader.len() >= 6) conn.close()
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  s.write(Buffer.from([0x01, 0x02, 0x03])) // 3 bytes: no length yet
  await until(() => seen.length === 1)
  s.write(Buffer.from([0x04, 0x05, 0x06])) // the rest arrives as a second chunk
  await new Promise((r) => s.on('close', r))
  t.deepEqual(seen[0], [null, null, 3])
  t.deepEqual(seen[seen.length - 1], [0x01020304, 0x03040506, 6])
  t.is(tooFar, 'ERR_FRAME_TOO_LARGE')
  await loop.shutdown({ timeout: 1000 })
})

test('while an awaited read waits, tryNext returns null: reads keep their order', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const result: { sync?: Buffer | null; awaited?: Buffer; after?: Buffer | null } = {}
  const loop = new EventLoop(async (conn) => {
    const waiting = conn.reader.next(8) // 4 of 8 bytes are buffered
    result.sync = conn.reader.tryNext(1)
    result.awaited = await waiting
    result.after = conn.reader.tryNext(2)
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  s.write(Buffer.from([1, 2, 3, 4]))
  await new Promise((r) => setTimeout(r, 50))
  s.write(Buffer.from([5, 6, 7, 8, 9, 10]))
  await until(() => result.after !== undefined)
  t.is(result.sync, null)
  t.deepEqual([...(result.awaited as Buffer)], [1, 2, 3, 4, 5, 6, 7, 8])
  t.deepEqual([...(result.after as Buffer)], [9, 10])
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('reader.release() keeps returned Buffers and the unconsumed bytes as they were (Go netpoll slices would be invalid)', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const seen: { taken?: string; rest?: string; len?: number } = {}
  const loop = new EventLoop((conn) => {
    const r = conn.reader
    if (r.len() < 10) return
    const taken = r.tryNext(4) as Buffer
    r.release()
    seen.len = r.len()
    seen.taken = taken.toString()
    seen.rest = (r.tryNext(6) as Buffer).toString()
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  s.write('abcdefghij')
  await until(() => seen.rest !== undefined)
  t.deepEqual(seen, { taken: 'abcd', rest: 'efghij', len: 6 })
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

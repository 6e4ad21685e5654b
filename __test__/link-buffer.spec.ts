import test from 'ava'
import { randomBytes } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createListener, EventLoop, LinkBuffer, poolStats } from '../index'
import { native } from '../lib/core/native'
import { netConnect, until } from './helpers'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Collects garbage until `done()` holds (external Buffer finalizers run after a GC). */
async function collectUntil(done: () => boolean): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
    if (done()) return true
  }
  return false
}

/** A few GC rounds, so that earlier tests' finalizers have run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

function filled(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff
  return b
}

test('writes are pending until flush, then read back in order', (t) => {
  const b = new LinkBuffer()
  t.true(b.isEmpty())
  t.is(b.len(), 0)
  b.writeBinary(Buffer.from('ab'))
  b.writeBinary(new Uint8Array([0x63]))
  b.writeString('dé')
  b.writeString('ff', 'hex')
  b.writeByte(0x21)
  t.is(b.mallocLen(), 8)
  t.is(b.len(), 0)
  b.flush()
  t.is(b.mallocLen(), 0)
  t.is(b.len(), 8)
  t.false(b.isEmpty())
  t.deepEqual(b.peek(3), Buffer.from('abc'))
  t.is(b.len(), 8, 'peek does not consume')
  t.deepEqual(b.next(2), Buffer.from('ab'))
  b.skip(1)
  t.is(b.readString(3), 'dé')
  t.is(b.readByte(), 0xff)
  t.is(b.readByte(), 0x21)
  t.true(b.isEmpty())
})

test('next/peek/readBinary/readString of 0 bytes return empty results', (t) => {
  const b = new LinkBuffer()
  t.is(b.next(0).length, 0)
  t.is(b.peek(0).length, 0)
  t.is(b.readBinary(0).length, 0)
  t.is(b.readString(0), '')
  b.skip(0)
  t.is(b.slice(0).len(), 0)
})

test('readString decodes like Buffer#toString, with other encodings too', (t) => {
  const b = new LinkBuffer()
  b.writeBinary(Buffer.from([0x68, 0x69, 0xff, 0x21]))
  b.writeBinary(Buffer.from('caf\u00e9', 'latin1'))
  b.writeBinary(Buffer.from([1, 2, 255]))
  b.flush()
  t.is(b.readString(4), 'hi\ufffd!', 'invalid UTF-8 becomes U+FFFD')
  t.is(b.readString(4, 'latin1'), 'caf\u00e9')
  t.is(b.readString(3, 'hex'), '0102ff')
})

test('until finds a delimiter given as a byte or a one-character string', (t) => {
  const b = new LinkBuffer()
  b.writeString('GET / HTTP/1.1\r\nHost: x\r\n\r\nrest')
  b.flush()
  t.is(b.until('\n').toString(), 'GET / HTTP/1.1\r\n')
  t.is(b.until(0x0a).toString(), 'Host: x\r\n')
  t.is(b.until('\n').toString(), '\r\n')
  const err = t.throws(() => b.until('\n'), { code: 'ERR_NOT_FOUND' })
  t.regex(err!.message, /delimiter not found/)
  t.is(b.len(), 4, 'a failed until consumes nothing')
})

test('reads span many chunks and large messages', (t) => {
  const b = new LinkBuffer()
  const parts = [filled(3000, 1), filled(70_000, 2), filled(5, 3), filled(200_000, 4)]
  for (const p of parts) b.writeBinary(p)
  b.flush()
  const all = Buffer.concat(parts)
  t.is(b.len(), all.length)
  t.deepEqual(b.peek(all.length), all)
  t.deepEqual(b.next(2999), all.subarray(0, 2999))
  t.deepEqual(b.next(80_000), all.subarray(2999, 82_999))
  t.deepEqual(b.readBinary(100_000), all.subarray(82_999, 182_999))
  t.deepEqual(b.next(b.len()), all.subarray(182_999))
})

test('malloc returns a zero-filled Buffer that is copied in at the next call', (t) => {
  const b = new LinkBuffer()
  b.writeString('<')
  const m = b.malloc(6)
  t.deepEqual(m, Buffer.alloc(6), 'zero-filled')
  m.write('abc')
  t.is(b.mallocLen(), 7)
  m.write('zzzzzz') // after the copy: ignored
  b.writeString('>')
  b.flush()
  t.is(b.readBinary(8).toString('latin1'), '<abc\0\0\0>')
  t.is(b.malloc(0).length, 0)
})

test('mallocAck keeps only the first n pending bytes', (t) => {
  const b = new LinkBuffer()
  b.writeString('readable')
  b.flush()
  b.writeString('head')
  b.malloc(100).write('body')
  t.is(b.mallocLen(), 104)
  b.mallocAck(8)
  t.is(b.mallocLen(), 8)
  b.writeString('!')
  b.flush()
  t.is(b.readString(b.len()), 'readableheadbody!')
  b.writeString('abc')
  b.mallocAck(0)
  t.is(b.mallocLen(), 0)
  t.is(b.len(), 0)
})

test('writeDirect inserts before the last remainLen pending bytes', (t) => {
  const b = new LinkBuffer()
  b.malloc(4).write('HEAD')
  b.malloc(4).write('TAIL')
  b.writeDirect(Buffer.from('-body-'), 4)
  b.writeDirect(Buffer.from('<'), b.mallocLen())
  b.writeDirect(Buffer.from('>'), 0)
  b.flush()
  t.is(b.readString(b.len()), '<HEAD-body-TAIL>')
})

test('append moves unread and pending bytes, leaving the other buffer empty and usable', (t) => {
  const a = new LinkBuffer()
  a.writeString('a1|')
  a.flush()
  a.writeString('a2|')
  const other = new LinkBuffer()
  other.writeString('xxb1|')
  other.flush()
  other.skip(2)
  other.writeString('b2|')
  other.malloc(3).write('b3|')
  a.append(other)
  t.is(other.len(), 0)
  t.is(other.mallocLen(), 0)
  t.is(a.len(), 3)
  t.is(a.mallocLen(), 3 + 3 + 3 + 3)
  a.flush()
  t.is(a.readString(a.len()), 'a1|a2|b1|b2|b3|')
  other.writeString('again')
  other.flush()
  t.is(other.readString(5), 'again')
})

test('slice is an independent reader over the same bytes', (t) => {
  const b = new LinkBuffer()
  const data = filled(50_000, 9)
  b.writeBinary(data)
  b.flush()
  const s = b.slice(30_000)
  t.is(s.len(), 30_000)
  t.is(b.len(), 20_000)
  t.deepEqual(b.next(20_000), data.subarray(30_000))
  b.writeString('more')
  b.flush()
  b.release()
  t.deepEqual(s.next(10), data.subarray(0, 10))
  t.deepEqual(s.next(29_990), data.subarray(10, 30_000))
  s.writeString('own')
  s.flush()
  t.is(s.readString(3), 'own')
  t.is(b.readString(4), 'more')
})

test('Buffers from next() keep their bytes after release() and reuse of the memory', async (t) => {
  const small = filled(100, 1)
  const large = filled(256 * 1024, 2)
  const spanning = filled(20_000, 3)
  let views: Buffer[] = []
  {
    const b = new LinkBuffer()
    b.writeBinary(small)
    b.writeBinary(large)
    b.writeBinary(spanning)
    b.flush()
    views = [b.next(100), b.next(256 * 1024), b.next(20_000)]
    b.release()
  }
  // Reuse pooled memory hard: many buffers writing and reading other bytes, then released.
  for (let round = 0; round < 30; round++) {
    const other = new LinkBuffer()
    for (let i = 0; i < 10; i++) {
      other.writeBinary(Buffer.alloc(30_000, round))
      other.malloc(40_000).fill(round ^ 0x5a)
    }
    other.flush()
    while (!other.isEmpty()) other.skip(Math.min(other.len(), 50_000))
    other.release()
    if (round % 10 === 0) await settle()
  }
  t.deepEqual(views[0], small)
  t.deepEqual(views[1], large)
  t.deepEqual(views[2], spanning)
  // Writing into a view changes nothing else.
  views[1].fill(0)
  const b2 = new LinkBuffer()
  b2.writeBinary(large)
  b2.flush()
  t.deepEqual(b2.next(large.length), large)
  views = []
})

test.serial('large views hold their chunk in the pool until garbage-collected', async (t) => {
  await settle()
  const b = new LinkBuffer()
  b.writeBinary(randomBytes(200_000))
  b.flush()
  let view: Buffer | null = b.next(200_000)
  b.release()
  const held = poolStats().bytesInUse
  t.true(held >= 200_000, `the view holds its chunk (bytesInUse ${held})`)
  t.is(view.length, 200_000)
  view = null
  t.true(await collectUntil(() => poolStats().bytesInUse <= held - 200_000), 'the finalizer released it')
})

test.serial('large views pin at most 64 MiB; past that they are copies', async (t) => {
  await settle()
  const base = poolStats().bytesInUse
  const b = new LinkBuffer()
  const views: Buffer[] = []
  for (let i = 0; i < 80; i++) {
    b.writeBinary(Buffer.alloc(1 << 20, i))
    b.flush()
    views.push(b.next(1 << 20)) // no yield: no finalizer can run meanwhile
  }
  b.release()
  const pinned = poolStats().bytesInUse - base
  t.true(pinned <= (64 << 20) + (1 << 20), `pinned ${pinned} bytes`)
  t.true(pinned >= 32 << 20, `large views were zero-copy at first (pinned ${pinned})`)
  views.forEach((v, i) => t.true(v.length === 1 << 20 && v[0] === i && v[v.length - 1] === i))
  views.length = 0
  t.true(await collectUntil(() => poolStats().bytesInUse <= base), 'all given back after GC')
})

test.serial('poolStats moves as chunks are taken and given back', (t) => {
  const before = poolStats()
  t.deepEqual(Object.keys(before).sort(), ['bytesCached', 'bytesHeld', 'bytesInUse', 'bytesTrimmed', 'hits', 'misses'])
  for (const v of Object.values(before)) t.true(Number.isSafeInteger(v) && v >= 0)
  t.is(before.bytesHeld, before.bytesInUse + before.bytesCached)
  const b = new LinkBuffer()
  b.writeBinary(Buffer.alloc(1000, 1))
  const during = poolStats()
  t.true(during.bytesInUse >= before.bytesInUse + 1000)
  t.is(during.hits + during.misses, before.hits + before.misses + 1, 'one chunk taken')
  b.flush()
  b.skip(1000)
  b.release()
  const after = poolStats()
  t.is(after.bytesInUse, before.bytesInUse, 'an empty released buffer holds nothing')
  t.true(after.bytesCached >= during.bytesCached, 'the chunk went back to the free list')
  const again = new LinkBuffer()
  again.writeByte(1)
  t.is(poolStats().hits, after.hits + 1, 'the next buffer reuses it')
  again.flush()
  again.skip(1)
  again.release()
})

test.serial('the pool gives back what a burst cached once the engine has been quiet', async (t) => {
  // A burst: 64 buffers of 64 KiB taken at once, then released (4 MiB cached, over the 1 MiB floor).
  const burst = Array.from({ length: 64 }, () => {
    const b = new LinkBuffer()
    b.writeBinary(Buffer.alloc(64 * 1024, 7))
    return b
  })
  for (const b of burst) {
    b.flush()
    b.skip(b.len())
    b.release()
  }
  const cached = poolStats()
  t.true(cached.bytesCached >= 4 << 20, `${cached.bytesCached} bytes cached after the burst`)
  // Some traffic on the engine, then quiet: its shard releases idle memory 1 s later.
  const ln = await createListener('tcp', '127.0.0.1:0')
  let got = 0
  const loop = new EventLoop((conn) => {
    got += conn.reader.tryNext(conn.reader.len())!.length
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  s.write('burst over')
  await until(() => got === 10)
  s.destroy()
  // (The engine may take some of the cached buffers meanwhile: only a trim brings bytesTrimmed up.)
  await until(() => poolStats().bytesTrimmed > cached.bytesTrimmed, 10_000)
  const trimmed = poolStats()
  t.true(trimmed.bytesCached <= 1 << 20, `${trimmed.bytesCached} bytes still cached`)
  const takenByEngine = Math.max(0, trimmed.bytesInUse - cached.bytesInUse)
  t.true(trimmed.bytesTrimmed - cached.bytesTrimmed >= cached.bytesCached - takenByEngine - (1 << 20), 'what was over the floor was freed')
  t.is(trimmed.bytesHeld, trimmed.bytesInUse + trimmed.bytesCached)
  await loop.shutdown({ timeout: 1000 })
})

const badSizes: Array<[unknown, string, string]> = [
  [-1, 'RangeError', 'ERR_OUT_OF_RANGE'],
  [1.5, 'RangeError', 'ERR_OUT_OF_RANGE'],
  [NaN, 'RangeError', 'ERR_OUT_OF_RANGE'],
  [Infinity, 'RangeError', 'ERR_OUT_OF_RANGE'],
  [2 ** 53, 'RangeError', 'ERR_OUT_OF_RANGE'],
  ['3', 'TypeError', 'ERR_INVALID_ARG_TYPE'],
  [undefined, 'TypeError', 'ERR_INVALID_ARG_TYPE'],
]

test('bad sizes throw clear errors and change nothing', (t) => {
  const b = new LinkBuffer()
  b.writeString('0123456789')
  b.flush()
  b.writeString('xy')
  const calls: Array<[string, (n: any) => unknown]> = [
    ['next', (n) => b.next(n)],
    ['peek', (n) => b.peek(n)],
    ['skip', (n) => b.skip(n)],
    ['readString', (n) => b.readString(n)],
    ['readBinary', (n) => b.readBinary(n)],
    ['slice', (n) => b.slice(n)],
    ['malloc', (n) => b.malloc(n)],
    ['mallocAck', (n) => b.mallocAck(n)],
    ['writeDirect', (n) => b.writeDirect(Buffer.from('z'), n)],
  ]
  for (const [name, call] of calls) {
    for (const [value, type, code] of badSizes) {
      const err = t.throws(() => call(value), { code }, `${name}(${String(value)})`)
      t.is(err!.constructor.name, type)
      t.true(err!.message.startsWith(`${name}:`), err!.message)
      t.regex(err!.message, type === 'RangeError' ? /out of range/ : /must be/)
    }
  }
  t.is(b.len(), 10)
  t.is(b.mallocLen(), 2)
})

test('reading more than is readable throws RangeError ERR_BUFFER_OUT_OF_BOUNDS', (t) => {
  const b = new LinkBuffer()
  b.writeString('abc')
  b.flush()
  b.writeString('pending')
  const calls: Array<[string, () => unknown]> = [
    ['next', () => b.next(4)],
    ['next', () => b.next(100_000)],
    ['peek', () => b.peek(4)],
    ['peek', () => b.peek(100_000)],
    ['skip', () => b.skip(4)],
    ['readString', () => b.readString(4)],
    ['readString', () => b.readString(4, 'latin1')],
    ['readBinary', () => b.readBinary(4)],
    ['readBinary', () => b.readBinary(100_000)],
    ['slice', () => b.slice(4)],
  ]
  for (const [name, call] of calls) {
    const err = t.throws(call, { instanceOf: RangeError, code: 'ERR_BUFFER_OUT_OF_BOUNDS' })
    t.regex(err!.message, new RegExp(`^${name}: not enough bytes: need \\d+, have 3$`))
  }
  t.is(b.len(), 3, 'nothing consumed')
  t.throws(() => b.mallocAck(8), { instanceOf: RangeError, code: 'ERR_BUFFER_OUT_OF_BOUNDS', message: /need 8, have 7/ })
  t.throws(() => b.writeDirect(Buffer.from('x'), 8), { instanceOf: RangeError, code: 'ERR_BUFFER_OUT_OF_BOUNDS' })
  t.is(b.mallocLen(), 7, 'nothing changed')
  b.skip(3)
  t.throws(() => b.readByte(), { instanceOf: RangeError, code: 'ERR_BUFFER_OUT_OF_BOUNDS', message: /need 1, have 0/ })
})

test('bad bytes, data and buffers throw clear errors', (t) => {
  const b = new LinkBuffer()
  for (const v of [256, -1, 1.5, NaN]) {
    t.throws(() => b.writeByte(v), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /<= 255/ })
    t.throws(() => b.until(v), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  }
  t.throws(() => b.until('ab'), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => b.writeByte('x' as any), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => b.writeBinary('text' as any), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: /Uint8Array/ })
  t.throws(() => b.writeDirect([1] as any, 0), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => b.writeString(5 as any), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => b.writeString('x', 'nope' as any), { instanceOf: TypeError, code: 'ERR_UNKNOWN_ENCODING' })
  t.throws(() => b.readString(0, 'nope' as any), { instanceOf: TypeError, code: 'ERR_UNKNOWN_ENCODING' })
  t.throws(() => b.append(b), { code: 'ERR_INVALID_ARG_VALUE', message: /itself/ })
  t.throws(() => b.append({} as any), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.is(b.mallocLen(), 0)
})

test('the native class validates too: errors, never a crash', (t) => {
  const raw = new native.NativeLinkBuffer()
  raw.writeString('abc')
  raw.flush()
  for (const v of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    t.throws(() => raw.next(v), { code: 'ERR_OUT_OF_RANGE', message: /out of range/ })
    t.throws(() => raw.mallocAck(v), { code: 'ERR_OUT_OF_RANGE' })
  }
  t.throws(() => raw.next(4), { code: 'ERR_BUFFER_OUT_OF_BOUNDS', message: /need 4, have 3/ })
  t.throws(() => raw.writeByte(300), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => raw.until(-1), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => raw.until(0x7a), { code: 'ERR_NOT_FOUND' })
  t.throws(() => raw.append(raw), { code: 'ERR_INVALID_ARG_VALUE' })
  const into = Buffer.alloc(2)
  raw.peekInto(into)
  t.deepEqual(into, Buffer.from('ab'))
  t.throws(() => raw.readInto(Buffer.alloc(4)), { code: 'ERR_BUFFER_OUT_OF_BOUNDS' })
  t.throws(() => raw.readInto('xx' as any))
  t.throws(() => raw.next('1' as any))
  t.throws(() => raw.writeBinary('x' as any))
  t.is(raw.len(), 3)
  t.is(raw.readByte(), 0x61)
})

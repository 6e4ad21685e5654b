// Batch bytes are copied into JS-owned memory shared by many batches (a slab, like Node's
// Buffer pool): a view a handler keeps must never change when later batches arrive, even
// after the slab fills and a new one starts, and even when JS detaches the memory it viewed.
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import { createListener, EventLoop, Reader } from '../index'
import { netConnect, until } from './helpers'

test.serial('views kept from earlier batches keep their bytes while later batches arrive', async (t) => {
  const kept: Array<{ view: Buffer; digest: string }> = []
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(async (conn) => {
    // Each read keeps a view of the bytes as they arrived (no copy) and its digest now.
    const view = await conn.reader.next(conn.reader.len())
    kept.push({ view, digest: createHash('sha256').update(view).digest('hex') })
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  let sent = 0
  // Small writes, one at a time, so they arrive as many small batches: together several
  // times the slab's size (64 KiB).
  for (let i = 0; i < 400; i++) {
    const chunk = randomBytes(1000 + (i % 7) * 100)
    s.write(chunk)
    sent += chunk.length
    if (i % 20 === 0) await until(() => kept.reduce((n, k) => n + k.view.length, 0) === sent)
  }
  await until(() => kept.reduce((n, k) => n + k.view.length, 0) === sent)
  t.true(kept.length > 20)
  for (const k of kept) t.is(createHash('sha256').update(k.view).digest('hex'), k.digest)
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

// Serial: the detached slab may also hold the bytes of other tests' connections (it is shared,
// like Node's Buffer pool).
test.serial('detaching the memory of a received view breaks nothing: later reads get their bytes', async (t) => {
  const got: Buffer[] = []
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(async (conn) => {
    const r: Reader = conn.reader
    const view = await r.next(r.len())
    got.push(Buffer.from(view))
    // Transferring the ArrayBuffer detaches it from this side: the native side must notice
    // and never write into it again.
    structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] })
    t.is(view.length, 0)
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  const chunks = Array.from({ length: 20 }, (_, i) => Buffer.alloc(100 + i, i + 1))
  for (const c of chunks) {
    s.write(c)
    await until(() => got.length > 0 && Buffer.concat(got).length === Buffer.concat(chunks.slice(0, chunks.indexOf(c) + 1)).length)
  }
  t.deepEqual(Buffer.concat(got), Buffer.concat(chunks))
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

// Batch bytes are copied into JS-owned memory shared by many batches (a slab, like Node's
// Buffer pool): a view a handler keeps must never change when later batches arrive, even
// after the slab fills and a new one starts, and even when JS detaches the memory it viewed;
// and a few bytes a connection leaves buffered must not keep a whole slab alive.
import test, { ExecutionContext } from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import * as net from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Connection, createListener, EventLoop, Reader } from '../index'
import { frame, netConnect, readExactly, until } from './helpers'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

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

/** Bytes of ArrayBuffers alive after full collections. */
function arrayBufferBytes(): number {
  gc()
  gc()
  return process.memoryUsage().arrayBuffers
}

const HOLDERS = 200
const PUSHED_FRAMES = 18 // of 14 KiB between two partial frames: more than a 256 KiB slab
const MARK = 0xaa // first payload byte of the pusher's frames

/**
 * HOLDERS connections each leave 3 bytes of a frame header buffered, while a pusher's consumed
 * traffic fills the shared memory between them (as a peer holding many connections would):
 * the ArrayBuffer memory held must stay near what is buffered, not a slab per connection.
 * Then every frame is completed and must arrive intact (the bytes kept were the right ones).
 */
async function holdPartialFrames(t: ExecutionContext, handler: 'sync' | 'async'): Promise<void> {
  t.timeout(120_000)
  const holding = new Set<Connection>()
  const completed = new Map<number, Buffer>()
  const take = (conn: Connection, f: Buffer): void => {
    if (f[4] === MARK) {
      conn.writer.writeBinary(Buffer.from([1])) // the pusher's ack
      void conn.writer.flush().catch(() => {})
    } else completed.set(f.readUInt32BE(4), Buffer.from(f))
  }
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(
    handler === 'sync'
      ? (conn) => {
          const r = conn.reader
          for (;;) {
            const n = r.tryPeekUInt32BE()
            const f = n === null ? null : r.tryNext(4 + n)
            if (f === null) break
            take(conn, f)
          }
          if (r.len() > 0) holding.add(conn)
          else holding.delete(conn)
        }
      : async (conn) => {
          holding.add(conn)
          const n = (await conn.reader.next(4)).readUInt32BE(0)
          holding.delete(conn)
          const p = await conn.reader.next(n)
          const f = Buffer.alloc(4 + n)
          f.writeUInt32BE(n, 0)
          p.copy(f, 4)
          take(conn, f)
        },
  )
  loop.serve(ln)
  const port = ln.address.port!
  const pusher = await netConnect({ host: '127.0.0.1', port })
  const holders: net.Socket[] = []
  for (let i = 0; i < HOLDERS; i++) holders.push(await netConnect({ host: '127.0.0.1', port }))
  const payloads = holders.map((_, i) => {
    const p = randomBytes(40)
    p.writeUInt32BE(i, 0)
    return p
  })
  const pushed = randomBytes(14 * 1024)
  pushed[0] = MARK
  const push = frame(pushed)
  const before = arrayBufferBytes()
  for (let i = 0; i < HOLDERS; i++) {
    for (let k = 0; k < PUSHED_FRAMES; k++) {
      pusher.write(push)
      await readExactly(pusher, 1)
    }
    holders[i].write(frame(payloads[i]).subarray(0, 3))
    await until(() => holding.size === i + 1, 10_000)
  }
  const held = arrayBufferBytes() - before
  const buffered = HOLDERS * 3
  t.log(`${handler}: ${HOLDERS} connections buffering 3 bytes each hold ${(held / 2 ** 20).toFixed(2)} MiB of ArrayBuffers`)
  // A small multiple of the bytes buffered plus a fixed allowance (the current slab, the
  // records array, Node's Buffer pool); a slab pinned per connection would be 50 MiB.
  t.true(held <= 4 * buffered + (2 << 20), `${held} bytes of ArrayBuffers held for ${buffered} buffered bytes`)
  for (let i = 0; i < HOLDERS; i++) holders[i].write(frame(payloads[i]).subarray(3))
  await until(() => completed.size === HOLDERS, 10_000)
  for (let i = 0; i < HOLDERS; i++) t.deepEqual(completed.get(i), frame(payloads[i]))
  pusher.destroy()
  for (const s of holders) s.destroy()
  await loop.shutdown({ timeout: 1000 })
}

test.serial('partial frames left by a sync handler pin their bytes, not the shared slab', (t) => holdPartialFrames(t, 'sync'))
test.serial('partial frames awaited by an async handler pin their bytes, not the shared slab', (t) => holdPartialFrames(t, 'async'))

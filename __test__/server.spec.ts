import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync } from 'node:fs'
import * as net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Connection, createListener, dial, EventLoop, NetpollError, stats } from '../index'
import { frame, framedEcho, netConnect, readExactly, until } from './helpers'

test('framed echo over TCP, answered to a net client', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  t.is(ln.address.address, '127.0.0.1')
  t.true((ln.address.port ?? 0) > 0)
  const loop = new EventLoop(framedEcho)
  const served = loop.serve(ln)
  const s = await netConnect({ port: ln.address.port!, host: '127.0.0.1' })
  for (const size of [0, 1, 1024, 100_000]) {
    const p = randomBytes(size)
    s.write(frame(p))
    const back = await readExactly(s, 4 + size)
    t.true(back.equals(frame(p)), `echo of ${size} bytes`)
  }
  s.destroy()
  t.deepEqual(await loop.shutdown({ timeout: 1000 }), { forced: 0 })
  await served
})

test('callback order: onPrepare, onConnect, onRequest..., onDisconnect, close callbacks', async (t) => {
  const events: string[] = []
  const ln = await createListener('tcp4', '127.0.0.1:0')
  let closedResolve: () => void
  const closed = new Promise<void>((r) => (closedResolve = r))
  const loop = new EventLoop(
    async (conn) => {
      events.push('request')
      await framedEcho(conn)
    },
    {
      onPrepare: (conn) => {
        events.push('prepare')
        conn.addCloseCallback(() => {
          events.push('close')
          closedResolve()
        })
      },
      onConnect: async () => {
        await new Promise((r) => setTimeout(r, 10))
        events.push('connect')
      },
      onDisconnect: (conn) => {
        events.push(`disconnect active=${conn.isActive()}`)
      },
    },
  )
  loop.serve(ln)
  const s = await netConnect({ port: ln.address.port!, host: '127.0.0.1' })
  s.write(Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b'))]))
  await readExactly(s, 10)
  s.end()
  await closed
  t.deepEqual(events, ['prepare', 'connect', 'request', 'request', 'disconnect active=false', 'close'])
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('a handler that throws closes its connection and the server keeps serving', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const errors: unknown[] = []
  const loop = new EventLoop(
    async (conn) => {
      const first = (await conn.reader.peek(1))[0]
      if (first === 0xff) throw new Error('boom')
      await framedEcho(conn)
    },
    { onError: (e) => errors.push(e) },
  )
  loop.serve(ln)
  const bad = await netConnect({ port: ln.address.port!, host: '127.0.0.1' })
  const ended = new Promise<void>((r) => bad.on('close', () => r()))
  bad.on('error', () => {})
  bad.write(Buffer.from([0xff, 0, 0, 0]))
  await ended
  t.is((errors[0] as Error).message, 'boom')
  const good = await netConnect({ port: ln.address.port!, host: '127.0.0.1' })
  good.write(frame(Buffer.from('still here')))
  t.is((await readExactly(good, 14)).subarray(4).toString(), 'still here')
  good.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('unix socket: served, and the socket file is removed on close', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netpoll-'))
  const path = join(dir, 's.sock')
  const ln = await createListener('unix', path)
  t.is(ln.address.family, 'unix')
  t.true(existsSync(path))
  const loop = new EventLoop(framedEcho)
  loop.serve(ln)
  const c = await dial('unix', path)
  c.writer.writeBinary(frame(Buffer.from('over uds')))
  await c.writer.flush()
  const n = (await c.reader.next(4)).readUInt32BE(0)
  t.is((await c.reader.next(n)).toString(), 'over uds')
  c.close()
  await loop.shutdown({ timeout: 1000 })
  t.false(existsSync(path))
})

test('EADDRINUSE with address and port', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const e = await t.throwsAsync<NetpollError>(createListener('tcp', `127.0.0.1:${ln.address.port}`))
  t.is(e?.code, 'EADDRINUSE')
  t.is(e?.port, ln.address.port)
  t.is(e?.address, '127.0.0.1')
  ln.close()
})

test('dial: ECONNREFUSED on a closed port, with address and port', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const port = ln.address.port!
  ln.close()
  const e = await t.throwsAsync<NetpollError>(dial('tcp', `127.0.0.1:${port}`))
  t.is(e?.code, 'ECONNREFUSED')
})

test('dial: ENOENT for a missing unix socket file', async (t) => {
  const e = await t.throwsAsync<NetpollError>(dial('unix', join(tmpdir(), 'netpoll-missing-' + process.pid)))
  t.is(e?.code, 'ENOENT')
})

test('isActive turns false when the peer closes, without a read', async (t) => {
  const server = net.createServer((s) => setTimeout(() => s.end(), 20))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as net.AddressInfo).port
  const c = await dial('tcp', `127.0.0.1:${port}`)
  t.true(c.isActive())
  await until(() => !c.isActive())
  t.false(c.isActive())
  c.close()
  server.close()
})

test('read timeout rejects a waiting read with ERR_READ_TIMEOUT; the connection stays open', async (t) => {
  let peer: net.Socket | null = null
  const server = net.createServer((s) => (peer = s))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const c = await dial('tcp', `127.0.0.1:${(server.address() as net.AddressInfo).port}`)
  c.setReadTimeout(50)
  const e = await t.throwsAsync<NetpollError>(c.reader.next(4))
  t.is(e?.code, 'ERR_READ_TIMEOUT')
  t.true(c.isActive())
  c.setReadTimeout(0)
  await until(() => peer !== null)
  ;(peer as unknown as net.Socket).write('late')
  t.is((await c.reader.next(4)).toString(), 'late')
  c.close()
  server.close()
})

test('idle timeout closes the connection with ERR_IDLE_TIMEOUT', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  let closeError: NetpollError | null = null
  const loop = new EventLoop(framedEcho, {
    idleTimeout: 100,
    onPrepare: (conn) => conn.addCloseCallback((_c, e) => (closeError = e)),
  })
  loop.serve(ln)
  const s = await netConnect({ port: ln.address.port!, host: '127.0.0.1' })
  const closed = new Promise<void>((r) => s.on('close', () => r()))
  await closed
  await until(() => closeError !== null)
  t.is((closeError as NetpollError | null)?.code, 'ERR_IDLE_TIMEOUT')
  await loop.shutdown({ timeout: 1000 })
})

test('byte integrity: 100 MB through 100 connections, random frame sizes and splits', async (t) => {
  t.timeout(120_000)
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(framedEcho)
  loop.serve(ln)
  const perConn = 1_000_000
  const clients = Array.from({ length: 100 }, async () => {
    const s = await netConnect({ port: ln.address.port!, host: '127.0.0.1' })
    const sent = createHash('sha256')
    const got = createHash('sha256')
    let total = 0
    let received = 0
    const frames: Buffer[] = []
    while (total < perConn) {
      const size = 1 + Math.floor(Math.random() ** 3 * 256 * 1024)
      const f = frame(randomBytes(size))
      frames.push(f)
      sent.update(f)
      total += f.length
    }
    const all = Buffer.concat(frames)
    const done = new Promise<void>((resolve, reject) => {
      s.on('data', (d) => {
        got.update(d)
        received += d.length
        if (received === all.length) resolve()
      })
      s.on('error', reject)
    })
    for (let off = 0; off < all.length; ) {
      const n = 1 + Math.floor(Math.random() * 64 * 1024)
      s.write(all.subarray(off, off + n))
      off += n
    }
    await done
    s.destroy()
    return [sent.digest('hex'), got.digest('hex')]
  })
  for (const [a, b] of await Promise.all(clients)) t.is(b, a)
  await loop.shutdown({ timeout: 2000 })
})

test('stats count connections and bytes', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(framedEcho)
  loop.serve(ln)
  const before = stats()
  const c = await dial('tcp', ln.toString())
  c.writer.writeBinary(frame(Buffer.alloc(100)))
  await c.writer.flush()
  await c.reader.next(104)
  const after = stats()
  t.true(after.bytesIn - before.bytesIn >= 208)
  t.true(after.accepted > before.accepted)
  c.close()
  await loop.shutdown({ timeout: 1000 })
})

test('a connection closed locally rejects later writes and reads with ERR_CONN_CLOSED', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(framedEcho)
  loop.serve(ln)
  const c: Connection = await dial('tcp', ln.toString())
  let closes = 0
  c.addCloseCallback(() => closes++)
  c.close()
  c.close()
  t.is(closes, 1)
  t.false(c.isActive())
  t.is(t.throws<NetpollError>(() => c.writer.writeBinary(Buffer.from('x')))?.code, 'ERR_CONN_CLOSED')
  t.is((await t.throwsAsync<NetpollError>(c.reader.next(1)))?.code, 'ERR_CONN_CLOSED')
  await loop.shutdown({ timeout: 1000 })
})

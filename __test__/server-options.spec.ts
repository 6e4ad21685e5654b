// Every option and error of configure, createListener, EventLoop and Connection on the
// server side, over real loopback and Unix sockets.
import test from 'ava'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import * as net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { configure, Connection, createListener, dial, EventLoop, getConfig, NetpollError } from '../index'
import { bounded } from './client/helpers'
import { connectedPair, frame, framedEcho, netConnect, readExactly, until } from './helpers'

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    return (e as NetpollError).code ?? (e as Error).name
  }
  return undefined
}

test.serial('configure validates every option, then is fixed once the engine runs', async (t) => {
  t.is(codeOf(() => configure({ mode: 'fast' as never })), 'TypeError')
  t.is(codeOf(() => configure({ pollers: 0 })), 'ERR_OUT_OF_RANGE')
  t.is(codeOf(() => configure({ pollers: 1.5 })), 'ERR_OUT_OF_RANGE')
  t.is(codeOf(() => configure({ loadBalance: 'fastest' as never })), 'TypeError')
  t.is(codeOf(() => configure({ highWaterMark: -1 })), 'ERR_OUT_OF_RANGE')
  t.is(codeOf(() => configure({ maxOutput: 0 })), 'ERR_OUT_OF_RANGE')
  t.is(codeOf(() => configure({ highWaterMark: 1000, lowWaterMark: 2000 })), 'RangeError')
  const before = getConfig()
  configure({ loadBalance: 'least-connections' })
  t.is(getConfig().loadBalance, 'least-connections')
  t.is(getConfig().mode, before.mode, 'a failed configure changed nothing')
  const ln = await createListener('tcp', '127.0.0.1:0') // starts the engine
  t.is(codeOf(() => configure({ pollers: 2 })), 'ERR_ENGINE_STARTED')
  ln.close()
})

test('listeners: tcp4, tcp6 and dual-stack addresses, toString, and bad arguments', async (t) => {
  const v4 = await createListener('tcp4', '127.0.0.1:0')
  t.deepEqual(v4.address, { address: '127.0.0.1', port: v4.address.port, family: 'IPv4' })
  t.is(v4.toString(), `127.0.0.1:${v4.address.port}`)
  t.is(v4.network, 'tcp4')
  const v6 = await createListener('tcp6', '[::1]:0')
  t.is(v6.address.family, 'IPv6')
  t.is(v6.toString(), `[::1]:${v6.address.port}`)
  const s6 = await netConnect({ host: '::1', port: v6.address.port! })
  s6.destroy()
  // `::` is dual-stack unless ipv6Only: IPv4 clients reach the first, not the second.
  const dual = await createListener('tcp', '[::]:0')
  const s4 = await netConnect({ host: '127.0.0.1', port: dual.address.port! })
  s4.destroy()
  const only6 = await createListener('tcp', '[::]:0', { ipv6Only: true })
  const refused = await t.throwsAsync(netConnect({ host: '127.0.0.1', port: only6.address.port! }))
  t.is((refused as NodeJS.ErrnoException).code, 'ECONNREFUSED')
  await t.throwsAsync(createListener('tcp', '127.0.0.1:0', { backlog: 0 }), { instanceOf: RangeError })
  const bad = await t.throwsAsync<NetpollError>(createListener('tcp', 'no-port-here'))
  t.is(bad?.code, 'ERR_INVALID_ADDRESS')
  const v4only = await t.throwsAsync<NetpollError>(createListener('tcp4', '[::1]:0'))
  t.is(v4only?.code, 'ERR_INVALID_ADDRESS')
  const tooLong = await t.throwsAsync<NetpollError>(createListener('unix', join(tmpdir(), 'x'.repeat(200))))
  t.is(tooLong?.code, 'ENAMETOOLONG')
  for (const l of [v4, v6, dual, only6]) l.close()
  t.true(v4.isClosed)
})

test('a listener with a small backlog still serves every connection', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0', { backlog: 4 })
  const loop = new EventLoop(framedEcho)
  loop.serve(ln)
  const clients = await Promise.all(Array.from({ length: 20 }, () => netConnect({ host: '127.0.0.1', port: ln.address.port! })))
  for (const s of clients) s.write(frame(Buffer.from('hi')))
  for (const s of clients) t.deepEqual(await readExactly(s, 6), frame(Buffer.from('hi')))
  for (const s of clients) s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('EACCES with the path or port, as an unprivileged user', async (t) => {
  if (process.getuid?.() !== 0) {
    t.pass('not root: the suite itself is unprivileged; covered by the Rust listener test')
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'np-eacces-'))
  const ro = join(dir, 'ro')
  mkdirSync(ro)
  chmodSync(ro, 0o555)
  chmodSync(dir, 0o755)
  const script = `
    const { createListener } = require(${JSON.stringify(join(__dirname, '..', 'index.js'))})
    const out = {}
    createListener('unix', ${JSON.stringify(join(ro, 'x.sock'))})
      .catch((e) => { out.unix = { code: e.code, address: e.address } })
      .then(() => createListener('tcp4', '127.0.0.1:80'))
      .catch((e) => { out.tcp = { code: e.code, port: e.port } })
      .then(() => { console.log(JSON.stringify(out)); process.exit(0) })`
  // Asynchronous: a synchronous child would stall the other tests' timers.
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string; missing: boolean }>((resolve) => {
    execFile(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script],
      { encoding: 'utf8', timeout: 20_000 },
      (e, stdout, stderr) =>
        resolve({ status: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout, stderr, missing: e?.code === 'ENOENT' }),
    )
  })
  if (r.missing) {
    t.pass('setpriv is not installed: skipped')
    return
  }
  t.is(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}')
  t.deepEqual(out.unix, { code: 'EACCES', address: join(ro, 'x.sock') })
  const start = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'))
  if (start > 80) t.deepEqual(out.tcp, { code: 'EACCES', port: 80 })
})

test('EventLoop options are validated', (t) => {
  t.throws(() => new EventLoop(null as never), { instanceOf: TypeError })
  t.throws(() => new EventLoop(framedEcho, { readTimeout: -1 }), { instanceOf: RangeError })
  t.throws(() => new EventLoop(framedEcho, { idleTimeout: Number.NaN }), { instanceOf: RangeError })
  t.throws(() => new EventLoop(framedEcho, { keepAlive: -5 }), { instanceOf: RangeError })
})

test('onError receives what a handler throws; an async onConnect runs before onRequest', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const order: string[] = []
  const errors: unknown[] = []
  const loop = new EventLoop(
    async (conn) => {
      order.push('request')
      const n = (await conn.reader.next(4)).readUInt32BE(0)
      const p = await conn.reader.next(n)
      if (p.toString() === 'boom') throw new Error('boom')
      conn.writer.writeBinary(frame(p))
      await conn.writer.flush()
    },
    {
      onConnect: async () => {
        order.push('connect start')
        await new Promise((r) => setTimeout(r, 30))
        order.push('connect end')
      },
      onError: (e) => errors.push(e),
      noDelay: false,
      keepAlive: 1000,
    },
  )
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  s.write(frame(Buffer.from('ok')))
  t.deepEqual(await readExactly(s, 6), frame(Buffer.from('ok')))
  t.deepEqual(order.slice(0, 3), ['connect start', 'connect end', 'request'])
  const closed = new Promise((r) => s.on('close', r))
  s.write(frame(Buffer.from('boom')))
  await closed
  await until(() => errors.length === 1)
  t.is((errors[0] as Error).message, 'boom')
  await loop.shutdown({ timeout: 1000 })
})

test('addresses, setOnRequest, close callbacks after close, and flushes resolving in order', async (t) => {
  const { loop, port, client: s, conn } = await connectedPair()
  t.deepEqual(conn.localAddress, { address: '127.0.0.1', port, family: 'IPv4' })
  t.deepEqual(conn.remoteAddress, { address: '127.0.0.1', port: s.localPort, family: 'IPv4' })

  // A replaced handler gets the next input.
  conn.setOnRequest(async (c) => {
    const b = await c.reader.next(c.reader.len())
    c.writer.writeBinary(Buffer.concat([Buffer.from('re:'), b]))
    await c.writer.flush()
  })
  s.write('x')
  t.is((await readExactly(s, 4)).toString(), 're:x')

  // Concurrent flushes: each resolves, in the order issued, and the bytes arrive in order.
  conn.setOnRequest(null)
  const done: number[] = []
  const parts = Array.from({ length: 20 }, (_, i) => randomBytes(1000 + i * 5000))
  const flushes = parts.map((p, i) => {
    conn.writer.writeBinary(p)
    return conn.writer.flush().then(() => done.push(i))
  })
  const total = parts.reduce((n, p) => n + p.length, 0)
  // equals(), not deepEqual: ava's deep comparison of a MiB-sized Buffer blocks the loop for seconds.
  t.true((await readExactly(s, total)).equals(Buffer.concat(parts)))
  await Promise.all(flushes)
  t.deepEqual(done, parts.map((_, i) => i))

  const calls: Array<string | null> = []
  conn.addCloseCallback((_c, e) => calls.push(e?.code ?? null))
  conn.close()
  conn.close()
  conn.addCloseCallback((_c, e) => calls.push(`late:${e?.code ?? null}`))
  await until(() => calls.length === 2)
  t.deepEqual(calls, [null, 'late:null'])
  t.is(conn.localAddress?.port, port, 'kept for close callbacks and logs')
  t.false(conn.isActive())
  t.throws(() => conn.addCloseCallback(null as never), { instanceOf: TypeError })
  t.throws(() => conn.setReadTimeout(-1), { instanceOf: RangeError })
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('isActive turns false after a reset from the peer, and the close carries ECONNRESET', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  let server: Connection | null = null
  let closeCode: string | null | undefined
  const loop = new EventLoop(async () => {}, {
    onPrepare: (c) => {
      server = c
      c.addCloseCallback((_c, e) => (closeCode = e?.code ?? null))
    },
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  await until(() => server !== null)
  t.true((server as unknown as Connection).isActive())
  s.resetAndDestroy()
  await until(() => !(server as unknown as Connection).isActive())
  await until(() => closeCode !== undefined)
  t.is(closeCode, 'ECONNRESET')
  await loop.shutdown({ timeout: 1000 })
})

test('write timeout: a peer that never reads is closed with ERR_WRITE_TIMEOUT', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  let closeCode: string | undefined
  let flushError: NetpollError | undefined
  const loop = new EventLoop(
    async (conn) => {
      await conn.reader.next(1)
      conn.writer.writeBinary(Buffer.alloc(32 << 20))
      await conn.writer.flush().catch((e) => (flushError = e))
    },
    { writeTimeout: 200, onPrepare: (c) => c.addCloseCallback((_c, e) => (closeCode = e?.code)) },
  )
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  s.pause()
  s.write('x')
  await until(() => closeCode !== undefined, 10_000)
  t.is(closeCode, 'ERR_WRITE_TIMEOUT')
  t.is(flushError?.code, 'ERR_WRITE_TIMEOUT')
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

/** A net server (this process) whose one connection is handed to `use`; resolves with its address. */
async function netPeer(use: (s: net.Socket) => void): Promise<{ address: string; close: () => void }> {
  const server = net.createServer(use)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, close: () => server.close() }
}

test('an empty flush (malloc(0), then flush) is a no-op: it settles and the connection stays open', async (t) => {
  const received: Buffer[] = []
  const server = await netPeer((s) => s.on('data', (d: Buffer) => received.push(d)))
  const conn = await dial('tcp', server.address)
  let closeCode: string | null | undefined
  conn.addCloseCallback((_c, e) => (closeCode = e?.code ?? null))
  try {
    conn.writer.malloc(0)
    await bounded(conn.writer.flush(), 5000, 'the empty flush')
    // Empty bodies between real bytes, and an empty flush behind a flush in flight.
    conn.writer.writeString('ab')
    conn.writer.malloc(0)
    const first = conn.writer.flush()
    conn.writer.malloc(0)
    await bounded(Promise.all([first, conn.writer.flush()]), 5000, 'the flushes')
    conn.writer.malloc(0)
    conn.writer.writeString('c')
    await bounded(conn.writer.flush(), 5000, 'the last flush')
    await until(() => Buffer.concat(received).toString() === 'abc')
    t.true(conn.isActive())
    t.is(closeCode, undefined)
  } finally {
    conn.close()
    server.close()
  }
})

test('write timeout means no progress: a slow peer that keeps reading is served 16 MiB; one that stops is cut', async (t) => {
  const TIMEOUT = 500
  let peer: net.Socket | null = null
  let got = 0
  let reading = true
  const server = await netPeer((s) => {
    peer = s
    s.pause()
  })
  // 128 KiB every 20 ms (at most ~6 MiB/s; the socket buffers hide part of it): 16 MiB
  // take seconds, many times the timeout.
  const reader = setInterval(() => {
    if (!reading || peer === null) return
    let chunk: Buffer | null
    let n = 0
    while (n < 128 << 10 && (chunk = peer.read()) !== null) n += chunk.length
    got += n
  }, 20)
  const conn = await dial('tcp', server.address)
  let closeCode: string | null | undefined
  conn.addCloseCallback((_c, e) => (closeCode = e?.code ?? null))
  conn.setWriteTimeout(TIMEOUT)
  try {
    const start = Date.now()
    conn.writer.writeBinary(Buffer.alloc(16 << 20))
    await conn.writer.flush()
    const took = Date.now() - start
    t.true(took > 2 * TIMEOUT, `the flush took ${took} ms: the peer was not slow enough to test anything`)
    t.is(closeCode, undefined)
    t.true(conn.isActive())
    await until(() => got === 16 << 20, 10_000)
    // The peer stops reading: no progress, so the timeout closes the connection.
    reading = false
    conn.writer.writeBinary(Buffer.alloc(16 << 20))
    const e = await t.throwsAsync<NetpollError>(conn.writer.flush())
    t.is(e?.code, 'ERR_WRITE_TIMEOUT')
    t.is(closeCode, 'ERR_WRITE_TIMEOUT')
  } finally {
    clearInterval(reader)
    conn.close()
    ;(peer as net.Socket | null)?.destroy()
    server.close()
  }
})

test('shutdown: refuses new connections at once, lets in-flight handlers answer, forces stragglers', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const port = ln.address.port!
  let started = 0
  const loop = new EventLoop(async (conn) => {
    const n = (await conn.reader.next(4)).readUInt32BE(0)
    const p = await conn.reader.next(n)
    started++
    // 'slow' answers after 100 ms (inside the deadline); 'stuck' never does.
    await new Promise((r) => setTimeout(r, p.toString() === 'stuck' ? 60_000 : 100).unref())
    conn.writer.writeBinary(frame(p))
    await conn.writer.flush()
  })
  loop.serve(ln)
  const slow = await Promise.all(Array.from({ length: 10 }, () => netConnect({ host: '127.0.0.1', port })))
  const idle = await netConnect({ host: '127.0.0.1', port })
  const stuck = await netConnect({ host: '127.0.0.1', port })
  for (const s of slow) s.write(frame(Buffer.from('slow')))
  stuck.write(frame(Buffer.from('stuck')))
  await until(() => loop.connections === 12 && started === 11) // every handler is running
  const idleClosed = new Promise((r) => idle.on('close', r))
  const stuckClosed = new Promise((r) => stuck.on('close', r))
  const result = loop.shutdown({ timeout: 600 })
  const e = await t.throwsAsync(netConnect({ host: '127.0.0.1', port }))
  t.is((e as NodeJS.ErrnoException).code, 'ECONNREFUSED')
  await idleClosed
  for (const s of slow) t.deepEqual(await readExactly(s, 8), frame(Buffer.from('slow')))
  t.deepEqual(await result, { forced: 1 })
  await stuckClosed
  for (const s of slow) s.destroy()
  await t.throwsAsync(loop.serve(ln), { message: /shut down/ })
})

test('maxConnections refuses the extra connection; stats() counts accepted, refused, errors and closes', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  t.throws(() => new EventLoop(framedEcho, { maxConnections: 0 }), { instanceOf: RangeError })
  const loop = new EventLoop(
    async (conn) => {
      const b = await conn.reader.next(1)
      if (b[0] === 0x21) throw new Error('bang')
      conn.writer.writeBinary(b)
      await conn.writer.flush()
    },
    { maxConnections: 2 },
  )
  loop.serve(ln)
  const port = ln.address.port!
  const a = await netConnect({ host: '127.0.0.1', port })
  const b = await netConnect({ host: '127.0.0.1', port })
  await until(() => loop.connections === 2)
  const c = await netConnect({ host: '127.0.0.1', port })
  await new Promise((r) => c.on('close', r)) // refused: closed at once
  a.write('a')
  t.is((await readExactly(a, 1)).toString(), 'a', 'the others are served')
  b.write('!') // the handler throws: closed
  await new Promise((r) => b.on('close', r))
  a.resetAndDestroy()
  await until(() => loop.connections === 0)
  // Both closed with an error: the handler's, and the reset.
  t.deepEqual(loop.stats(), { connections: 0, accepted: 2, closed: 2, closedWithError: 2, refused: 1, handlerErrors: 1 })
  await loop.shutdown({ timeout: 1000 })
})

test('conn.stats() counts bytes in, out, buffered and queued', async (t) => {
  const { loop, client: s, conn } = await connectedPair()
  conn.setOnRequest(null)
  t.deepEqual(conn.stats(), { bytesIn: 0, bytesOut: 0, bytesBuffered: 0, bytesQueued: 0 })
  s.write(Buffer.alloc(1000, 1))
  await until(() => conn.stats().bytesIn === 1000)
  t.is(conn.stats().bytesBuffered, 1000)
  await conn.reader.next(400)
  t.is(conn.stats().bytesBuffered, 600)
  conn.writer.writeBinary(Buffer.alloc(300))
  t.is(conn.stats().bytesQueued, 300)
  await conn.writer.flush()
  t.like(conn.stats(), { bytesIn: 1000, bytesOut: 300, bytesBuffered: 600, bytesQueued: 0 })
  t.is((await readExactly(s, 300)).length, 300)
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

// netpoll's Server against net.Server: listen forms, address(), errors with net's fields,
// maxConnections and 'drop', pauseOnConnect, getConnections, close ordering; Socket options.
import test from 'ava'
import { mkdtempSync } from 'node:fs'
import * as net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer, Server, Socket } from '../../index'
import { until } from '../helpers'

function listening(s: net.Server | Server, ...args: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject)
    ;(s.listen as (...a: unknown[]) => unknown)(...args, () => {
      s.off('error', reject)
      resolve()
    })
  })
}

function errorOf(s: net.Server | Server, ...args: unknown[]): Promise<NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    s.once('error', resolve)
    ;(s.listen as (...a: unknown[]) => unknown)(...args)
  })
}

test('EADDRINUSE has the same code, syscall, address and port as net', async (t) => {
  const taken = net.createServer()
  await listening(taken, 0, '127.0.0.1')
  const port = (taken.address() as net.AddressInfo).port
  const want = await errorOf(net.createServer(), port, '127.0.0.1')
  const got = await errorOf(createServer(), port, '127.0.0.1')
  const pick = (e: NodeJS.ErrnoException & { address?: string; port?: number }) => [e.code, e.syscall, e.address, e.port, e.errno]
  t.deepEqual(pick(got), pick(want))
  taken.close()
})

test('listen(port) binds every interface like net; address() and listening', async (t) => {
  const n = net.createServer()
  const s = createServer()
  t.false(s.listening)
  t.is(s.address(), null)
  await listening(n, 0)
  await listening(s, 0)
  const a = s.address() as net.AddressInfo
  const b = n.address() as net.AddressInfo
  t.is(a.address, b.address)
  t.is(a.family, b.family)
  t.true(a.port > 0)
  t.true(s.listening)
  const c = connect({ port: a.port, host: '127.0.0.1' })
  await new Promise((r) => c.once('connect', r))
  t.is(c.remotePort, a.port)
  t.is(c.remoteAddress, '127.0.0.1')
  t.is(c.remoteFamily, 'IPv4')
  t.deepEqual(c.address(), { address: '127.0.0.1', family: 'IPv4', port: c.localPort! })
  c.destroy()
  n.close()
  await new Promise<void>((r) => s.close(() => r()))
  t.false(s.listening)
})

test('listen(path): a Unix socket server, connect(path)', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'np-net-')), 's.sock')
  const s = createServer((sock) => sock.end('unix-hello'))
  await listening(s, path)
  t.is(s.address(), path)
  const c = connect(path)
  let got = ''
  c.on('data', (d: Buffer) => (got += d.toString()))
  await new Promise((r) => c.once('close', r))
  t.is(got, 'unix-hello')
  await new Promise<void>((r) => s.close(() => r()))
})

test("maxConnections: connections beyond it are closed with 'drop'", async (t) => {
  const held: Socket[] = []
  const s = createServer((sock) => held.push(sock))
  s.maxConnections = 2
  const drops: Array<{ remoteAddress?: string }> = []
  s.on('drop', (d) => drops.push(d))
  await listening(s, 0, '127.0.0.1')
  const port = (s.address() as net.AddressInfo).port
  const clients = Array.from({ length: 3 }, () => net.connect({ port, host: '127.0.0.1' }))
  const closedOne = new Promise((r) => clients.forEach((c) => c.once('close', r)))
  await until(() => held.length === 2 && drops.length === 1)
  await closedOne
  t.is(drops[0].remoteAddress, '127.0.0.1')
  const n = await new Promise<number>((r) => s.getConnections((_e, k) => r(k)))
  t.is(n, 2)
  for (const c of clients) c.destroy()
  // 'close' follows only once every connection has closed.
  let closed = false
  s.close(() => (closed = true))
  await until(() => closed)
  t.true(held.every((h) => h.destroyed))
})

test('pauseOnConnect: nothing is read until resume()', async (t) => {
  let sock: Socket | null = null
  const s = createServer({ pauseOnConnect: true }, (x) => (sock = x))
  await listening(s, 0, '127.0.0.1')
  const c = net.connect({ port: (s.address() as net.AddressInfo).port, host: '127.0.0.1' })
  c.write('early bytes')
  await until(() => sock !== null)
  await new Promise((r) => setTimeout(r, 100))
  const x = sock as unknown as Socket
  t.is(x.bytesRead, 0)
  let got = ''
  x.on('data', (d: Buffer) => (got += d.toString()))
  await until(() => got === 'early bytes')
  t.is(x.bytesRead, 11)
  c.destroy()
  await new Promise<void>((r) => s.close(() => r()))
})

test('close() on a server that is not listening calls back with ERR_SERVER_NOT_RUNNING', async (t) => {
  const e = await new Promise<Error | undefined>((r) => createServer().close(r))
  t.is((e as NodeJS.ErrnoException).code, 'ERR_SERVER_NOT_RUNNING')
})

test('write callbacks run once the bytes were handed over; write() returns false above the high-water mark, then drain', async (t) => {
  let peerGot = 0
  const n = net.createServer((p) => p.on('data', (d: Buffer) => (peerGot += d.length)))
  await listening(n, 0, '127.0.0.1')
  const c = connect({ port: (n.address() as net.AddressInfo).port, host: '127.0.0.1' })
  await new Promise((r) => c.once('connect', r))
  const order: string[] = []
  const big = Buffer.alloc(64 * 1024, 1)
  const ok = c.write(big, () => order.push('cb1'))
  t.false(ok) // 64 KiB > the 16 KiB writableHighWaterMark
  t.is(c.bufferSize, big.length)
  c.write('x', () => order.push('cb2'))
  t.is(c.bytesWritten, big.length + 1)
  await new Promise((r) => c.once('drain', r))
  t.deepEqual(order, ['cb1', 'cb2'])
  await until(() => peerGot === big.length + 1)
  c.destroy()
  n.close()
})

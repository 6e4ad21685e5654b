// netpoll's own options on the net-compatible bridge (no `net` counterpart): `idleTimeout` and
// `writeTimeout` of createServer() and connect(), timed in the shards, real closes.
import test from 'ava'
import * as net from 'node:net'
import { connect, createServer, Socket } from '../../index'
import { bounded } from '../client/helpers'
import { closed, peer, record } from './scenarios'

/** A netpoll server with `options` on 127.0.0.1; resolves with its port and accepted sockets. */
async function server(options: object): Promise<{ port: number; accepted: Socket[]; close: () => void }> {
  const accepted: Socket[] = []
  const s = createServer(options, (socket) => accepted.push(socket))
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  return { port: (s.address() as net.AddressInfo).port, accepted, close: () => s.close() }
}

const nextSocket = async (accepted: Socket[]): Promise<Socket> => {
  for (let i = 0; i < 500 && accepted.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
  if (accepted.length === 0) throw new Error('no connection accepted')
  return accepted[0]
}

test('createServer({ idleTimeout }): a silent connection is closed with ERR_IDLE_TIMEOUT, a chatty one is not', async (t) => {
  const s = await server({ idleTimeout: 400 })
  t.teardown(s.close)
  const silent = net.connect({ port: s.port, host: '127.0.0.1' })
  silent.on('error', () => {})
  silent.resume() // sees the close
  t.teardown(() => silent.destroy())
  const silentClosed = closed(silent)
  const sock = await nextSocket(s.accepted)
  const log = record(sock)
  const started = Date.now()
  await bounded(closed(sock), 10_000, 'idle close')
  const after = Date.now() - started
  t.deepEqual(log, ['error:ERR_IDLE_TIMEOUT', 'close:true'])
  t.true(after >= 300, `closed after ${after} ms`)
  await bounded(silentClosed, 5_000, 'client close')

  // Bytes every 50 ms for 1.2 s (three idle periods) keep a connection open.
  s.accepted.length = 0
  const chatty = net.connect({ port: s.port, host: '127.0.0.1' })
  t.teardown(() => chatty.destroy())
  const other = await nextSocket(s.accepted)
  other.resume()
  for (let i = 0; i < 24; i++) {
    chatty.write('x')
    await new Promise((r) => setTimeout(r, 50))
  }
  t.false(other.destroyed)
  t.is(other.bytesRead, 24)
  chatty.destroy()
  await bounded(closed(other), 5_000, 'close')
  s.close()
})

test('createServer({ writeTimeout }): a peer that stops reading gets cut with ERR_WRITE_TIMEOUT, and every write callback runs', async (t) => {
  const s = await server({ writeTimeout: 300 })
  t.teardown(s.close)
  const c = net.connect({ port: s.port, host: '127.0.0.1' })
  t.teardown(() => c.destroy())
  c.on('error', () => {})
  c.pause() // never reads
  const sock = await nextSocket(s.accepted)
  const log = record(sock)
  let ok = 0
  let failed = 0
  const chunks = 256 // 64 MiB: far beyond the socket buffers
  for (let i = 0; i < chunks; i++) sock.write(Buffer.alloc(256 * 1024, i), (e) => (e ? failed++ : ok++))
  await bounded(closed(sock), 15_000, 'write timeout')
  t.deepEqual(log, ['error:ERR_WRITE_TIMEOUT', 'close:true'])
  t.is(ok + failed, chunks)
  t.true(failed > 0)
  c.destroy()
  s.close()
})

test('connect({ idleTimeout }): a client socket to a silent peer is closed with ERR_IDLE_TIMEOUT', async (t) => {
  const { port, server: p } = await peer({}, () => {})
  t.teardown(() => p.close())
  const s = connect({ port, host: '127.0.0.1', idleTimeout: 300 })
  t.teardown(() => s.destroy())
  const log = record(s)
  await bounded(closed(s), 10_000, 'idle close')
  t.deepEqual(log, ['connect', 'ready', 'error:ERR_IDLE_TIMEOUT', 'close:true'])
  p.close()
})

test('a bad idleTimeout or writeTimeout throws a RangeError before anything listens or connects', (t) => {
  t.throws(() => createServer({ idleTimeout: -1 }), { instanceOf: RangeError })
  t.throws(() => connect({ port: 1, host: '127.0.0.1', writeTimeout: Number.NaN }), { instanceOf: RangeError })
})

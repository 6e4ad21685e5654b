// The rest of net.Socket / net.Server's surface, against Node's net itself: 'lookup' and the
// lookup option, socket.timeout, connecting a closed socket again, listen({ signal, exclusive,
// readableAll, writableAll }), destroy() while writes wait for the connect.
// Each scenario runs on net and on netpoll's bridge, and the recorded sequences are asserted
// equal (see scenarios.ts for the recorder).
import test from 'ava'
import type { LookupAddress } from 'node:dns'
import type { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import * as net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { connect, createServer, Socket } from '../../index'
import { closed, peer, record } from './scenarios'

/** The part of a net.Socket these scenarios use. */
type SocketLike = Duplex & {
  connect(port: number, host: string): unknown
  setTimeout(ms: number): unknown
  timeout?: number
  pending: boolean
  readyState: string
  bytesRead: number
  bytesWritten: number
}
/** The part of a net.Server these scenarios use. */
type ServerLike = EventEmitter & {
  listen(options: object, cb?: () => void): unknown
  listening: boolean
  address(): unknown
  close(cb?: () => void): unknown
}
interface Impl {
  name: string
  connect(o: object): SocketLike
  createServer(): ServerLike
}

const nodeNet: Impl = {
  name: 'net',
  connect: (o) => net.connect(o as net.NetConnectOpts) as unknown as SocketLike,
  createServer: () => net.createServer() as unknown as ServerLike,
}
const netpoll: Impl = {
  name: 'netpoll',
  connect: (o) => connect(o) as unknown as SocketLike,
  createServer: () => createServer() as unknown as ServerLike,
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address?: string | LookupAddress[], family?: number) => void

/**
 * A lookup function answering `addresses` (or `error`) in the form asked for (one address,
 * or every one with `all`), recording the options it was called with into `log`.
 */
function fakeLookup(log: string[], addresses: string[], error?: string) {
  return (host: string, opts: { all?: boolean; family?: number; hints?: number }, cb: LookupCallback): void => {
    log.push(`lookup(${host}, all ${opts.all === true}, family ${opts.family ?? 0}, hints ${opts.hints ?? 0})`)
    setImmediate(() => {
      if (error !== undefined) cb(Object.assign(new Error(`getaddrinfo ${error} ${host}`), { code: error, syscall: 'getaddrinfo', hostname: host }))
      else if (opts.all) cb(null, addresses.map((address) => ({ address, family: net.isIP(address) })))
      else cb(null, addresses[0], net.isIP(addresses[0]))
    })
  }
}

/** Connects by host name (with `extra` options) to a peer that ends at once: 'lookup' events included. */
async function lookupScenario(impl: Impl, host: string, extra: (log: string[]) => object): Promise<string[]> {
  const { port, server } = await peer({}, (s) => s.end('hi'))
  const log: string[] = []
  const s = impl.connect({ port, host, ...extra(log) })
  s.on('lookup', (err: NodeJS.ErrnoException | null, address?: string, family?: number, name?: string) =>
    log.push(`lookup:${err?.code ?? null},${address},${family},${name}`),
  )
  const events = record(s)
  await closed(s)
  server.close()
  return [...log, ...events]
}

const lookups: [string, string, (log: string[]) => object][] = [
  ['one address', 'peer.test', (log) => ({ lookup: fakeLookup(log, ['127.0.0.1']) })],
  ['family 4: one lookup without all', 'peer.test', (log) => ({ family: 4, lookup: fakeLookup(log, ['127.0.0.1']) })],
  ['autoSelectFamily false: one lookup without all', 'peer.test', (log) => ({ autoSelectFamily: false, lookup: fakeLookup(log, ['127.0.0.1']) })],
  ['a refusing address first, then the peer: tried in order', 'peer.test', (log) => ({ lookup: fakeLookup(log, ['127.0.0.2', '127.0.0.1']) })],
  ['the lookup fails: lookup with the error, then error and close', 'nowhere.test', (log) => ({ lookup: fakeLookup(log, [], 'ENOTFOUND') })],
  ["Node's dns.lookup for localhost", 'localhost', () => ({})],
]
for (const [name, host, extra] of lookups) {
  test(`'lookup' events, ${name}: same as net`, async (t) => {
    const want = await lookupScenario(nodeNet, host, extra)
    const got = await lookupScenario(netpoll, host, extra)
    t.deepEqual(got, want)
    t.true(got.some((e) => e.startsWith('lookup:')), got.join(' '))
  })
}

test('connecting to an IP emits no lookup, like net', async (t) => {
  const want = await lookupScenario(nodeNet, '127.0.0.1', (log) => ({ lookup: fakeLookup(log, ['127.0.0.1']) }))
  const got = await lookupScenario(netpoll, '127.0.0.1', (log) => ({ lookup: fakeLookup(log, ['127.0.0.1']) }))
  t.deepEqual(got, want)
  t.false(got.some((e) => e.startsWith('lookup')))
})

test('a lookup option that is not a function throws ERR_INVALID_ARG_TYPE, like net', (t) => {
  const opts = { port: 1, host: 'peer.test', lookup: 'nope' }
  const want = t.throws(() => nodeNet.connect(opts))
  const got = t.throws(() => netpoll.connect(opts))
  t.is((got as NodeJS.ErrnoException).code, (want as NodeJS.ErrnoException).code)
})

/** socket.timeout: unset, from the connect option, then from setTimeout(). */
async function timeoutProperty(impl: Impl): Promise<unknown[]> {
  const { port, server } = await peer({}, () => {})
  const s = impl.connect({ port, host: '127.0.0.1', timeout: 1234 })
  const seen: unknown[] = [s.timeout]
  await new Promise((r) => s.once('connect', r))
  s.setTimeout(50)
  seen.push(s.timeout)
  s.setTimeout(0)
  seen.push(s.timeout)
  s.destroy()
  await closed(s)
  server.close()
  return seen
}

test('socket.timeout: unset on a new socket, then the last setTimeout value, like net', async (t) => {
  t.is(new Socket().timeout, new net.Socket().timeout)
  const want = await timeoutProperty(nodeNet)
  const got = await timeoutProperty(netpoll)
  t.deepEqual(got, want)
  t.deepEqual(got, [1234, 50, 0])
})

/**
 * A closed socket connects again (thrift's client reconnects this way): both lives' events
 * and the state at each close.
 */
async function reconnect(impl: Impl): Promise<string[]> {
  const { port, server } = await peer({}, (s) => s.end('hi'))
  const s = impl.connect({ port, host: '127.0.0.1' })
  const log = record(s)
  const state = (): string => `[pending ${s.pending}, ${s.readyState}, read ${s.bytesRead}, written ${s.bytesWritten}]`
  s.write('abc')
  await closed(s)
  log.push(state())
  s.connect(port, '127.0.0.1')
  log.push(state())
  await closed(s)
  log.push(state())
  server.close()
  return log
}

test('connect() on a closed socket connects it again, as net does', async (t) => {
  const want = await reconnect(nodeNet)
  const got = await reconnect(netpoll)
  t.deepEqual(got, want)
  t.is(got.filter((e) => e === 'connect').length, 2)
})

/** A server's events around listen({ signal, exclusive }) and whether new connects are refused. */
async function listenWithSignal(impl: Impl, aborted: boolean): Promise<string[]> {
  const log: string[] = []
  const server = impl.createServer()
  for (const ev of ['listening', 'close', 'error']) server.on(ev, () => log.push(ev))
  const ac = new AbortController()
  if (aborted) ac.abort()
  server.listen({ port: 0, host: '127.0.0.1', exclusive: true, signal: ac.signal })
  await new Promise((r) => setTimeout(r, 50))
  log.push(`listening ${server.listening}`)
  if (!server.listening) return log
  const port = (server.address() as net.AddressInfo).port
  ac.abort()
  await new Promise((r) => setTimeout(r, 100))
  log.push(`listening ${server.listening}`)
  const c = net.connect({ port, host: '127.0.0.1' })
  await new Promise<void>((r) => {
    c.on('error', (e: NodeJS.ErrnoException) => log.push(`connect:${e.code}`))
    c.on('connect', () => log.push('connect:accepted'))
    c.on('close', () => r())
  })
  return log
}

for (const aborted of [true, false]) {
  test(`listen({ signal }) ${aborted ? 'already aborted: closed before listening' : 'aborted while listening: the server closes'}, like net`, async (t) => {
    const want = await listenWithSignal(nodeNet, aborted)
    const got = await listenWithSignal(netpoll, aborted)
    t.deepEqual(got, want)
    t.is(got.includes('listening'), !aborted)
    t.true(got.includes('close'))
  })
}

test('listen({ signal }) with a signal that is not an AbortSignal throws ERR_INVALID_ARG_TYPE, like net', (t) => {
  const opts = { port: 0, host: '127.0.0.1', signal: {} }
  const want = t.throws(() => nodeNet.createServer().listen(opts))
  const s = netpoll.createServer()
  const got = t.throws(() => s.listen(opts))
  t.is((got as NodeJS.ErrnoException).code, (want as NodeJS.ErrnoException).code)
  s.close()
})

/** The mode bits of a Unix socket file listened on with `extra` options. */
async function socketFileMode(impl: Impl, path: string, extra: object): Promise<string> {
  rmSync(path, { force: true })
  const server = impl.createServer()
  await new Promise<void>((r) => server.listen({ path, ...extra }, r))
  const mode = (statSync(path).mode & 0o777).toString(8)
  await new Promise<void>((r) => server.close(() => r()))
  return mode
}

test('listen({ path, readableAll, writableAll }) opens the socket file to every user, like net', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netpoll-surface-'))
  const old = process.umask(0o077) // the file starts as rwx for its owner only
  try {
    for (const extra of [{}, { readableAll: true }, { writableAll: true }, { readableAll: true, writableAll: true }]) {
      const want = await socketFileMode(nodeNet, join(dir, 'net.sock'), extra)
      const got = await socketFileMode(netpoll, join(dir, 'netpoll.sock'), extra)
      t.is(got, want, JSON.stringify(extra))
    }
    // Node 20's libuv adds the bits to the owner-only mode; from libuv 1.51 (Node 22) they are the mode.
    const exact = Number(process.versions.uv.split('.')[1]) >= 51
    t.is(await socketFileMode(netpoll, join(dir, 'netpoll.sock'), { readableAll: true, writableAll: true }), exact ? '666' : '766')
  } finally {
    process.umask(old)
    rmSync(dir, { recursive: true, force: true })
  }
})

/** write() and end() while connecting, then destroy([err]) before the connect completes. */
async function destroyWhileConnecting(impl: Impl, withError: boolean): Promise<string[]> {
  const { port, server } = await peer({}, () => {})
  const s = impl.connect({ port, host: '127.0.0.1' })
  const log = record(s)
  const cb = (name: string) => (e?: NodeJS.ErrnoException | null) => log.push(`${name}:${e?.code ?? null}`)
  s.write('x', cb('write1'))
  s.write('y', cb('write2'))
  s.end(cb('end'))
  s.destroy(withError ? new Error('boom') : undefined)
  await closed(s)
  server.close()
  return log
}

for (const withError of [false, true]) {
  test(`destroy(${withError ? 'err' : ''}) while connecting: the waiting write and end callbacks get ERR_SOCKET_CLOSED_BEFORE_CONNECTION, like net`, async (t) => {
    const want = await destroyWhileConnecting(nodeNet, withError)
    const got = await destroyWhileConnecting(netpoll, withError)
    t.deepEqual(got, want)
    t.true(got.includes('write1:ERR_SOCKET_CLOSED_BEFORE_CONNECTION'), got.join(' '))
  })
}

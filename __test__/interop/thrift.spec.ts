// Apache thrift (npm 0.24) unmodified on netpoll, framed transport and binary protocol:
// thrift's own server fed netpoll Sockets through its public 'connection' event
// (examples/thrift-server.js), thrift's own client over a netpoll Socket through the public
// `new thrift.Connection(socket, options)` (examples/thrift-client.js) and over `net`.
// The service is __test__/interop/thrift/echo.thrift (generated code committed).
import test from 'ava'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import type { EventEmitter } from 'node:events'
import type * as net from 'node:net'
import { bounded, EXAMPLES, spawnLine } from '../client/helpers'

/** The part of the `thrift` package (no type declarations) the tests use. */
interface Thrift {
  createConnection(host: string, port: number, options: object): ThriftConnection
  createClient(service: unknown, connection: ThriftConnection): EchoClient
  createServer(service: unknown, handler: unknown, options: object): net.Server
  Thrift: { TApplicationException: new () => Error }
}
type ThriftConnection = EventEmitter & { end(): void }
const thrift = require('thrift') as Thrift

interface EchoClient {
  echo(data: Buffer): Promise<Buffer>
  add(a: number, b: number): Promise<number>
  notify(note: string): void
  notes(): Promise<string[]>
}
interface Started {
  port: number
  sockets: Set<{ destroy(): void }>
  shutdown(): Promise<void>
}
interface Connected {
  client: EchoClient
  connection: ThriftConnection
  socket: { bytesRead: number; remotePort?: number }
}
const server = require(join(EXAMPLES, 'thrift-server.js')) as {
  Echo: unknown
  types: { Overflow: new (...a: unknown[]) => Error & { a: number; b: number } }
  transport: { transport: unknown; protocol: unknown }
  handler(): unknown
  start(port?: number, host?: string): Promise<Started>
}
const client = require(join(EXAMPLES, 'thrift-client.js')) as {
  connect(port: number, host?: string, options?: Record<string, unknown>): Promise<Connected>
}

const I32_MAX = 2 ** 31 - 1
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** A thrift client over Node's net (thrift.createConnection). */
function netClient(port: number): Promise<{ client: EchoClient; connection: ThriftConnection }> {
  const connection = thrift.createConnection('127.0.0.1', port, server.transport)
  const c = thrift.createClient(server.Echo, connection)
  return new Promise((resolve, reject) => {
    connection.once('connect', () => resolve({ client: c, connection }))
    connection.once('error', reject)
  })
}

/** 10,000 add() calls, 500 in flight at a time; every answer checked. */
async function manyCalls(c: EchoClient): Promise<number> {
  let right = 0
  for (let round = 0; round < 20; round++) {
    const got = await Promise.all(Array.from({ length: 500 }, (_, i) => c.add(round * 1000, i)))
    got.forEach((v, i) => (right += v === round * 1000 + i ? 1 : 0))
  }
  return right
}

/** The declared exception, an undeclared error, and oneway calls recorded in order. */
async function exceptionsAndOneway(t: import('ava').ExecutionContext, c: EchoClient): Promise<void> {
  const overflow = await c.add(I32_MAX, 1).then(
    () => null,
    (e: unknown) => e,
  )
  t.true(overflow instanceof server.types.Overflow, String(overflow))
  t.deepEqual([(overflow as { a: number }).a, (overflow as { b: number }).b], [I32_MAX, 1])
  const undeclared = await c.echo(Buffer.from('fail')).then(
    () => null,
    (e: unknown) => e,
  )
  t.true(undeclared instanceof thrift.Thrift.TApplicationException, String(undeclared))
  t.is((undeclared as Error).message, 'echo failed on purpose')
  // The connection still serves after both.
  t.is(await c.add(2, 3), 5)
  const before = (await c.notes()).length
  for (let i = 0; i < 100; i++) c.notify(`note ${i}`)
  const notes = await c.notes()
  t.deepEqual(notes.slice(before), Array.from({ length: 100 }, (_, i) => `note ${i}`))
}

test('thrift server on netpoll, thrift client on netpoll: 10,000 calls, exceptions, oneway calls', async (t) => {
  const s = await server.start(0, '127.0.0.1')
  const { client: c, connection } = await client.connect(s.port)
  try {
    t.is(await bounded(manyCalls(c), 90_000, '10,000 calls'), 10_000) // a stall bound: slow builds share the cores
    await exceptionsAndOneway(t, c)
  } finally {
    connection.end()
    await bounded(s.shutdown(), 10_000, 'shutdown')
  }
})

test('thrift server on netpoll, thrift client on net: 10,000 calls, exceptions, oneway calls', async (t) => {
  const s = await server.start(0, '127.0.0.1')
  const { client: c, connection } = await netClient(s.port)
  try {
    t.is(await bounded(manyCalls(c), 90_000, '10,000 calls'), 10_000) // a stall bound: slow builds share the cores
    await exceptionsAndOneway(t, c)
  } finally {
    connection.end()
    await bounded(s.shutdown(), 10_000, 'shutdown')
  }
})

test("thrift client on netpoll against thrift's own server on net: 10,000 calls, exceptions, oneway calls", async (t) => {
  const thriftServer = thrift.createServer(server.Echo, server.handler(), server.transport)
  await new Promise<void>((r) => thriftServer.listen(0, '127.0.0.1', r))
  const port = (thriftServer.address() as net.AddressInfo).port
  const { client: c, connection } = await client.connect(port)
  try {
    t.is(await bounded(manyCalls(c), 90_000, '10,000 calls'), 10_000) // a stall bound: slow builds share the cores
    await exceptionsAndOneway(t, c)
  } finally {
    connection.end()
    thriftServer.close()
  }
})

test('pushed Buffers are never reused: 4 MiB frames split over many batches, kept as views by the framed transport, echo intact (3 connections at once)', async (t) => {
  // TFramedTransport keeps the 'data' chunks it was given until a frame is whole and then
  // reads the frame out of them (or out of a view of the only chunk): a Buffer the bridge
  // reused after pushing it would corrupt the frame. Both sides are netpoll here, and other
  // connections move bytes meanwhile, so freed batch memory would be reused at once.
  const s = await server.start(0, '127.0.0.1')
  const conns = await Promise.all([0, 1, 2].map(() => client.connect(s.port)))
  try {
    const payloads = [0, 1, 2].map((k) => {
      const b = Buffer.alloc(4 << 20)
      for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((i * 2654435761 + k * 97) >>> 0, i)
      return b
    })
    for (let round = 0; round < 3; round++) {
      const answers = await bounded(
        Promise.all(conns.map(({ client: c }, k) => c.echo(payloads[(k + round) % 3]))),
        30_000,
        'echoes',
      )
      answers.forEach((a, k) => t.is(sha(a), sha(payloads[(k + round) % 3]), `round ${round}, connection ${k}`))
    }
    // Many batches per frame: a 4 MiB frame cannot arrive in one read.
    t.true(conns.every(({ socket }) => socket.bytesRead >= 3 * (4 << 20)))
  } finally {
    for (const { connection } of conns) connection.end()
    await bounded(s.shutdown(), 10_000, 'shutdown')
  }
})

test('the netpoll thrift client reconnects through Socket.connect() after the server dropped it; calls queued meanwhile are answered', async (t) => {
  const s = await server.start(0, '127.0.0.1')
  const { client: c, connection, socket } = await client.connect(s.port, '127.0.0.1', { max_attempts: 5 })
  try {
    t.is(await c.add(1, 1), 2)
    const firstPort = socket.remotePort
    const reconnecting = new Promise((r) => connection.once('reconnecting', r))
    const reconnected = new Promise((r) => connection.once('connect', r))
    for (const x of s.sockets) x.destroy()
    await bounded(reconnecting, 5_000, 'reconnecting')
    // Made while disconnected: thrift queues it until its next 'connect'.
    const queued = c.add(20, 22)
    await bounded(reconnected, 5_000, 'reconnect')
    t.is(await bounded(queued, 5_000, 'queued call'), 42)
    t.is(await c.add(3, 4), 7)
    t.is(socket.remotePort, firstPort)
    t.is(s.sockets.size, 1)
  } finally {
    connection.end()
    await bounded(s.shutdown(), 10_000, 'shutdown')
  }
})

test("thrift's timeout option reaches the netpoll socket: 'timeout' on the connection, which stays usable", async (t) => {
  const s = await server.start(0, '127.0.0.1')
  const { client: c, connection } = await client.connect(s.port, '127.0.0.1', { timeout: 150 })
  try {
    t.is(await c.add(1, 2), 3)
    await bounded(new Promise((r) => connection.once('timeout', r)), 5_000, "'timeout'")
    t.is(await c.add(2, 2), 4)
  } finally {
    connection.end()
    await bounded(s.shutdown(), 10_000, 'shutdown')
  }
})

test('examples/thrift-server.js and examples/thrift-client.js talk over netpoll, and the server exits on SIGTERM', async (t) => {
  const { child, line } = await spawnLine([join(EXAMPLES, 'thrift-server.js'), '0', '127.0.0.1'])
  const port = Number(/:(\d+)$/.exec(line)?.[1])
  t.true(port > 0, line)
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [join(EXAMPLES, 'thrift-client.js'), String(port), '127.0.0.1', '2000'], { timeout: 20_000 }, (e, stdout) =>
      e ? reject(e) : resolve(stdout),
    ),
  )
  t.deepEqual(JSON.parse(out), {
    sum: (1999 * 2000) / 2 + 2000,
    echo: 'hello thrift',
    overflow: '2147483647 + 1 overflows an i32',
    notes: ['one', 'two'],
  })
  const exited = new Promise<number | null>((r) => child.once('exit', r))
  child.kill('SIGTERM')
  t.is(await bounded(exited, 10_000, 'exit'), 0)
})

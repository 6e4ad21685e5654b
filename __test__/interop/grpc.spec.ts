// @grpc/grpc-js unmodified on netpoll: examples/grpc-server.js starts a grpc-js server whose
// connections are netpoll Sockets injected with `createConnectionInjector().injectConnection()`;
// grpc-js clients reach it over plain TCP. Every call kind, deadlines, cancellation, 1,000
// concurrent calls, error statuses, graceful shutdown.
import test from 'ava'
import * as grpc from '@grpc/grpc-js'
import { join } from 'node:path'
import { EXAMPLES, spawnLine } from '../client/helpers'

interface Started {
  grpcServer: grpc.Server
  server: { getConnections(cb: (e: Error | null, n: number) => void): void; close(cb?: () => void): void }
  port: number
  shutdown(): Promise<void>
  started: Set<string>
  cancelled: Set<string>
}
const example = require(join(EXAMPLES, 'grpc-server.js')) as { service: grpc.ServiceDefinition; start(port?: number, host?: string): Promise<Started> }

type Message = Record<string, unknown>
type Unary = (req: Message, options: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Message) => void) => grpc.ClientUnaryCall
interface DemoClient extends grpc.Client {
  echo: Unary
  count(req: Message, options?: grpc.CallOptions): grpc.ClientReadableStream<Message>
  sum(cb: (e: grpc.ServiceError | null, r?: Message) => void): grpc.ClientWritableStream<Message>
  chat(): grpc.ClientDuplexStream<Message, Message>
}
const Client = grpc.makeGenericClientConstructor(example.service, 'Demo') as unknown as new (address: string, creds: grpc.ChannelCredentials) => DemoClient

/** The example's server and a client whose channel is connected (one call answered). */
async function setup(): Promise<{ s: Started; client: DemoClient; done: () => Promise<void> }> {
  const s = await example.start(0, '127.0.0.1')
  const client = new Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure())
  await bounded(unary(client, { text: 'warm-up' }), 10_000, 'first call')
  const done = async (): Promise<void> => {
    client.close()
    await bounded(s.shutdown(), 10_000, 'shutdown')
  }
  return { s, client, done }
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))
  return Promise.race([p, limit]).finally(() => clearTimeout(timer))
}

function unary(client: DemoClient, req: Message, options: grpc.CallOptions = {}): Promise<Message> {
  return new Promise((resolve, reject) => client.echo(req, options, (e, r) => (e ? reject(e) : resolve(r as Message))))
}

function collect<T>(stream: NodeJS.ReadableStream): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = []
    stream.on('data', (m: T) => out.push(m))
    stream.on('end', () => resolve(out))
    stream.on('error', reject)
  })
}

/** Waits (10 ms steps, bounded) until `cond()` holds. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

test('unary, server-streaming, client-streaming and bidi calls', async (t) => {
  const { s, client, done } = await setup()
  const r = await bounded(unary(client, { text: 'hello' }), 10_000, 'unary')
  t.is(r.text, 'hello')
  t.log(`call.getPeer() on the server through http2's JSStreamSocket: ${String(r.peer)}`)

  const counted = await bounded(collect<{ i: number }>(client.count({ n: 5000 })), 20_000, 'server-streaming')
  t.deepEqual(
    counted.map((m) => m.i),
    Array.from({ length: 5000 }, (_, i) => i),
  )

  const sum = await bounded(
    new Promise<Message>((resolve, reject) => {
      const call = client.sum((e, res) => (e ? reject(e) : resolve(res as Message)))
      for (let v = 1; v <= 1000; v++) call.write({ value: v })
      call.end()
    }),
    10_000,
    'client-streaming',
  )
  t.deepEqual(sum, { sum: 500_500, count: 1000 })

  const chat = client.chat()
  const echoed = collect<{ text: string }>(chat)
  for (let i = 0; i < 300; i++) chat.write({ text: `m${i}` })
  chat.end()
  t.deepEqual(
    (await bounded(echoed, 10_000, 'bidi')).map((m) => m.text),
    Array.from({ length: 300 }, (_, i) => `echo: m${i}`),
  )
  const conns = await new Promise<number>((r) => s.server.getConnections((_e, n) => r(n)))
  t.is(conns, 1) // one channel, one connection
  await done()
})

test('deadlines and cancellation reach the server', async (t) => {
  const { s, client, done } = await setup()
  const late = unary(client, { text: 'deadline', sleepMs: 10_000 }, { deadline: Date.now() + 2000 }).then(
    () => null,
    (e: grpc.ServiceError) => e.code,
  )
  await until(() => s.started.has('deadline'), 2000, 'server started the call before its deadline')
  t.is(await late, grpc.status.DEADLINE_EXCEEDED)
  await until(() => s.cancelled.has('deadline'), 10_000, 'server saw the deadline')

  const code = await new Promise<number>((resolve) => {
    const call = client.echo({ text: 'cancel', sleepMs: 10_000 }, {}, (e) => resolve(e ? e.code : -1))
    until(() => s.started.has('cancel'), 10_000, 'server started the call').then(
      () => call.cancel(),
      () => resolve(-2),
    )
  })
  t.is(code, grpc.status.CANCELLED)
  await until(() => s.cancelled.has('cancel'), 10_000, 'server saw the cancel')

  // A server stream cancelled by the client midway.
  const stream = client.count({ n: 10_000_000 })
  let got = 0
  const ended = await new Promise<number>((resolve) => {
    stream.on('data', () => {
      if (++got === 100) stream.cancel()
    })
    stream.on('error', (e: grpc.ServiceError) => resolve(e.code))
    stream.on('end', () => resolve(-1))
  })
  t.is(ended, grpc.status.CANCELLED)
  t.true(got >= 100 && got < 10_000_000)
  // The session is still good after all that.
  t.is((await unary(client, { text: 'after' })).text, 'after')
  await done()
})

test('1,000 concurrent unary calls', async (t) => {
  const { client, done } = await setup()
  const answers = await bounded(
    Promise.all(Array.from({ length: 1000 }, (_, i) => unary(client, { text: `c${i}` }))),
    30_000,
    '1,000 calls',
  )
  t.deepEqual(
    answers.map((a) => a.text),
    Array.from({ length: 1000 }, (_, i) => `c${i}`),
  )
  await done()
})

test('error statuses and details are passed through', async (t) => {
  const { client, done } = await setup()
  const codes = [grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.PERMISSION_DENIED, grpc.status.RESOURCE_EXHAUSTED, grpc.status.INTERNAL, grpc.status.UNAUTHENTICATED]
  for (const code of codes) {
    const e = await unary(client, { text: 'x', status: code, details: `details ${code}` }).then(
      () => null,
      (err: grpc.ServiceError) => err,
    )
    t.is(e?.code, code)
    t.is(e?.details, `details ${code}`)
  }
  await done()
})

test('graceful shutdown: a call in flight finishes, then the netpoll server closes', async (t) => {
  const { s, client } = await setup()
  const inFlight = unary(client, { text: 'slow', sleepMs: 300 })
  await until(() => s.started.has('slow'), 10_000, 'server started the call')
  const closed = bounded(s.shutdown(), 10_000, 'shutdown')
  t.is((await bounded(inFlight, 10_000, 'in flight')).text, 'slow')
  await closed
  client.close()
  const conns = await new Promise<number>((r) => s.server.getConnections((_e, n) => r(n)))
  t.is(conns, 0)
})

test('examples/grpc-server.js answers a grpc-js client and exits on SIGTERM', async (t) => {
  const { child, line } = await spawnLine([join(EXAMPLES, 'grpc-server.js'), '0', '127.0.0.1'])
  const address = line.split(' ')[1]
  t.regex(address, /^127\.0\.0\.1:\d+$/)
  const client = new Client(address, grpc.credentials.createInsecure())
  t.is((await bounded(unary(client, { text: 'from a child' }), 10_000, 'unary')).text, 'from a child')
  client.close()
  const exited = new Promise<number | null>((r) => child.once('exit', r))
  child.kill('SIGTERM')
  t.is(await bounded(exited, 10_000, 'exit'), 0)
})

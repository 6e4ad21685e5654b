// node:http2 unmodified on netpoll sockets: http2.createServer() fed by netpoll's
// createServer(sock => h2.emit('connection', sock)), and http2 client sessions over netpoll's
// connect() (`http2.connect(url, { createConnection: () => sock })`). Both ends go through
// Node's JSStreamSocket wrapper (a netpoll Socket has no native stream handle).
import test from 'ava'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as http2 from 'node:http2'
import { join } from 'node:path'
import { connect, createServer, Server, Socket } from '../../index'
import { EXAMPLES, spawnLine } from '../client/helpers'

interface Pair {
  h2: http2.Http2Server
  server: Server
  port: number
  /** Server sessions open now. */
  sessions: Set<http2.ServerHttp2Session>
  /** Every socket the netpoll server accepted. */
  accepted: Socket[]
}

/** An http2 server on a netpoll server at 127.0.0.1:0. */
async function h2OnNetpoll(onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<Pair> {
  const h2 = http2.createServer()
  h2.on('stream', onStream)
  const sessions = new Set<http2.ServerHttp2Session>()
  h2.on('session', (s) => {
    sessions.add(s)
    s.once('close', () => sessions.delete(s))
  })
  const accepted: Socket[] = []
  const server = createServer((sock) => {
    accepted.push(sock)
    h2.emit('connection', sock)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { h2, server, port: (server.address() as { port: number }).port, sessions, accepted }
}

/** A client session over a netpoll socket; resolves once connected. */
async function clientOnNetpoll(port: number): Promise<{ session: http2.ClientHttp2Session; socket: Socket }> {
  const socket = connect(port, '127.0.0.1')
  const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => socket as never })
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve())
    session.once('error', reject)
  })
  return { session, socket }
}

/** GOAWAY on every server session, then the netpoll server's 'close' (every connection closed). */
function stop(p: Pair): Promise<void> {
  return new Promise((resolve) => {
    p.server.close(() => resolve())
    for (const s of p.sessions) s.close()
  })
}

/** Resolves once every server session emitted 'close' (checked every 10 ms). */
function sessionsClosed(p: Pair): Promise<void> {
  return new Promise((resolve) => {
    const poll = (): void => (p.sessions.size === 0 ? resolve() : void setTimeout(poll, 10))
    poll()
  })
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))
  return Promise.race([p, limit]).finally(() => clearTimeout(timer))
}

/** One request; resolves with the response headers and body. */
function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined })
    let head: http2.IncomingHttpHeaders = {}
    const parts: Buffer[] = []
    req.on('response', (h) => (head = h))
    req.on('data', (d: Buffer) => parts.push(d))
    req.on('end', () => resolve({ headers: head, body: Buffer.concat(parts) }))
    req.on('error', reject)
    if (body !== undefined) req.end(body)
  })
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

test('100 concurrent streams on one session (all open at once on the server)', async (t) => {
  const n = 100
  const waiting: Array<() => void> = []
  const p = await h2OnNetpoll((stream, headers) => {
    // Answer nothing until all 100 streams are open: they are concurrent on the server.
    waiting.push(() => {
      stream.respond({ ':status': 200 })
      stream.end(`r${headers[':path']} ${stream.id}`)
    })
    if (waiting.length === n) for (const answer of waiting) answer()
  })
  const { session, socket } = await clientOnNetpoll(p.port)
  const answers = await bounded(
    Promise.all(Array.from({ length: n }, (_, i) => request(session, { ':path': `/${i}` }))),
    20_000,
    '100 streams',
  )
  t.deepEqual(
    answers.map((a) => a.body.toString().split(' ')[0]),
    Array.from({ length: n }, (_, i) => `r/${i}`),
  )
  t.is(new Set(answers.map((a) => a.body.toString().split(' ')[1])).size, n) // 100 stream ids
  t.is(p.accepted.length, 1)
  t.true(socket.bytesRead > 0 && socket.bytesWritten > 0)
  session.close()
  await bounded(stop(p), 10_000, 'stop')
})

test('flow control: 8 concurrent 1 MiB bodies each way with digests, a slow reader included', async (t) => {
  const size = 1 << 20
  const bodies = Array.from({ length: 8 }, (_, k) => {
    const b = Buffer.alloc(size)
    for (let i = 0; i < size; i += 4) b.writeUInt32LE((i * 2654435761 + k) >>> 0, i)
    return b
  })
  const p = await h2OnNetpoll((stream) => {
    const h = createHash('sha256')
    const parts: Buffer[] = []
    stream.on('data', (d: Buffer) => {
      h.update(d)
      parts.push(d)
    })
    stream.on('end', () => {
      // Answer with the body reversed in 64 KiB pieces, honouring the stream's backpressure.
      stream.respond({ ':status': 200, 'x-request-digest': h.digest('hex') })
      const all = Buffer.concat(parts).reverse()
      let off = 0
      const pump = (): void => {
        while (off < all.length) {
          const piece = all.subarray(off, off + 65536)
          off += piece.length
          if (!stream.write(piece)) return void stream.once('drain', pump)
        }
        stream.end()
      }
      pump()
    })
  })
  const { session } = await clientOnNetpoll(p.port)
  const slow = new Promise<Buffer>((resolve, reject) => {
    // This stream's reader pauses for 500 ms: the server's window runs out and it waits.
    const req = session.request({ ':path': '/slow', ':method': 'POST' })
    const parts: Buffer[] = []
    req.once('response', () => {
      req.pause()
      setTimeout(() => req.resume(), 500)
    })
    req.on('data', (d: Buffer) => parts.push(d))
    req.on('end', () => resolve(Buffer.concat(parts)))
    req.on('error', reject)
    req.end(bodies[0])
  })
  const rest = bodies.slice(1).map((b) => request(session, { ':path': '/', ':method': 'POST' }, b))
  const answers = await bounded(Promise.all(rest), 30_000, '1 MiB bodies')
  for (const [i, a] of answers.entries()) {
    t.is(a.headers['x-request-digest'], sha(bodies[i + 1]))
    t.is(a.body.length, size)
    t.is(sha(a.body), sha(Buffer.from(bodies[i + 1]).reverse()))
  }
  const slowBody = await bounded(slow, 30_000, 'slow reader')
  t.is(sha(slowBody), sha(Buffer.from(bodies[0]).reverse()))
  session.close()
  await bounded(stop(p), 10_000, 'stop')
})

test('GOAWAY from the server (session.close()): the stream in flight finishes, new ones are refused, both sockets close', async (t) => {
  let serverSession: http2.ServerHttp2Session | null = null
  const p = await h2OnNetpoll((stream, headers) => {
    serverSession = stream.session as http2.ServerHttp2Session
    setTimeout(() => {
      stream.respond({ ':status': 200 })
      stream.end(`late ${headers[':path']}`)
    }, 300)
  })
  const { session, socket } = await clientOnNetpoll(p.port)
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)))
  const clientClosed = new Promise<void>((resolve) => session.once('close', () => resolve()))
  const socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  const inFlight = request(session, { ':path': '/a' })
  await bounded(
    new Promise<void>((resolve) => {
      const poll = (): void => (serverSession !== null ? resolve() : void setTimeout(poll, 5))
      poll()
    }),
    10_000,
    'stream at the server',
  )
  const serverClosed = bounded(stop(p), 10_000, 'netpoll server close')
  t.is(await bounded(goaway, 10_000, 'goaway'), http2.constants.NGHTTP2_NO_ERROR)
  const refused = await request(session, { ':path': '/b' }).then(
    () => 'answered',
    (e: NodeJS.ErrnoException) => e.code,
  )
  t.regex(String(refused), /^ERR_HTTP2_(GOAWAY_SESSION|INVALID_SESSION|STREAM_ERROR)$/)
  t.is((await inFlight).body.toString(), 'late /a')
  await bounded(clientClosed, 10_000, 'client session close')
  await bounded(socketClosed, 10_000, 'client socket close')
  const sessionsGone = sessionsClosed(p)
  await serverClosed
  await bounded(sessionsGone, 10_000, 'server sessions close')
  t.is(p.sessions.size, 0)
  t.true(p.accepted[0].destroyed)
})

test('GOAWAY from the client (session.close()): the server session sees it and the netpoll server closes', async (t) => {
  const p = await h2OnNetpoll((stream) => {
    stream.respond({ ':status': 200 })
    stream.end('ok')
  })
  const { session } = await clientOnNetpoll(p.port)
  t.is((await request(session, { ':path': '/' })).body.toString(), 'ok')
  const [serverSession] = [...p.sessions]
  const goaway = new Promise<number>((resolve) => serverSession.once('goaway', (code: number) => resolve(code)))
  const closed = new Promise<void>((resolve) => p.server.close(() => resolve()))
  const sessionsGone = sessionsClosed(p)
  session.close()
  t.is(await bounded(goaway, 10_000, 'goaway at the server'), http2.constants.NGHTTP2_NO_ERROR)
  await bounded(closed, 10_000, 'netpoll server close') // the server's socket closed too
  await bounded(sessionsGone, 10_000, 'server session close')
  t.is(p.sessions.size, 0)
})

test("the peer's address: lost through http2's wrapper, kept from the netpoll Socket at 'session'", async (t) => {
  const p = await h2OnNetpoll((stream) => {
    stream.respond({ ':status': 200 })
    stream.end()
  })
  const peers = new WeakMap<http2.ServerHttp2Session, string>()
  let wrapped: unknown = 'not seen'
  p.server.removeAllListeners('connection')
  p.server.on('connection', (sock: Socket) => {
    // 'session' is emitted synchronously inside emit('connection').
    p.h2.once('session', (s) => {
      peers.set(s, `${sock.remoteAddress}:${sock.remotePort}`)
      wrapped = s.socket.remoteAddress
    })
    p.h2.emit('connection', sock)
  })
  const { session, socket } = await clientOnNetpoll(p.port)
  await request(session, { ':path': '/' })
  const [serverSession] = [...p.sessions]
  t.is(peers.get(serverSession), `127.0.0.1:${socket.localPort}`)
  t.log(`session.socket.remoteAddress through JSStreamSocket: ${String(wrapped)}`)
  session.close()
  await bounded(stop(p), 10_000, 'stop')
})

test('a server and a client session whose netpoll sockets are unref()ed let the process exit', async (t) => {
  // http2's session.unref() stops at JSStreamSocket (its handle has no unref): unref the
  // netpoll sockets themselves.
  const script = `
    const http2 = require('node:http2')
    const np = require(${JSON.stringify(join(__dirname, '..', '..', 'index.js'))})
    const h2 = http2.createServer()
    h2.on('stream', (s) => { s.respond({ ':status': 200 }); s.end('x') })
    const server = np.createServer((s) => { s.unref(); h2.emit('connection', s) }).unref()
    server.listen(0, '127.0.0.1', () => {
      const sock = np.connect(server.address().port, '127.0.0.1')
      const session = http2.connect('http://localhost', { createConnection: () => sock })
      const req = session.request({ ':path': '/' })
      req.resume()
      req.on('end', () => {
        sock.unref()
        console.log('done ' + !session.closed)
      })
    })`
  const started = Date.now()
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? null) : 0, out: stdout + stderr }),
    )
  })
  t.is(r.code, 0, r.out)
  t.is(r.out, 'done true\n')
  t.true(Date.now() - started < 15_000)
})

test('examples/http2-server.js serves GET and a POST echo to a plain net http2 client, and exits on SIGTERM', async (t) => {
  const { child, line } = await spawnLine([join(EXAMPLES, 'http2-server.js'), '0', '127.0.0.1'])
  const url = line.split(' ')[1]
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const session = http2.connect(url)
  const got = await request(session, { ':path': '/hi' })
  t.regex(got.body.toString(), /^hello from node:http2 on netpoll: \/hi \(peer 127\.0\.0\.1:\d+\)\n$/)
  const body = Buffer.alloc(3 << 20, 'z')
  const echo = await request(session, { ':path': '/', ':method': 'POST' }, body)
  t.is(sha(echo.body), sha(body))
  const exited = new Promise<number | null>((r) => child.once('exit', r))
  child.kill('SIGTERM')
  t.is(await bounded(exited, 10_000, 'exit'), 0)
  session.close()
})

// undici unmodified on netpoll sockets: an Agent whose `connect` dials with netpoll
// (examples/undici-client.js's `connector`), against node:http served on netpoll. fetch and
// request, keep-alive reuse, pipelining, streamed bodies both ways.
import test from 'ava'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as http from 'node:http'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { Agent, fetch, request } from 'undici'
import { createServer, Server, Socket } from '../../index'
import { EXAMPLES } from '../client/helpers'

type Connect = (opts: { hostname: string; port: string; socketPath?: string | null }, cb: (e: Error | null, s: unknown) => void) => void
const example = require(join(EXAMPLES, 'undici-client.js')) as { connector: Connect; dials(): number }

interface Pair {
  http: http.Server
  server: Server
  base: string
  accepted: () => number
}

/** node:http on a netpoll server at 127.0.0.1:0 (`onSocket` sees each accepted socket first). */
async function httpOnNetpoll(handler: http.RequestListener, onSocket?: (sock: Socket) => void): Promise<Pair> {
  const hs = http.createServer(handler)
  let accepted = 0
  const server = createServer((sock) => {
    accepted++
    onSocket?.(sock)
    hs.emit('connection', sock)
  })
  server.on('listening', () => hs.emit('listening'))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { http: hs, server, base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, accepted: () => accepted }
}

function stop(p: Pair): Promise<void> {
  return new Promise((resolve) => {
    p.server.close(() => resolve())
    p.http.close()
    p.http.closeIdleConnections()
  })
}

/** An Agent dialing with the example's netpoll connector; `dials()` counts its connects. */
function netpollAgent(options: ConstructorParameters<typeof Agent>[0] = {}): { agent: Agent; dials: () => number } {
  let n = 0
  const connect: Connect = (opts, cb) => {
    n++
    example.connector(opts, cb)
  }
  const agent = new Agent({ ...options, connect: connect as never })
  return { agent, dials: () => n }
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))
  return Promise.race([p, limit]).finally(() => clearTimeout(timer))
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

/** `size` bytes of a pattern that depends on `seed`. */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i)
  return b
}

test('fetch and request: GET, and 10 MiB streamed both ways with digests', async (t) => {
  const p = await httpOnNetpoll((req, res) => {
    if (req.method !== 'POST') return void res.end(`hello ${req.url}`)
    const h = createHash('sha256')
    let n = 0
    req.on('data', (d: Buffer) => {
      h.update(d)
      n += d.length
    })
    req.on('end', () => {
      res.setHeader('x-request-digest', h.digest('hex'))
      res.setHeader('x-request-length', String(n))
      Readable.from(chunks(pattern(10 << 20, 7))).pipe(res)
    })
  })
  const { agent } = netpollAgent()
  const got = await bounded(fetch(`${p.base}/f`, { dispatcher: agent }), 10_000, 'fetch')
  t.is(got.status, 200)
  t.is(await got.text(), 'hello /f')
  const r = await bounded(request(`${p.base}/r`, { dispatcher: agent }), 10_000, 'request')
  t.is(r.statusCode, 200)
  t.is(await r.body.text(), 'hello /r')

  const up = pattern(10 << 20, 3)
  const fetched = await bounded(
    fetch(`${p.base}/up`, { dispatcher: agent, method: 'POST', body: Readable.from(chunks(up)) as never, duplex: 'half' } as never),
    30_000,
    'fetch POST',
  )
  t.is(fetched.headers.get('x-request-length'), String(up.length))
  t.is(fetched.headers.get('x-request-digest'), sha(up))
  t.is(sha(Buffer.from(await fetched.arrayBuffer())), sha(pattern(10 << 20, 7)))

  const posted = await bounded(request(`${p.base}/up`, { dispatcher: agent, method: 'POST', body: Readable.from(chunks(up)) }), 30_000, 'request POST')
  t.is(posted.headers['x-request-digest'], sha(up))
  const h = createHash('sha256')
  for await (const c of posted.body) h.update(c as Buffer)
  t.is(h.digest('hex'), sha(pattern(10 << 20, 7)))
  await agent.close()
  await bounded(stop(p), 10_000, 'stop')
})

/** `buf` in 64 KiB pieces. */
function* chunks(buf: Buffer): Generator<Buffer> {
  for (let off = 0; off < buf.length; off += 65536) yield buf.subarray(off, off + 65536)
}

test('keep-alive reuse: 2,000 requests on at most 4 netpoll connections', async (t) => {
  const p = await httpOnNetpoll((req, res) => res.end(`k ${req.url}`))
  const { agent, dials } = netpollAgent({ connections: 4 })
  const workers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; i < 500; i++) {
      const r = await request(`${p.base}/${w}/${i}`, { dispatcher: agent })
      const text = await r.body.text()
      if (text !== `k /${w}/${i}`) throw new Error(`bad answer ${text}`)
    }
  })
  await bounded(Promise.all(workers), 60_000, '2,000 requests')
  t.true(dials() >= 1 && dials() <= 4, `${dials()} connections`)
  t.is(p.accepted(), dials())
  await agent.close()
  await bounded(stop(p), 10_000, 'stop')
})

test('pipelining: 100 requests on one connection, several sent before the first answer', async (t) => {
  // node:http answers pipelined requests one at a time: count them on the wire instead.
  let received = 0
  let answered = 0
  let maxAhead = 0
  const p = await httpOnNetpoll(
    (req, res) => {
      setTimeout(() => {
        answered++
        res.end(`p ${req.url}`)
      }, 5)
    },
    (sock) =>
      sock.on('data', (d: Buffer) => {
        received += d.toString('latin1').split('GET /').length - 1
        maxAhead = Math.max(maxAhead, received - answered)
      }),
  )
  const { agent, dials } = netpollAgent({ connections: 1, pipelining: 10 })
  const answers = await bounded(
    Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        // blocking: false, or undici waits for each GET's response before sending the next.
        const r = await request(`${p.base}/${i}`, { dispatcher: agent, blocking: false })
        return r.body.text()
      }),
    ),
    30_000,
    'pipelined requests',
  )
  t.deepEqual(
    answers,
    Array.from({ length: 100 }, (_, i) => `p /${i}`),
  )
  t.is(dials(), 1)
  t.is(received, 100)
  t.true(maxAhead > 1 && maxAhead <= 10, `at most ${maxAhead} request(s) received ahead of the answers`)
  await agent.close()
  await bounded(stop(p), 10_000, 'stop')
})

test('a refused connect reaches fetch as ECONNREFUSED', async (t) => {
  const p = await httpOnNetpoll((_req, res) => res.end())
  const base = p.base
  await bounded(stop(p), 10_000, 'stop')
  const { agent } = netpollAgent()
  const e = await fetch(`${base}/`, { dispatcher: agent }).then(
    () => null,
    (err: Error & { cause?: { code?: string } }) => err,
  )
  t.is(e?.cause?.code, 'ECONNREFUSED')
  await agent.close()
})

test('examples/undici-client.js fetches through netpoll sockets', async (t) => {
  const body = pattern(3 << 20, 11)
  const p = await httpOnNetpoll((req, res) => res.end(req.url === '/big' ? body : 'small'))
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [join(EXAMPLES, 'undici-client.js'), `${p.base}/big`, `${p.base}/small`], { timeout: 20_000 }, (e, stdout) =>
      e ? reject(e) : resolve(stdout),
    ),
  )
  // undici's pool may open a second connection when a request follows the previous body's end
  // at once (as it does over net).
  const m = new RegExp(`^200 ${body.length} ${sha(body)}\n200 5 ${sha('small')}\nconnections ([12])\n$`).exec(out)
  t.truthy(m, out)
  t.is(p.accepted(), Number(m?.[1]))
  await bounded(stop(p), 10_000, 'stop')
})

// node:http unmodified on netpoll sockets: http.createServer(handler) fed by netpoll's
// createServer(sock => httpServer.emit('connection', sock)); Node's http client over net and
// over netpoll sockets (agent.createConnection).
import test from 'ava'
import { createHash } from 'node:crypto'
import * as http from 'node:http'
import * as net from 'node:net'
import { join } from 'node:path'
import { createConnection, createServer, Server, Socket } from '../../index'
import { EXAMPLES, spawnLine } from '../client/helpers'

interface Pair {
  http: http.Server
  server: Server
  port: number
  accepted: () => number
}

/** An http server on a netpoll server at 127.0.0.1:0. */
async function httpOnNetpoll(handler: http.RequestListener): Promise<Pair> {
  const hs = http.createServer(handler)
  let accepted = 0
  const server = createServer((sock) => {
    accepted++
    hs.emit('connection', sock)
  })
  // node:http tracks its connections (closeIdleConnections, headersTimeout, requestTimeout)
  // from its own 'listening' event on: tell it the netpoll server listens.
  server.on('listening', () => hs.emit('listening'))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return { http: hs, server, port, accepted: () => accepted }
}

/** Stops both: idle keep-alive connections are closed; resolves on the netpoll server's 'close'. */
function stop(p: Pair): Promise<void> {
  return new Promise((resolve) => {
    p.server.close(() => resolve())
    p.http.close()
    p.http.closeIdleConnections()
  })
}

/** One request; resolves with status and body. */
function request(options: http.RequestOptions, body?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(20_000, () => req.destroy(new Error('request timed out')))
    req.end(body)
  })
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

test('keep-alive: 2,000 requests on 20 connections from http.Agent over net', async (t) => {
  const p = await httpOnNetpoll((req, res) => res.end(`hello ${req.url}`))
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 })
  const per = 100
  const workers = Array.from({ length: 20 }, async (_, w) => {
    for (let i = 0; i < per; i++) {
      const path = `/${w}/${i}`
      const r = await request({ host: '127.0.0.1', port: p.port, path, agent })
      if (r.status !== 200 || r.body.toString() !== `hello ${path}`) throw new Error(`bad answer for ${path}`)
    }
  })
  await Promise.all(workers)
  t.true(p.accepted() <= 20, `${p.accepted()} connections`)
  agent.destroy()
  await stop(p)
  t.pass()
})

test('pipelined requests are answered in order on one connection', async (t) => {
  const p = await httpOnNetpoll((req, res) => res.end(`r${req.url}`))
  const n = 50
  const c = net.connect({ port: p.port, host: '127.0.0.1' })
  let raw = ''
  const done = new Promise<void>((resolve, reject) => {
    c.on('data', (d: Buffer) => {
      raw += d.toString()
      if ((raw.match(/HTTP\/1\.1 200/g) ?? []).length === n && raw.endsWith(`r/${n - 1}`)) resolve()
    })
    c.on('error', reject)
    setTimeout(() => reject(new Error(`pipelined: got ${raw.length} bytes`)), 20_000)
  })
  let reqs = ''
  for (let i = 0; i < n; i++) reqs += `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`
  c.write(reqs)
  await done
  const bodies = [...raw.matchAll(/\r\n\r\n(r\/\d+)/g)].map((m) => m[1])
  t.deepEqual(
    bodies,
    Array.from({ length: n }, (_, i) => `r/${i}`),
  )
  c.destroy()
  await stop(p)
})

test('chunked 10 MiB request and response bodies with digests', async (t) => {
  const size = 10 << 20
  const body = Buffer.alloc(size)
  for (let i = 0; i < size; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i)
  const p = await httpOnNetpoll((req, res) => {
    const h = createHash('sha256')
    let n = 0
    req.on('data', (d: Buffer) => {
      h.update(d)
      n += d.length
    })
    req.on('end', () => {
      res.setHeader('x-request-digest', h.digest('hex'))
      res.setHeader('x-request-length', String(n))
      t.is(req.headers['transfer-encoding'], 'chunked')
      // A chunked response written in 64 KiB pieces, honouring backpressure.
      let off = 0
      const pump = (): void => {
        while (off < size) {
          const piece = body.subarray(off, off + 65536)
          off += piece.length
          if (!res.write(piece)) return void res.once('drain', pump)
        }
        res.end()
      }
      pump()
    })
  })
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: p.port, method: 'POST', path: '/upload', agent: false }, resolve)
    req.on('error', reject)
    for (let off = 0; off < size; off += 1 << 20) req.write(body.subarray(off, off + (1 << 20)))
    req.end()
  })
  t.is(res.headers['transfer-encoding'], 'chunked')
  t.is(res.headers['x-request-length'], String(size))
  t.is(res.headers['x-request-digest'], sha(body))
  const h = createHash('sha256')
  let n = 0
  for await (const d of res) {
    h.update(d as Buffer)
    n += (d as Buffer).length
  }
  t.is(n, size)
  t.is(h.digest('hex'), sha(body))
  await stop(p)
})

test('server.close() + closeIdleConnections(): idle keep-alive sockets close and the netpoll server emits close', async (t) => {
  const p = await httpOnNetpoll((_req, res) => res.end('ok'))
  const agent = new http.Agent({ keepAlive: true, maxSockets: 5 })
  await Promise.all(Array.from({ length: 5 }, () => request({ host: '127.0.0.1', port: p.port, path: '/', agent })))
  const count = await new Promise<number>((r) => p.server.getConnections((_e, n) => r(n)))
  t.true(count >= 1 && count <= 5, `${count}`)
  const clientClosed = new Promise<void>((resolve) => {
    const socks = Object.values(agent.freeSockets).flat() as net.Socket[]
    let left = socks.length
    for (const s of socks) s.once('close', () => --left === 0 && resolve())
  })
  const closedAt = Date.now()
  await stop(p)
  await clientClosed
  t.false(p.server.listening)
  t.true(Date.now() - closedAt < 5000)
  const after = await new Promise<number>((r) => p.server.getConnections((_e, n) => r(n)))
  t.is(after, 0)
  agent.destroy()
})

test("Node's keep-alive http client through agent.createConnection on netpoll sockets: 2,000 requests reusing sockets", async (t) => {
  const p = await httpOnNetpoll((req, res) => {
    const h = createHash('sha256')
    req.on('data', (d: Buffer) => h.update(d))
    req.on('end', () => res.end(`${req.method} ${req.url} ${h.digest('hex')} ${req.socket.remoteAddress}`))
  })
  // A keep-alive Agent calls unref() on the sockets it keeps free and ref() when it reuses them.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 10 })
  const sockets: Socket[] = []
  let unrefs = 0
  ;(agent as unknown as { createConnection: unknown }).createConnection = (o: net.TcpNetConnectOpts, cb: () => void) => {
    const s = createConnection({ port: o.port, host: o.host ?? '127.0.0.1' }, cb)
    const unref = s.unref
    s.unref = function (this: Socket) {
      unrefs++
      return unref.call(this)
    }
    sockets.push(s)
    return s
  }
  const payload = Buffer.alloc(300_000, 'a')
  for (let i = 0; i < 10; i++) {
    const r = await request({ host: '127.0.0.1', port: p.port, path: `/p${i}`, method: 'POST', agent }, payload)
    t.is(r.body.toString(), `POST /p${i} ${sha(payload)} 127.0.0.1`)
  }
  const empty = sha('')
  const workers = Array.from({ length: 10 }, async (_, w) => {
    for (let i = 0; i < 199; i++) {
      const path = `/${w}/${i}`
      const r = await request({ host: '127.0.0.1', port: p.port, path, agent })
      if (r.body.toString() !== `GET ${path} ${empty} 127.0.0.1`) throw new Error(`bad answer for ${path}: ${r.body.toString()}`)
    }
  })
  await Promise.all(workers)
  t.true(sockets.length >= 1 && sockets.length <= 10, `${sockets.length} sockets for 2,000 requests`)
  t.is(p.accepted(), sockets.length)
  t.true(unrefs >= 2000, `${unrefs} unref() calls`)
  agent.destroy()
  await stop(p)
})

test('examples/http-server.js serves GET and a streamed POST echo, and exits on SIGTERM', async (t) => {
  const { child, line } = await spawnLine([join(EXAMPLES, 'http-server.js'), '0', '127.0.0.1'])
  const port = Number(/:(\d+)$/.exec(line)?.[1])
  t.true(port > 0, line)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
  const got = await request({ host: '127.0.0.1', port, path: '/hi', agent })
  t.is(got.body.toString(), 'hello from node:http on netpoll: /hi (peer 127.0.0.1)\n')
  const body = Buffer.alloc(2 << 20, 'z')
  const echo = await request({ host: '127.0.0.1', port, path: '/', method: 'POST', agent }, body)
  t.is(sha(echo.body), sha(body))
  agent.destroy()
  const exited = new Promise<number | null>((r) => child.once('exit', r))
  child.kill('SIGTERM')
  t.is(await exited, 0)
})

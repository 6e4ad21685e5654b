// The bridge with TLS: createServer({ tls }) emitting 'secureConnection' with a TLSSocket,
// connect({ tls }) emitting 'secureConnect', the TLSSocket surface against Node's own view of
// the same connection, https-style serving (node:http over netpoll TLS sockets, Node's
// https.request client) and grpc-js with netpoll-terminated TLS (the injector gets
// createInsecure credentials; the client uses createSsl). Either engine (NETPOLL_MODE).
import test from 'ava'
import * as grpc from '@grpc/grpc-js'
import { createHash, randomBytes, X509Certificate } from 'node:crypto'
import * as http from 'node:http'
import * as https from 'node:https'
import * as net from 'node:net'
import { join } from 'node:path'
import * as tls from 'node:tls'
import type { AddressInfo } from 'node:net'
import { connect, createServer, Server, TLSSocket } from '../../index'
import { EXAMPLES } from '../client/helpers'
import { readExactly, until } from '../helpers'
import { certs, moreCerts } from './certs'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
}

function close(server: Server | net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

test('createServer({ tls }): secureConnection with a TLSSocket whose surface matches what Node\'s client sees', async (t) => {
  const c = certs()
  const server = createServer({ tls: { cert: c.cert, key: c.key, ALPNProtocols: ['h2', 'x-test'], requestCert: true, rejectUnauthorized: false, ca: c.ca } })
  const plainConnections: unknown[] = []
  server.on('connection', (s) => plainConnections.push(s))
  const sockets: TLSSocket[] = []
  server.on('secureConnection', (s: TLSSocket) => {
    sockets.push(s)
    s.pipe(s)
  })
  const port = await listen(server)
  t.teardown(() => close(server))
  const client = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: c.ca, ALPNProtocols: ['x-test'], cert: c.clientCert, key: c.clientKey }, () => resolve(s))
    s.once('error', reject)
  })
  const data = randomBytes(200_000)
  client.write(data)
  t.is(sha(await readExactly(client, data.length)), sha(data))
  const s = sockets[0]
  t.true(s instanceof TLSSocket)
  t.true(s.encrypted)
  t.true(s.authorized)
  t.is(s.authorizationError, null)
  t.is(s.alpnProtocol, 'x-test')
  t.is(s.alpnProtocol, client.alpnProtocol)
  t.is(s.servername, 'localhost')
  t.is(s.getProtocol(), client.getProtocol())
  t.is(s.getCipher()!.name, client.getCipher().name)
  t.is(s.getCipher()!.standardName, client.getCipher().standardName)
  t.false(s.isSessionReused())
  const peer = s.getPeerCertificate() as { subject: { CN: string }; fingerprint256: string; raw: Buffer }
  t.is(peer.subject.CN, 'client')
  t.is(peer.fingerprint256, new X509Certificate(c.clientCert).fingerprint256)
  t.deepEqual(peer.raw, new X509Certificate(c.clientCert).raw)
  t.is(plainConnections.length, 0)
  const protocol = client.getProtocol()
  client.end()
  await until(() => s.destroyed)
  // Still readable after the close (a deliberate difference: Node's TLSSocket returns null
  // once its handle is gone, so the client's value is taken before it closes).
  t.is(s.getProtocol(), protocol)
})

test('createServer({ tls }): a plaintext client is a tlsClientError; setSecureContext and addContext change new handshakes', async (t) => {
  const c = certs()
  const m = moreCerts()
  const server = createServer({ tls: { cert: c.cert, key: c.key } }, (s) => s.pipe(s))
  const errors: string[] = []
  server.on('tlsClientError', (e: NodeJS.ErrnoException) => void errors.push(e.code ?? ''))
  const port = await listen(server)
  t.teardown(() => close(server))
  const raw = net.connect(port, '127.0.0.1')
  raw.on('error', () => {})
  raw.resume()
  raw.write('GET / HTTP/1.1\r\n\r\n')
  await until(() => errors.length === 1)
  t.regex(errors[0], /^ERR_SSL_/)
  const fpFor = async (servername: string): Promise<string> => {
    const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false }, () => resolve(s))
      s.once('error', reject)
    })
    const f = s.getPeerCertificate().fingerprint256
    s.destroy()
    return f
  }
  t.is(await fpFor('localhost'), new X509Certificate(c.cert).fingerprint256)
  server.setSecureContext({ cert: m.rotated.cert, key: m.rotated.key })
  t.is(await fpFor('localhost'), new X509Certificate(m.rotated.cert).fingerprint256)
  server.addContext('alpha.test', m.alpha)
  t.is(await fpFor('alpha.test'), new X509Certificate(m.alpha.cert).fingerprint256)
  t.is(await fpFor('localhost'), new X509Certificate(m.rotated.cert).fingerprint256)
  t.throws(() => createServer().setSecureContext({ cert: c.cert, key: c.key }), { code: 'ERR_TLS_NOT_ENABLED' })
})

test('connect({ tls }): connect then secureConnect, a TLSSocket; a wrong hostname is an error event with Node\'s code', async (t) => {
  const c = certs()
  const node = tls.createServer({ cert: c.cert, key: c.key, ALPNProtocols: ['http/1.1'] }, (s) => s.pipe(s))
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', r))
  t.teardown(() => node.close())
  const port = (node.address() as AddressInfo).port
  const events: string[] = []
  const s = connect({ port, host: '127.0.0.1', tls: { servername: 'localhost', ca: c.ca, ALPNProtocols: ['http/1.1'] } }, () => events.push('cb'))
  t.true(s instanceof TLSSocket)
  s.on('connect', () => events.push('connect'))
  s.on('secureConnect', () => events.push('secureConnect'))
  await new Promise((r) => s.once('secureConnect', r))
  t.deepEqual(events, ['cb', 'connect', 'secureConnect'])
  const sock = s as TLSSocket
  t.true(sock.authorized)
  t.is(sock.alpnProtocol, 'http/1.1')
  t.is(sock.servername, 'localhost')
  t.is((sock.getPeerCertificate() as { subject: { CN: string } }).subject.CN, 'localhost')
  sock.write('hello')
  t.is((await readExactly(sock as unknown as net.Socket, 5)).toString(), 'hello')
  sock.destroy()
  const bad = connect({ port, host: '127.0.0.1', tls: { servername: 'example.com', ca: c.ca } })
  const e = await new Promise<NodeJS.ErrnoException>((r) => bad.once('error', r))
  t.is(e.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
  await new Promise((r) => bad.once('close', r))
})

test('https-style: node:http served over netpoll TLS sockets, Node\'s https.request client, keep-alive, 4 MiB bodies', async (t) => {
  const c = certs()
  const httpServer = http.createServer((req, res) => {
    const h = createHash('sha256')
    req.on('data', (d: Buffer) => h.update(d))
    req.on('end', () => {
      res.setHeader('x-digest', h.digest('hex'))
      res.setHeader('x-encrypted', String((req.socket as TLSSocket).encrypted))
      res.end(Buffer.alloc(4 << 20, 7))
    })
  })
  const server = createServer({ tls: { cert: c.cert, key: c.key, ALPNProtocols: ['http/1.1'] } }, (s) => httpServer.emit('connection', s))
  const port = await listen(server)
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: c.ca })
  t.teardown(async () => {
    agent.destroy()
    httpServer.closeAllConnections()
    await close(server)
  })
  const body = randomBytes(4 << 20)
  for (let i = 0; i < 3; i++) {
    const res = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; digest: string; reused: boolean }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, servername: 'localhost', method: 'POST', path: '/', agent }, (res) => {
        const h = createHash('sha256')
        res.on('data', (d: Buffer) => h.update(d))
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, digest: h.digest('hex'), reused: req.reusedSocket }))
      })
      req.on('error', reject)
      req.end(body)
    })
    t.is(res.status, 200)
    t.is(res.headers['x-digest'], sha(body))
    t.is(res.headers['x-encrypted'], 'true')
    t.is(res.digest, sha(Buffer.alloc(4 << 20, 7)))
    t.is(res.reused, i > 0)
  }
})

test('grpc-js with netpoll-terminated TLS: injector with createInsecure, client with createSsl; unary and streaming', async (t) => {
  const c = certs()
  const example = require(join(EXAMPLES, 'grpc-server.js')) as { service: grpc.ServiceDefinition; handlers: grpc.UntypedServiceImplementation }
  const grpcServer = new grpc.Server()
  grpcServer.addService(example.service, example.handlers)
  // TLS ends in the shards; grpc-js sees plaintext HTTP/2 (ALPN h2 agreed by netpoll).
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure())
  const server = createServer({ tls: { cert: c.cert, key: c.key, ALPNProtocols: ['h2'] } }, (s) => injector.injectConnection(s as unknown as net.Socket))
  const port = await listen(server)
  const Client = grpc.makeGenericClientConstructor(example.service, 'Demo') as unknown as new (address: string, creds: grpc.ChannelCredentials) => grpc.Client & {
    echo(req: object, cb: (e: grpc.ServiceError | null, r?: { text: string }) => void): void
    count(req: object): grpc.ClientReadableStream<{ i: number }>
  }
  const client = new Client(`localhost:${port}`, grpc.credentials.createSsl(Buffer.from(c.ca)))
  t.teardown(async () => {
    client.close()
    await Promise.all([close(server), new Promise<void>((r) => grpcServer.tryShutdown(() => r()))])
  })
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => new Promise<string>((resolve, reject) => {
    client.echo({ text: `m${i}` }, (e, r) => (e ? reject(e) : resolve(r!.text)))
  })))
  t.deepEqual(answers, Array.from({ length: 50 }, (_, i) => `m${i}`))
  const got: number[] = []
  await new Promise<void>((resolve, reject) => {
    const call = client.count({ n: 1000 })
    call.on('data', (m) => got.push(m.i))
    call.on('end', resolve)
    call.on('error', reject)
  })
  t.is(got.length, 1000)
  t.is(got[999], 999)
})

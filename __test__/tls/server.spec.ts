// A netpoll TLS listener against Node's `tls.connect`: TLS 1.2 and 1.3, ALPN, conn.tls,
// 1 MiB each way with a digest, plaintext sent to the TLS port, and a handshake that stops
// halfway cut by handshakeTimeout. Runs in whichever engine NETPOLL_MODE selects.
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import * as net from 'node:net'
import * as tls from 'node:tls'
import { Connection, createListener, EventLoop, Listener, TlsServerOptions } from '../../index'
import { readExactly, until } from '../helpers'
import { certs } from './certs'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** A TLS listener whose handler echoes whatever arrives; `seen` gets every connection. */
async function echoServer(extra: Partial<TlsServerOptions> = {}): Promise<{ ln: Listener; loop: EventLoop; seen: Connection[] }> {
  const c = certs()
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: { cert: c.cert, key: c.key, ...extra } })
  const seen: Connection[] = []
  const loop = new EventLoop(
    async (conn) => {
      const b = await conn.reader.next(conn.reader.len())
      conn.writer.writeBinary(Buffer.from(b))
      await conn.writer.flush()
    },
    { onPrepare: (conn) => void seen.push(conn) },
  )
  loop.serve(ln)
  return { ln, loop, seen }
}

function tlsConnect(opts: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(opts, () => resolve(s))
    s.once('error', reject)
  })
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  test(`Node tls client ↔ netpoll server, ${version}: echo, conn.tls, peer certificate`, async (t) => {
    const { ln, loop, seen } = await echoServer({ minVersion: version, maxVersion: version })
    const client = await tlsConnect({ host: '127.0.0.1', port: ln.address.port!, servername: 'localhost', ca: certs().ca })
    t.is(client.getProtocol(), version)
    t.true(client.authorized)
    client.write('hello over tls')
    t.is((await readExactly(client, 14)).toString(), 'hello over tls')
    const conn = seen[0]
    const info = conn.tls!
    t.is(info.protocol, version)
    t.is(info.servername, 'localhost')
    t.is(info.alpnProtocol, false)
    t.is(info.cipher.name, client.getCipher().name)
    t.false(info.authorized) // no client certificate requested
    t.is(info.peerCertificate, null)
    t.is(conn.tls, info) // asked once, kept
    client.destroy()
    await loop.shutdown({ timeout: 1000 })
  })
}

test('ALPN: the server picks the client protocol it prefers; both sides see it', async (t) => {
  const { ln, loop, seen } = await echoServer({ ALPNProtocols: ['h2', 'http/1.1'] })
  const client = await tlsConnect({
    host: '127.0.0.1', port: ln.address.port!, servername: 'localhost', ca: certs().ca, ALPNProtocols: ['http/1.1', 'h2'],
  })
  t.is(client.alpnProtocol, 'h2')
  client.write('x')
  await readExactly(client, 1)
  t.is(seen[0].tls!.alpnProtocol, 'h2')
  client.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('1 MiB each way through TLS arrives intact (digest), and close_notify ends the client cleanly', async (t) => {
  const c = certs()
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: { cert: c.cert, key: c.key } })
  const down = randomBytes(1 << 20)
  let upDigest = ''
  const loop = new EventLoop(async (conn) => {
    const up = await conn.reader.next(1 << 20)
    upDigest = sha(Buffer.from(up))
    conn.writer.writeBinary(down)
    await conn.writer.flush()
    conn.close()
  })
  loop.serve(ln)
  const client = await tlsConnect({ host: '127.0.0.1', port: ln.address.port!, servername: 'localhost', ca: c.ca })
  const up = randomBytes(1 << 20)
  const ended = new Promise<void>((resolve) => client.once('end', resolve))
  client.write(up)
  const got = await readExactly(client, 1 << 20, 30_000)
  t.is(sha(got), sha(down))
  await until(() => upDigest !== '', 10_000)
  t.is(upDigest, sha(up))
  await ended // close_notify + FIN: a clean end, no ECONNRESET
  client.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('plaintext sent to the TLS port: closed with a TLS client error, the server keeps serving', async (t) => {
  const { ln, loop } = await echoServer()
  const errors: Array<{ code?: string }> = []
  ln.onTlsClientError = (e) => void errors.push(e)
  const plain = net.connect({ host: '127.0.0.1', port: ln.address.port! })
  plain.on('error', () => {})
  plain.resume() // read to the end (rustls' alert, then FIN)
  plain.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
  await new Promise((resolve) => plain.once('close', resolve))
  await until(() => errors.length === 1)
  t.regex(errors[0].code ?? '', /^ERR_SSL_/)
  t.is(ln.tlsClientErrors, 1)
  const client = await tlsConnect({ host: '127.0.0.1', port: ln.address.port!, servername: 'localhost', ca: certs().ca })
  client.write('still here')
  t.is((await readExactly(client, 10)).toString(), 'still here')
  client.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('a handshake that stops halfway is closed by handshakeTimeout (ERR_TLS_HANDSHAKE_TIMEOUT)', async (t) => {
  const { ln, loop, seen } = await echoServer({ handshakeTimeout: 300 })
  const errors: Array<{ code?: string }> = []
  ln.onTlsClientError = (e) => void errors.push(e)
  const sock = net.connect({ host: '127.0.0.1', port: ln.address.port! })
  sock.on('error', () => {})
  sock.resume()
  sock.write(Buffer.from([0x16, 0x03, 0x01])) // the start of a record header, then nothing
  const started = Date.now()
  await new Promise((resolve) => sock.once('close', resolve))
  t.true(Date.now() - started >= 250)
  await until(() => errors.length === 1)
  t.is(errors[0].code, 'ERR_TLS_HANDSHAKE_TIMEOUT')
  t.is(seen.length, 0)
  await loop.shutdown({ timeout: 1000 })
})

test('a client that rejects the server certificate (unknown CA) never becomes a connection', async (t) => {
  const { ln, loop, seen } = await echoServer()
  const errors: Array<{ code?: string }> = []
  ln.onTlsClientError = (e) => void errors.push(e)
  const e = await tlsConnect({ host: '127.0.0.1', port: ln.address.port!, servername: 'localhost', ca: certs().otherCa }).then(
    () => null,
    (err: NodeJS.ErrnoException) => err,
  )
  t.is(e?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  await until(() => errors.length === 1)
  t.regex(errors[0].code ?? '', /^(ERR_SSL_|ECONNRESET)/)
  t.is(seen.length, 0)
  await loop.shutdown({ timeout: 1000 })
})

test('shutdownWrite on a TLS connection sends close_notify then FIN after the reply; the client sees a clean end', async (t) => {
  const c = certs()
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: { cert: c.cert, key: c.key } })
  const reply = randomBytes(300_000)
  const loop = new EventLoop(
    async (conn) => {
      await conn.reader.next(4)
      conn.writer.writeBinary(reply)
      await conn.shutdownWrite()
    },
    { allowHalfOpen: true },
  )
  loop.serve(ln)
  const client = await tlsConnect({ host: '127.0.0.1', port: ln.address.port!, servername: 'localhost', ca: c.ca, allowHalfOpen: true })
  const parts: Buffer[] = []
  client.on('data', (d: Buffer) => parts.push(d))
  const ended = new Promise<void>((resolve) => client.once('end', resolve))
  client.write('ping')
  await ended
  t.is(sha(Buffer.concat(parts)), sha(reply))
  client.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('requestCert: a client certificate from the CA is authorized and shown as peerCertificate; none is refused', async (t) => {
  const c = certs()
  const { ln, loop, seen } = await echoServer({ requestCert: true, ca: c.ca })
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const errors: Array<{ code?: string }> = []
  ln.onTlsClientError = (e) => void errors.push(e)
  const client = await tlsConnect({
    host: '127.0.0.1', port: ln.address.port!, servername: 'localhost', ca: c.ca, cert: c.clientCert, key: c.clientKey,
  })
  client.write('m')
  await readExactly(client, 1)
  const info = seen[0].tls!
  t.true(info.authorized)
  t.is(info.peerCertificate?.subject?.CN, 'client')
  client.destroy()
  // Without a certificate the handshake fails on the server: a TLS client error, no connection.
  const bare = tls.connect({ host: '127.0.0.1', port: ln.address.port!, servername: 'localhost', ca: c.ca })
  bare.on('error', () => {})
  bare.resume()
  await until(() => errors.length === 1)
  // Exactly the alert's code (threaded batches once gave this record another record's error:
  // the first client's ECONNRESET, and this one was lost).
  t.is(errors[0].code, 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE')
  t.is(seen.length, 1)
  bare.destroy()
})

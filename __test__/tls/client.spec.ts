// netpoll's TLS dial against Node's `tls.createServer`: TLS 1.2 and 1.3, ALPN, conn.tls, a
// wrong hostname, an unknown CA, and 1 MiB each way with a digest. Runs in whichever engine
// NETPOLL_MODE selects.
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import * as tls from 'node:tls'
import type { AddressInfo } from 'node:net'
import { dial, TlsClientOptions } from '../../index'
import { until } from '../helpers'
import { certs } from './certs'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** A Node TLS server echoing what it receives; resolves with it and its port. */
async function nodeServer(opts: tls.TlsOptions = {}): Promise<{ server: tls.Server; port: number; sockets: tls.TLSSocket[] }> {
  const c = certs()
  const sockets: tls.TLSSocket[] = []
  const server = tls.createServer({ cert: c.cert, key: c.key, ...opts }, (s) => {
    sockets.push(s)
    s.on('error', () => {})
    s.pipe(s)
  })
  server.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as AddressInfo).port, sockets }
}

function client(extra: Partial<TlsClientOptions> = {}): TlsClientOptions {
  return { ca: certs().ca, ...extra }
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  test(`netpoll dial ↔ Node tls server, ${version}: echo and conn.tls`, async (t) => {
    const { server, port } = await nodeServer({ minVersion: version, maxVersion: version })
    const conn = await dial('tcp', `localhost:${port}`, { tls: client() })
    const info = conn.tls!
    t.is(info.protocol, version)
    t.true(info.authorized)
    t.is(info.authorizationError, null)
    t.is(info.servername, 'localhost')
    t.is(info.peerCertificate?.subject?.CN, 'localhost')
    t.regex(info.peerCertificate?.fingerprint256 ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    conn.writer.writeString('ping over tls')
    await conn.writer.flush()
    t.is((await conn.reader.next(13)).toString(), 'ping over tls')
    conn.close()
    server.close()
  })
}

test('ALPN: the client offers, the Node server picks; conn.tls shows it', async (t) => {
  const { server, port } = await nodeServer({ ALPNProtocols: ['http/1.1'] })
  const conn = await dial('tcp', `127.0.0.1:${port}`, { tls: client({ servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'] }) })
  t.is(conn.tls!.alpnProtocol, 'http/1.1')
  conn.close()
  server.close()
})

test('a wrong hostname fails the dial with ERR_TLS_CERT_ALTNAME_INVALID', async (t) => {
  const { server, port } = await nodeServer()
  const e = await t.throwsAsync(dial('tcp', `127.0.0.1:${port}`, { tls: client({ servername: 'example.com' }) }))
  t.is((e as { code?: string }).code, 'ERR_TLS_CERT_ALTNAME_INVALID')
  server.close()
})

test('an unknown CA fails the dial with UNABLE_TO_VERIFY_LEAF_SIGNATURE; rejectUnauthorized: false connects unauthorized', async (t) => {
  const { server, port } = await nodeServer()
  const e = await t.throwsAsync(dial('tcp', `localhost:${port}`, { tls: { ca: certs().otherCa } }))
  t.is((e as { code?: string }).code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  const conn = await dial('tcp', `localhost:${port}`, { tls: { ca: certs().otherCa, rejectUnauthorized: false } })
  t.false(conn.tls!.authorized)
  t.is(conn.tls!.authorizationError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  conn.close()
  server.close()
})

test('1 MiB each way through a TLS dial arrives intact (digest)', async (t) => {
  const c = certs()
  const down = randomBytes(1 << 20)
  let upDigest = ''
  const server = tls.createServer({ cert: c.cert, key: c.key }, (s) => {
    const parts: Buffer[] = []
    let got = 0
    s.on('error', () => {})
    s.on('data', (d: Buffer) => {
      parts.push(d)
      got += d.length
      if (got === 1 << 20) {
        upDigest = sha(Buffer.concat(parts))
        s.end(down)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const conn = await dial('tcp', `localhost:${port}`, { tls: client() })
  const up = randomBytes(1 << 20)
  conn.writer.writeBinary(up)
  await conn.writer.flush()
  const got = Buffer.from(await conn.reader.next(1 << 20))
  t.is(sha(got), sha(down))
  await until(() => upDigest !== '', 10_000)
  t.is(upDigest, sha(up))
  conn.close()
  server.close()
})

test('a server that never answers the ClientHello fails the dial with ERR_TLS_HANDSHAKE_TIMEOUT', async (t) => {
  const net = await import('node:net')
  const held: import('node:net').Socket[] = []
  const server = net.createServer((s) => {
    held.push(s)
    s.on('error', () => {})
    s.resume() // read the ClientHello, answer nothing
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const started = Date.now()
  const e = await t.throwsAsync(dial('tcp', `localhost:${port}`, { tls: client({ handshakeTimeout: 300 }) }))
  t.is((e as { code?: string }).code, 'ERR_TLS_HANDSHAKE_TIMEOUT')
  t.true(Date.now() - started >= 250)
  await until(() => held.length === 1 && held[0].readableEnded, 5000) // our side closed it
  server.close()
})

// Bad TLS peers against a netpoll TLS listener (and a netpoll dial against a bad server): a
// garbage ClientHello, a ClientHello split into 1-byte writes, an expired certificate both
// ways, a client certificate from the wrong CA both ways, and 1,000 half-open handshakes while
// 100 established connections keep being served. Each failure asserts its code and that
// descriptors, engine connections/timers and pool bytes go back to the baseline.
import test from 'ava'
import * as net from 'node:net'
import * as tls from 'node:tls'
import type { AddressInfo } from 'node:net'
import { createListener, dial, EventLoop, Listener, NetpollError, TlsServerOptions } from '../../index'
import { readExactly, until } from '../helpers'
import { certs, moreCerts } from './certs'
import { backTo, usage } from './leaks'

/** A netpoll TLS echo listener; `errors` gets its tlsClientErrors. */
async function server(opts: Partial<TlsServerOptions> = {}): Promise<{ ln: Listener; loop: EventLoop; errors: NetpollError[] }> {
  const c = certs()
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: { cert: c.cert, key: c.key, ...opts } as TlsServerOptions })
  const errors: NetpollError[] = []
  ln.onTlsClientError = (e) => void errors.push(e)
  const loop = new EventLoop(async (conn) => {
    const b = await conn.reader.next(conn.reader.len())
    conn.writer.writeBinary(Buffer.from(b))
    await conn.writer.flush()
  })
  loop.serve(ln)
  return { ln, loop, errors }
}

function nodeClient(opts: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', servername: 'localhost', ca: certs().ca, ...opts }, () => resolve(s))
    s.once('error', (e) => {
      s.destroy()
      reject(e)
    })
  })
}

/** The listener still serves a good client. */
async function stillServes(t: { is(a: unknown, b: unknown): void }, port: number): Promise<void> {
  const s = await nodeClient({ port })
  s.write('ok')
  t.is((await readExactly(s, 2)).toString(), 'ok')
  s.destroy()
}

test.serial('a garbage ClientHello: ERR_SSL_ error on the listener, no connection, nothing leaks, the server keeps serving', async (t) => {
  const { ln, loop, errors } = await server()
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const base = usage()
  // A handshake record header, then bytes that are no ClientHello.
  const garbage = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c]), Buffer.alloc(60, 0xee)])
  const raw = net.connect(ln.address.port!, '127.0.0.1')
  raw.on('error', () => {})
  raw.resume()
  raw.write(garbage)
  const ended = new Promise((r) => raw.once('close', r))
  await until(() => errors.length === 1)
  await ended
  t.is(errors[0].code, 'ERR_SSL_DECODE_ERROR')
  t.is(loop.stats().accepted, 0)
  const back = await backTo(base)
  t.true(back.ok, JSON.stringify({ base, now: back.now }))
  await stillServes(t, ln.address.port!)
})

test.serial('a ClientHello split into 1-byte writes completes the handshake', async (t) => {
  const { ln, loop, errors } = await server()
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  // A proxy that forwards the client's bytes one per write, a macrotask apart, until the
  // server answers (the whole ClientHello), then passes everything through.
  let split = 0
  const proxy = net.createServer((down) => {
    const up = net.connect(ln.address.port!, '127.0.0.1')
    up.setNoDelay(true)
    let answered = false
    let queue = Promise.resolve()
    down.on('data', (chunk: Buffer) => {
      if (answered) return void up.write(chunk)
      for (const byte of chunk) {
        queue = queue.then(() => new Promise<void>((r) => {
          split++
          up.write(Buffer.from([byte]))
          setTimeout(r, 1)
        }))
      }
    })
    up.once('data', () => void (answered = true))
    up.on('data', (d) => down.write(d))
    const end = (): void => {
      up.destroy()
      down.destroy()
    }
    up.on('error', end).on('close', end)
    down.on('error', end).on('close', end)
  })
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
  t.teardown(() => proxy.close())
  const s = await nodeClient({ port: (proxy.address() as AddressInfo).port })
  s.write('split')
  t.is((await readExactly(s, 5)).toString(), 'split')
  t.true(split > 100, `the ClientHello went as ${split} one-byte writes`)
  t.is(errors.length, 0)
  s.destroy()
})

test.serial('an expired server certificate: CERT_HAS_EXPIRED on a netpoll dial and on Node\'s client; nothing leaks', async (t) => {
  const m = moreCerts()
  const { ln, loop, errors } = await server({ cert: m.expired.cert, key: m.expired.key })
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const node = tls.createServer({ cert: m.expired.cert, key: m.expired.key }, (s) => s.on('error', () => {}))
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', r))
  t.teardown(() => node.close())
  const base = usage()
  await t.throwsAsync(dial('tcp', `127.0.0.1:${(node.address() as AddressInfo).port}`, { tls: { servername: 'localhost', ca: certs().ca } }), { code: 'CERT_HAS_EXPIRED' })
  await t.throwsAsync(nodeClient({ port: ln.address.port! }), { code: 'CERT_HAS_EXPIRED' })
  // Node's client judges the certificate after its side of the handshake and closes without
  // an alert: the listener sees either a truncated handshake (ECONNRESET) or, when the
  // client's Finished came first, a connection closed at once. Either way nothing stays.
  await until(() => errors.length + loop.stats().closed === 1)
  for (const e of errors) t.is(e.code, 'ECONNRESET')
  const back = await backTo(base)
  t.true(back.ok, JSON.stringify({ base, now: back.now }))
})

test.serial('a client certificate from the wrong CA is refused both ways; nothing leaks', async (t) => {
  const c = certs()
  const m = moreCerts()
  const { ln, loop, errors } = await server({ requestCert: true, ca: c.ca })
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const node = tls.createServer({ cert: c.cert, key: c.key, requestCert: true, rejectUnauthorized: true, ca: c.ca }, (s) => s.pipe(s))
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', r))
  t.teardown(() => node.close())
  const base = usage()
  const foreign = { servername: 'localhost', ca: c.ca, cert: m.foreignClient.cert, key: m.foreignClient.key }
  /** A dial with the foreign certificate, then a read: TLS 1.3 clients finish their side of
   * the handshake before the server judged the certificate, so the refusal comes either with
   * the dial (TLS 1.2) or as the read's error (TLS 1.3). */
  const attempt = async (port: number, maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<NetpollError> => {
    const e = await t.throwsAsync(async () => {
      const conn = await dial('tcp', `127.0.0.1:${port}`, { tls: { ...foreign, maxVersion } })
      try {
        await conn.reader.next(1)
      } finally {
        conn.close()
      }
    })
    return e as NetpollError
  }
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    // netpoll listener: rustls refuses with an alert, which is the client's error.
    const e = await attempt(ln.address.port!, version)
    t.is(e.code, 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN', version) // rustls' alert (OpenSSL sends unknown_ca)
    // Node's client too.
    const s = nodeClient({ port: ln.address.port!, ...m.foreignClient, maxVersion: version })
    await t.throwsAsync(s.then((s) => readExactly(s, 1)))
    // Node's server judges the certificate after the handshake and closes without an alert
    // (it reports ECONNRESET on its side too): the dial sees the connection cut.
    const n = await attempt((node.address() as AddressInfo).port, version)
    t.is(n.code, 'ECONNRESET', version)
  }
  // The listener reported each refusal, with the code of the client certificate's failure.
  await until(() => errors.length === 4)
  t.deepEqual(errors.map((e) => e.code), Array(4).fill('UNABLE_TO_VERIFY_LEAF_SIGNATURE'))
  t.is(loop.stats().accepted, 0)
  const back = await backTo(base)
  t.true(back.ok, JSON.stringify({ base, now: back.now }))
})

test.serial('1,000 half-open handshakes while 100 established connections keep being served (R38)', async (t) => {
  const { ln, loop, errors } = await server({ handshakeTimeout: 60_000 })
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const port = ln.address.port!
  const established: tls.TLSSocket[] = []
  const halfOpen: net.Socket[] = []
  t.teardown(() => {
    for (const s of established) s.destroy()
    for (const s of halfOpen) s.destroy()
  })
  for (let i = 0; i < 100; i++) established.push(await nodeClient({ port }))
  const base = usage()
  // Half-open: TCP connected, then the first 5 bytes of a handshake record and silence.
  await Promise.all(Array.from({ length: 1000 }, () => new Promise<void>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]))
      resolve()
    })
    s.on('error', reject)
    halfOpen.push(s)
  })))
  await until(() => usage().connections >= base.connections + 1000, 20_000)
  // Every established connection answers 20 rounds meanwhile.
  await Promise.all(established.map(async (s, i) => {
    for (let r = 0; r < 20; r++) {
      const msg = Buffer.from(`${i}:${r};`)
      s.write(msg)
      t.deepEqual(await readExactly(s, msg.length, 20_000), msg)
    }
  }))
  t.is(loop.stats().accepted, 100)
  for (const s of halfOpen) s.destroy()
  await until(() => errors.length === 1000, 20_000)
  t.true(errors.every((e) => e.code === 'ECONNRESET'))
  const back = await backTo(base, 20_000)
  t.true(back.ok, JSON.stringify({ base, now: back.now }))
})

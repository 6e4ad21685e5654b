// Server contexts from JS: createSecureContext shared by two listeners, rotation through
// setSecureContext (listener, context, EventLoop) without restarting the listener, the static
// SNI map, RSA and ECDSA certificates with TLS 1.2 and 1.3 both ways, ticketKeys shared by two
// listeners, and option errors. Node's `tls` on the other side; either engine (NETPOLL_MODE).
import test from 'ava'
import * as tls from 'node:tls'
import type { AddressInfo } from 'node:net'
import { createListener, createSecureContext, dial, EventLoop, Listener } from '../../index'
import { readExactly } from '../helpers'
import { certs, moreCerts } from './certs'

/** An EventLoop echoing whatever arrives. */
function echoLoop(): EventLoop {
  return new EventLoop(async (conn) => {
    const b = await conn.reader.next(conn.reader.len())
    conn.writer.writeBinary(Buffer.from(b))
    await conn.writer.flush()
  })
}

/** Connects with Node's tls, sends one byte, waits for the echo; returns the socket. */
async function hello(port: number, opts: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs().ca, ...opts }, () => resolve(s))
    s.once('error', reject)
  })
  s.write('x')
  await readExactly(s, 1)
  return s
}

const fp = (s: tls.TLSSocket): string => s.getPeerCertificate().fingerprint256
const fpOf = (pem: string): string => new (require('node:crypto').X509Certificate)(pem).fingerprint256

test('one createSecureContext shared by two listeners; setSecureContext rotates both without a restart', async (t) => {
  const c = certs()
  const m = moreCerts()
  const ctx = createSecureContext({ cert: c.cert, key: c.key })
  const a = await createListener('tcp', '127.0.0.1:0', { tls: ctx })
  const b = await createListener('tcp', '127.0.0.1:0', { tls: { secureContext: ctx, handshakeTimeout: 5000 } })
  const loop = echoLoop()
  loop.serve(a)
  loop.serve(b)
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  t.is(a.secureContext, ctx)
  const before = await hello(a.address.port!)
  t.is(fp(before), fpOf(c.cert))
  ctx.setSecureContext({ cert: m.rotated.cert, key: m.rotated.key })
  // New handshakes on both listeners get the new certificate; the old connection still works.
  for (const l of [a, b]) {
    const s = await hello(l.address.port!)
    t.is(fp(s), fpOf(m.rotated.cert))
    s.destroy()
  }
  before.write('y')
  t.is((await readExactly(before, 1)).toString(), 'y')
  before.destroy()
  // Through the listener, and a bad reload keeps the old settings.
  a.setSecureContext({ cert: c.cert, key: c.key })
  t.throws(() => a.setSecureContext({ cert: c.cert, key: m.rotated.key }), { code: 'ERR_TLS_INVALID_PEM' })
  const again = await hello(b.address.port!)
  t.is(fp(again), fpOf(c.cert))
  again.destroy()
})

test('EventLoop({ tls }).listen serves TLS; loop.setSecureContext rotates; a plain listener stays plain', async (t) => {
  const c = certs()
  const m = moreCerts()
  const loop = new EventLoop(
    async (conn) => {
      const b = await conn.reader.next(conn.reader.len())
      conn.writer.writeBinary(Buffer.from(b))
      await conn.writer.flush()
    },
    { tls: { cert: c.cert, key: c.key } },
  )
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const { listener } = await loop.listen('tcp', '127.0.0.1:0')
  t.truthy(listener.secureContext)
  const s1 = await hello(listener.address.port!)
  t.is(fp(s1), fpOf(c.cert))
  s1.destroy()
  loop.setSecureContext({ cert: m.rotated.cert, key: m.rotated.key })
  const s2 = await hello(listener.address.port!)
  t.is(fp(s2), fpOf(m.rotated.cert))
  s2.destroy()
  const plain = await createListener('tcp', '127.0.0.1:0')
  loop.serve(plain)
  t.is(plain.secureContext, null)
  t.throws(() => plain.setSecureContext({ cert: c.cert, key: c.key }), { code: 'ERR_TLS_NOT_ENABLED' })
  t.throws(() => new EventLoop(() => {}).setSecureContext({ cert: c.cert, key: c.key }), { code: 'ERR_TLS_NOT_ENABLED' })
})

test('the static SNI map picks the certificate by servername; other names get the default; addContext-style reload adds one', async (t) => {
  const c = certs()
  const m = moreCerts()
  const ctx = createSecureContext({ cert: c.cert, key: c.key, SNIContexts: { 'alpha.test': m.alpha, 'beta.test': createSecureContext(m.beta) } })
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: ctx })
  const seen: Array<string | null> = []
  const loop = new EventLoop(
    async (conn) => {
      seen.push(conn.tls!.servername)
      const b = await conn.reader.next(conn.reader.len())
      conn.writer.writeBinary(Buffer.from(b))
      await conn.writer.flush()
    },
  )
  loop.serve(ln)
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const port = ln.address.port!
  for (const [name, pem] of [['alpha.test', m.alpha.cert], ['beta.test', m.beta.cert], ['localhost', c.cert], ['gamma.test', c.cert]] as const) {
    const s = await hello(port, { servername: name, rejectUnauthorized: name !== 'gamma.test' })
    t.is(fp(s), fpOf(pem), name)
    s.destroy()
  }
  t.deepEqual(seen, ['alpha.test', 'beta.test', 'localhost', 'gamma.test'])
  ctx.setSecureContext({ ...ctx.options, SNIContexts: { ...ctx.options.SNIContexts, 'gamma.test': m.rotated } })
  const g = await hello(port, { servername: 'gamma.test', rejectUnauthorized: false })
  t.is(fp(g), fpOf(m.rotated.cert))
  g.destroy()
})

test('SNICallback is a listener option: refused in createSecureContext, and must be a function', async (t) => {
  const c = certs()
  const SNICallback = (): void => {}
  t.throws(() => createSecureContext({ cert: c.cert, key: c.key, SNICallback } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /SNICallback is a listener option/ })
  await t.throwsAsync(createListener('tcp', '127.0.0.1:0', { tls: { cert: c.cert, key: c.key, SNICallback: 'alpha' as never } }), { code: 'ERR_INVALID_ARG_TYPE', message: /SNICallback must be a function/ })
  // Beside a shared context it is the listener's own.
  const ctx = createSecureContext({ cert: c.cert, key: c.key })
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: { secureContext: ctx, SNICallback } })
  t.is(ln.secureContext, ctx)
  ln.close()
})

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test(`RSA and ECDSA server certificates, ${version}: Node client ↔ netpoll listener and netpoll dial ↔ Node server`, async (t) => {
    const c = certs()
    const m = moreCerts()
    for (const pair of [m.rsa, { cert: c.cert, key: c.key }]) {
      const ln = await createListener('tcp', '127.0.0.1:0', { tls: { ...pair, minVersion: version, maxVersion: version } })
      const loop = echoLoop()
      loop.serve(ln)
      try {
        const s = await hello(ln.address.port!, { minVersion: version, maxVersion: version })
        t.is(s.getProtocol(), version)
        t.is(fp(s), fpOf(pair.cert))
        s.destroy()
      } finally {
        await loop.shutdown({ timeout: 1000 })
      }
      const server = tls.createServer({ ...pair, minVersion: version, maxVersion: version }, (s) => s.pipe(s))
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      try {
        const conn = await dial('tcp', `127.0.0.1:${(server.address() as AddressInfo).port}`, { tls: { servername: 'localhost', ca: c.ca } })
        t.is(conn.tls!.protocol, version)
        t.is(conn.tls!.peerCertificate!.fingerprint256, fpOf(pair.cert))
        conn.close()
      } finally {
        server.close()
      }
    }
  })
}

test('RSA and ECDSA on one context: an RSA-only TLS 1.2 client gets the RSA certificate, others the ECDSA one', async (t) => {
  const c = certs()
  const m = moreCerts()
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: { cert: [c.cert, m.rsa.cert], key: [c.key, m.rsa.key] } })
  const loop = echoLoop()
  loop.serve(ln)
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const rsa = await hello(ln.address.port!, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' })
  t.is(fp(rsa), fpOf(m.rsa.cert))
  rsa.destroy()
  const any = await hello(ln.address.port!)
  t.is(fp(any), fpOf(c.cert))
  any.destroy()
})

test('ticketKeys shared by two listeners: a session from one resumes on the other; different keys do not', async (t) => {
  const c = certs()
  const keys = Buffer.alloc(48, 7)
  const loop = echoLoop()
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const ls: Listener[] = []
  for (const k of [keys, keys, Buffer.alloc(48, 9)]) {
    const l = await createListener('tcp', '127.0.0.1:0', { tls: { cert: c.cert, key: c.key, ticketKeys: k, maxVersion: 'TLSv1.2' } })
    loop.serve(l)
    ls.push(l)
  }
  const first = await hello(ls[0].address.port!, { maxVersion: 'TLSv1.2' })
  const session = first.getSession()!
  first.destroy()
  const same = await hello(ls[1].address.port!, { maxVersion: 'TLSv1.2', session })
  t.true(same.isSessionReused())
  same.destroy()
  const other = await hello(ls[2].address.port!, { maxVersion: 'TLSv1.2', session })
  t.false(other.isSessionReused())
  other.destroy()
  t.throws(() => createSecureContext({ cert: c.cert, key: c.key, ticketKeys: Buffer.alloc(47) }), { code: 'ERR_INVALID_ARG_VALUE' })
})

test('sessionTimeout bounds resumption (TLS 1.3 tickets): a ticket older than it makes a full handshake', async (t) => {
  const c = certs()
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: { cert: c.cert, key: c.key, sessionTimeout: 5 } })
  const loop = echoLoop()
  loop.serve(ln)
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const first = await hello(ln.address.port!, {})
  const session = first.getSession()!
  first.destroy()
  const soon = await hello(ln.address.port!, { session })
  t.true(soon.isSessionReused())
  soon.destroy()
  await new Promise((r) => setTimeout(r, 6000))
  const late = await hello(ln.address.port!, { session })
  t.false(late.isSessionReused())
  late.destroy()
})

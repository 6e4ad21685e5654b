// Node's SNICallback on netpoll TLS listeners: the certificate each servername gets (answered
// at once, after a timer, with null for the default), no call for an IP literal or no SNI,
// errors and throwing callbacks as tlsClientErrors, a callback that never answers (handshake
// timeout), a peer that leaves while the callback is pending, a ClientHello split into 1-byte
// writes while it is pending, EventLoop({ tls }) and the bridge's createServer with Node's
// https/tls clients. Node's `tls` on the other side; either engine (NETPOLL_MODE).
import test from 'ava'
import * as https from 'node:https'
import * as net from 'node:net'
import * as tls from 'node:tls'
import type { AddressInfo } from 'node:net'
import { createListener, createSecureContext, createServer, EventLoop, NetpollError, SecureContext, SNICallback } from '../../index'
import { readExactly, until } from '../helpers'
import { certs, moreCerts } from './certs'
import { backTo, usage } from './leaks'

/** An EventLoop echoing whatever arrives. */
function echoLoop(): EventLoop {
  return new EventLoop(async (conn) => {
    const b = await conn.reader.next(conn.reader.len())
    conn.writer.writeBinary(Buffer.from(b))
    await conn.writer.flush()
  })
}

/** A netpoll TLS echo listener with `SNICallback`; `errors` gets its tlsClientErrors. */
async function server(SNICallback: SNICallback, extra: { handshakeTimeout?: number; ALPNProtocols?: string[] } = {}) {
  const c = certs()
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: { cert: c.cert, key: c.key, SNICallback, ...extra } })
  const errors: NetpollError[] = []
  ln.onTlsClientError = (e) => void errors.push(e)
  const loop = echoLoop()
  loop.serve(ln)
  return { ln, loop, errors, port: ln.address.port! }
}

/** Connects with Node's tls and echoes one byte; rejects with the client's error. */
async function hello(port: number, opts: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: certs().ca, ...opts }, () => resolve(s))
    s.once('error', (e) => {
      s.destroy()
      reject(e)
    })
  })
  s.write('x')
  await readExactly(s, 1)
  return s
}

const cn = (s: tls.TLSSocket): string => (s.getPeerCertificate().subject as { CN: string }).CN

/** A client that must fail its handshake; resolves with its error. */
function failing(port: number, servername: string): Promise<Error> {
  return hello(port, { servername }).then(
    (s) => {
      s.destroy()
      throw new Error(`the handshake for ${servername} completed`)
    },
    (e: Error) => e,
  )
}

test.serial('the callback picks the certificate per servername: at once, after a timer, null for the default; ALPN stays the listener\'s', async (t) => {
  const m = moreCerts()
  const alpha = createSecureContext({ cert: m.alpha.cert, key: m.alpha.key })
  const beta = createSecureContext({ cert: m.beta.cert, key: m.beta.key })
  const calls: string[] = []
  const { loop, port, errors } = await server(
    (name, cb) => {
      calls.push(name)
      if (name === 'alpha.test') cb(null, alpha)
      else if (name === 'beta.test') setTimeout(() => cb(null, beta), 50)
      else cb(null)
    },
    { ALPNProtocols: ['x-test'] },
  )
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  for (const [servername, expected] of [['alpha.test', 'alpha.test'], ['beta.test', 'beta.test'], ['localhost', 'localhost'], ['ALPHA.test', 'alpha.test']]) {
    const s = await hello(port, { servername, ALPNProtocols: ['x-test'] })
    t.is(cn(s), expected, servername)
    t.is(s.alpnProtocol, 'x-test', `${servername}: ALPN is the listener's`)
    s.destroy()
  }
  // The name as the shard read it (lower case).
  t.deepEqual(calls, ['alpha.test', 'beta.test', 'localhost', 'alpha.test'])
  // Without SNI (an IP host): the callback is not called, the listener's certificate is used.
  const ip = await hello(port, {})
  t.is(cn(ip), 'localhost')
  ip.destroy()
  t.is(calls.length, 4)
  t.deepEqual(errors, [])
})

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test.serial(`${version}: sessions resume with the callback's certificate (the listener's ticketer and cache), and the callback is asked each time`, async (t) => {
    const c = certs()
    const m = moreCerts()
    const alpha = createSecureContext({ cert: m.alpha.cert, key: m.alpha.key })
    const calls: string[] = []
    const ln = await createListener('tcp', '127.0.0.1:0', {
      tls: { cert: c.cert, key: c.key, minVersion: version, maxVersion: version, SNICallback: (name, cb) => (calls.push(name), setImmediate(() => cb(null, alpha))) },
    })
    const loop = echoLoop()
    loop.serve(ln)
    t.teardown(() => loop.shutdown({ timeout: 1000 }))
    let session: Buffer | undefined
    const reused: boolean[] = []
    for (let i = 0; i < 3; i++) {
      const s = await hello(ln.address.port!, { servername: 'alpha.test', session })
      // A resumed handshake sends no certificate (Node's client then shows none).
      if (!s.isSessionReused()) t.is(cn(s), 'alpha.test')
      reused.push(s.isSessionReused())
      session = s.getSession()
      s.destroy()
    }
    t.deepEqual(reused, [false, true, true])
    t.deepEqual(calls, ['alpha.test', 'alpha.test', 'alpha.test'])
  })
}

test.serial('conn.tls.servername shows the name the callback was asked for', async (t) => {
  const m = moreCerts()
  const c = certs()
  const alpha = createSecureContext({ cert: m.alpha.cert, key: m.alpha.key })
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: { cert: c.cert, key: c.key, SNICallback: (_n, cb) => setImmediate(() => cb(null, alpha)) } })
  const names: Array<string | null> = []
  const loop = new EventLoop(async (conn) => {
    names.push(conn.tls!.servername)
    const b = await conn.reader.next(conn.reader.len())
    conn.writer.writeBinary(Buffer.from(b))
    await conn.writer.flush()
  })
  loop.serve(ln)
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const s = await hello(ln.address.port!, { servername: 'alpha.test' })
  t.is(cn(s), 'alpha.test')
  s.destroy()
  t.deepEqual(names, ['alpha.test'])
})

test.serial('cb(err), a throwing callback and a Node tls.SecureContext fail that handshake: the listener reports the error, nothing leaks, the server keeps serving', async (t) => {
  const c = certs()
  const refused = new Error('no certificate for bad.test')
  const { loop, port, errors } = await server((name, cb) => {
    if (name === 'bad.test') setTimeout(() => cb(refused), 10)
    else if (name === 'throws.test') throw new Error('the callback threw')
    else if (name === 'node.test') cb(null, tls.createSecureContext({ cert: c.cert, key: c.key }) as unknown as SecureContext)
    else cb(null)
  })
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const base = usage()
  const e1 = await failing(port, 'bad.test')
  t.regex(String((e1 as NetpollError).code), /ECONNRESET|EPIPE/, e1.message)
  await until(() => errors.length === 1)
  t.is(errors[0], refused, 'the callback\'s own error object')
  t.is(errors[0].code, 'ERR_TLS_SNI_CALLBACK', 'given a code since it had none')
  await failing(port, 'throws.test')
  await until(() => errors.length === 2)
  t.is(errors[1].message, 'the callback threw')
  await failing(port, 'node.test')
  await until(() => errors.length === 3)
  t.is(errors[2].code, 'ERR_INVALID_ARG_TYPE')
  t.regex(errors[2].message, /Node tls\.SecureContext/)
  t.is(loop.stats().accepted, 0)
  const back = await backTo(base)
  t.true(back.ok, JSON.stringify({ base, now: back.now }))
  const s = await hello(port, { servername: 'localhost' })
  t.is(cn(s), 'localhost')
  s.destroy()
  t.is(errors.length, 3)
})

test.serial('a callback that never answers: ERR_TLS_HANDSHAKE_TIMEOUT, nothing leaks, the late answer is ignored', async (t) => {
  const m = moreCerts()
  const pending: Array<(err: Error | null, ctx?: SecureContext | null) => void> = []
  const { loop, port, errors } = await server((_name, cb) => void pending.push(cb), { handshakeTimeout: 300 })
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const base = usage()
  const e = await failing(port, 'alpha.test')
  t.truthy(e)
  await until(() => errors.length === 1)
  t.is(errors[0].code, 'ERR_TLS_HANDSHAKE_TIMEOUT')
  t.is(pending.length, 1)
  // The answer after the connection is gone: nothing happens, nothing is reported.
  pending[0](null, createSecureContext({ cert: m.alpha.cert, key: m.alpha.key }))
  pending[0](new Error('a second call'))
  const back = await backTo(base)
  t.true(back.ok, JSON.stringify({ base, now: back.now }))
  await new Promise((r) => setTimeout(r, 50))
  t.is(errors.length, 1)
})

test.serial('a peer that closes while the callback is pending: ECONNRESET on the listener, nothing leaks, a late cb(err) is not reported', async (t) => {
  const pending: Array<(err: Error | null) => void> = []
  const { loop, port, errors } = await server((_name, cb) => void pending.push(cb))
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const base = usage()
  const s = tls.connect({ host: '127.0.0.1', port, servername: 'alpha.test', ca: certs().ca })
  s.on('error', () => {})
  await until(() => pending.length === 1)
  s.destroy()
  await until(() => errors.length === 1)
  t.is(errors[0].code, 'ECONNRESET')
  pending[0](new Error('too late'))
  const back = await backTo(base)
  t.true(back.ok, JSON.stringify({ base, now: back.now }))
  await new Promise((r) => setTimeout(r, 50))
  t.is(errors.length, 1)
})

test.serial('bytes that are no ClientHello never reach the callback: the handshake fails as without one, nothing leaks', async (t) => {
  const calls: string[] = []
  const { loop, port, errors } = await server((name, cb) => (calls.push(name), cb(null)))
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const base = usage()
  const raw = net.connect(port, '127.0.0.1')
  raw.on('error', () => {})
  raw.resume()
  const closed = new Promise((r) => raw.once('close', r))
  raw.write('GET / HTTP/1.1\r\nHost: alpha.test\r\n\r\n')
  await until(() => errors.length === 1)
  await closed
  t.regex(errors[0].code, /^ERR_SSL_/)
  t.deepEqual(calls, [])
  const back = await backTo(base)
  t.true(back.ok, JSON.stringify({ base, now: back.now }))
})

/** The ClientHello Node's tls client sends for `servername` (caught by a plain server). */
async function clientHello(servername: string): Promise<Buffer> {
  const srv = net.createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
  try {
    const got = new Promise<Buffer>((resolve) => srv.once('connection', (sock) => sock.once('data', (d: Buffer) => {
      resolve(d)
      sock.destroy()
    })))
    const c = tls.connect({ host: '127.0.0.1', port: (srv.address() as AddressInfo).port, servername })
    c.on('error', () => {})
    const hello = await got
    c.destroy()
    return hello
  } finally {
    srv.close()
  }
}

test.serial('a ClientHello split into 1-byte writes: the name is read from the held bytes, and after the answer the server replies', async (t) => {
  const m = moreCerts()
  const alpha = createSecureContext({ cert: m.alpha.cert, key: m.alpha.key })
  const calls: string[] = []
  const { loop, port, errors } = await server((name, cb) => {
    calls.push(name)
    setTimeout(() => cb(null, alpha), 20)
  })
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const hello = await clientHello('alpha.test')
  t.is(hello[0], 0x16)
  const raw = net.connect(port, '127.0.0.1')
  raw.setNoDelay(true)
  raw.on('error', () => {})
  await new Promise((r) => raw.once('connect', r))
  t.teardown(() => raw.destroy())
  for (let i = 0; i < hello.length; i++) {
    await new Promise<void>((r) => raw.write(hello.subarray(i, i + 1), () => r()))
    if (i % 64 === 0) await new Promise((r) => setImmediate(r))
  }
  // The ServerHello (a handshake record) arrives once the callback answered.
  const reply = await readExactly(raw, 5)
  t.is(reply[0], 0x16)
  t.deepEqual(calls, ['alpha.test'])
  t.deepEqual(errors, [])
})

test.serial('EventLoop({ tls: { SNICallback } }): loop.listen serves with the callback', async (t) => {
  const c = certs()
  const m = moreCerts()
  const beta = createSecureContext({ cert: m.beta.cert, key: m.beta.key })
  const loop = new EventLoop(
    async (conn) => {
      const b = await conn.reader.next(conn.reader.len())
      conn.writer.writeBinary(Buffer.from(b))
      await conn.writer.flush()
    },
    { tls: { cert: c.cert, key: c.key, SNICallback: (name, cb) => cb(null, name === 'beta.test' ? beta : null) } },
  )
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const { listener: ln } = await loop.listen('tcp', '127.0.0.1:0')
  for (const [servername, expected] of [['beta.test', 'beta.test'], ['localhost', 'localhost']]) {
    const s = await hello(ln.address.port!, { servername })
    t.is(cn(s), expected)
    s.destroy()
  }
})

test.serial('the bridge: createServer({ tls: { cert, key, SNICallback } }) with Node\'s https.get and tls.connect; a refusal is a tlsClientError', async (t) => {
  const c = certs()
  const m = moreCerts()
  const alpha = createSecureContext({ cert: m.alpha.cert, key: m.alpha.key })
  const server = createServer({
    tls: {
      cert: c.cert,
      key: c.key,
      SNICallback: (name, cb) => {
        if (name === 'nope.test') cb(new Error('unknown tenant'))
        else setTimeout(() => cb(null, name === 'alpha.test' ? alpha : null), 5)
      },
    },
  })
  server.on('secureConnection', (s: net.Socket) => {
    s.on('error', () => {}) // the raw tls client below leaves without close_notify
    s.once('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'))
  })
  const clientErrors: Error[] = []
  server.on('tlsClientError', (e: Error) => clientErrors.push(e))
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const get = (servername: string) =>
    new Promise<{ cn: string; body: string }>((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port, servername, ca: c.ca, path: '/', agent: false }, (res) => {
        const peer = (res.socket as tls.TLSSocket).getPeerCertificate() as { subject: { CN: string } }
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve({ cn: peer.subject.CN, body }))
      })
      req.on('error', reject)
    })
  t.deepEqual(await get('alpha.test'), { cn: 'alpha.test', body: 'ok' })
  t.deepEqual(await get('localhost'), { cn: 'localhost', body: 'ok' })
  const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'alpha.test', ca: c.ca }, () => resolve(s))
    s.once('error', reject)
  })
  t.is(cn(s), 'alpha.test')
  // A reply before the close: the server has seen the client's Finished by then.
  s.write('x')
  t.is((await readExactly(s, 4)).toString(), 'HTTP')
  s.destroy()
  await t.throwsAsync(get('nope.test'))
  await until(() => clientErrors.length === 1)
  t.is(clientErrors[0].message, 'unknown tenant')
})

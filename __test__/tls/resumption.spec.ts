// Session resumption, checked on the side that did not resume by itself: netpoll dials (dial,
// Dialer, ConnectionPool) resume against Node's tls server (`isSessionReused()` there, and
// `conn.tls.sessionReused`), and Node's tls client resumes against a netpoll listener. TLS 1.2
// and 1.3; `sessionReuse: false` turns it off. Either engine (NETPOLL_MODE).
import test from 'ava'
import * as tls from 'node:tls'
import type { AddressInfo } from 'node:net'
import { Connection, ConnectionPool, createListener, dial, Dialer, EventLoop } from '../../index'
import { readExactly } from '../helpers'
import { certs } from './certs'

/** A Node tls echo server recording, per accepted socket, whether it resumed. */
async function nodeServer(version: tls.SecureVersion): Promise<{ port: number; reused: boolean[]; close(): void }> {
  const c = certs()
  const reused: boolean[] = []
  const server = tls.createServer({ cert: c.cert, key: c.key, minVersion: version, maxVersion: version }, (s) => {
    reused.push(s.isSessionReused())
    s.pipe(s)
    s.on('error', () => {})
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { port: (server.address() as AddressInfo).port, reused, close: () => server.close() }
}

/** One echo round trip, so the client has processed the server's session tickets. */
async function roundTrip(conn: Connection): Promise<void> {
  conn.writer.writeBinary(Buffer.from('ping'))
  await conn.writer.flush()
  await conn.reader.next(4)
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  test(`${version}: a second dial with the same options resumes (Node's isSessionReused), via dial, Dialer and ConnectionPool`, async (t) => {
    const srv = await nodeServer(version)
    t.teardown(() => srv.close())
    const addr = `127.0.0.1:${srv.port}`
    // Equal option objects made afresh each time share the session cache.
    const opts = () => ({ tls: { servername: 'localhost', ca: certs().ca } })
    const sessions: boolean[] = []
    for (let i = 0; i < 2; i++) {
      const conn = await dial('tcp', addr, opts())
      sessions.push(conn.tls!.sessionReused)
      await roundTrip(conn)
      conn.close()
    }
    const dialer = new Dialer({ tls: { servername: 'localhost', ca: certs().ca, ALPNProtocols: ['x-dialer'] } })
    for (let i = 0; i < 2; i++) {
      const conn = await dialer.dialConnection('tcp', addr)
      sessions.push(conn.tls!.sessionReused)
      await roundTrip(conn)
      conn.close()
    }
    const pool = new ConnectionPool({ tls: { servername: 'localhost', ca: certs().ca, ALPNProtocols: ['x-pool'] }, maxIdle: 0 })
    try {
      for (let i = 0; i < 2; i++) {
        const conn = await pool.get('tcp', addr)
        sessions.push(conn.tls!.sessionReused)
        await roundTrip(conn)
        conn.close()
      }
    } finally {
      pool.close()
    }
    // The first dial of each option set is full, the second resumed, on both sides.
    t.deepEqual(sessions, [false, true, false, true, false, true])
    t.deepEqual(srv.reused, [false, true, false, true, false, true])
  })

  test(`${version}: Node's tls client resumes against a netpoll listener (both sides say so)`, async (t) => {
    const c = certs()
    const ln = await createListener('tcp', '127.0.0.1:0', { tls: { cert: c.cert, key: c.key, minVersion: version, maxVersion: version } })
    const reused: boolean[] = []
    const loop = new EventLoop(async (conn) => {
      const b = await conn.reader.next(conn.reader.len())
      conn.writer.writeBinary(Buffer.from(b))
      await conn.writer.flush()
    }, { onPrepare: (conn) => void reused.push(conn.tls!.sessionReused) })
    loop.serve(ln)
    t.teardown(() => loop.shutdown({ timeout: 1000 }))
    let session: Buffer | undefined
    const client: boolean[] = []
    for (let i = 0; i < 3; i++) {
      const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: ln.address.port!, servername: 'localhost', ca: c.ca, session }, () => resolve(s))
        s.once('error', reject)
      })
      s.write('x')
      await readExactly(s, 1)
      client.push(s.isSessionReused())
      session = s.getSession()
      s.destroy()
    }
    t.deepEqual(client, [false, true, true])
    t.deepEqual(reused, [false, true, true])
  })
}

test('sessionReuse: false makes every dial a full handshake', async (t) => {
  const srv = await nodeServer('TLSv1.3')
  t.teardown(() => srv.close())
  for (let i = 0; i < 2; i++) {
    const conn = await dial('tcp', `127.0.0.1:${srv.port}`, { tls: { servername: 'localhost', ca: certs().ca, sessionReuse: false } })
    t.false(conn.tls!.sessionReused)
    await roundTrip(conn)
    conn.close()
  }
  t.deepEqual(srv.reused, [false, false])
})

test('two servers under one name on different ports (TLS 1.3 and TLS 1.2 only): dials to each resume their own sessions', async (t) => {
  const s13 = await nodeServer('TLSv1.3')
  const s12 = await nodeServer('TLSv1.2')
  t.teardown(() => {
    s13.close()
    s12.close()
  })
  const opts = { tls: { servername: 'localhost', ca: certs().ca, ALPNProtocols: ['x-two-ports'] } }
  const seen: boolean[] = []
  for (const port of [s13.port, s12.port, s13.port, s12.port, s12.port]) {
    const conn = await dial('tcp', `127.0.0.1:${port}`, opts)
    seen.push(conn.tls!.sessionReused)
    await roundTrip(conn)
    conn.close()
  }
  t.deepEqual(seen, [false, false, true, true, true])
  t.deepEqual(s12.reused, [false, true, true])
})

// The process exits by itself once what it opened is closed, like with `net` (RELIABILITY.md
// R19): every case is a child process on the built package, in the engine mode of this run
// (`npm test` runs the suite in both). A child prints `closed` once it has closed what it
// opened (or, for the cases that must stay alive, once everything is set up); the time to
// exit is measured from that marker. Peers that must outlive the child's own objects (an echo
// server, a server that closes first) run in this test process, so they hold nothing in the
// child.
import test from 'ava'
import { spawn } from 'node:child_process'
import * as net from 'node:net'
import { join } from 'node:path'
import { getConfig } from '../index'

const PKG = JSON.stringify(join(__dirname, '..', 'index.js'))
/** A child must exit this soon after its marker. */
const EXIT_MS = 2000
/** A child that must stay alive is killed this long after its marker. */
const ALIVE_MS = 2000
/** Children running at once: the machine may have 2 busy cores. */
const PARALLEL = 3

interface ChildResult {
  /** Exit code (null when killed). */
  code: number | null
  /** Whether the test killed it (it was still alive `ALIVE_MS` after the marker). */
  killed: boolean
  /** ms from the marker to the exit (-1 without a marker). */
  afterMarkerMs: number
  out: string
}

let running = 0
const queue: Array<() => void> = []

async function slot<T>(f: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL) await new Promise<void>((resolve) => queue.push(resolve))
  running++
  try {
    return await f()
  } finally {
    running--
    queue.shift()?.()
  }
}

/**
 * Runs `body` (the inside of an async `main`, after the prelude) in a child. `alive`: kill it
 * `ALIVE_MS` after its marker; otherwise wait for it to exit (killed after 30 s without one).
 */
function runChild(body: string, alive: boolean, env: Record<string, string>): Promise<ChildResult> {
  const script = `
    const net = require('node:net')
    const { createListener, dial, EventLoop, ConnectionPool, MuxClient, createServer, connect } = require(${PKG})
    const ECHO = '127.0.0.1:' + process.env.ECHO_PORT
    const CLOSER = '127.0.0.1:' + process.env.CLOSER_PORT
    const REFUSED = '127.0.0.1:' + process.env.REFUSED_PORT
    async function roundTrip(conn, text) {
      conn.writer.writeBinary(Buffer.from(text))
      await conn.writer.flush()
      return (await conn.reader.next(text.length)).toString()
    }
    async function main() {
      ${body}
    }
    main().catch((e) => { console.error(e); process.exit(1) })`
  return slot(
    () =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
        let out = ''
        let markedAt = 0
        let killed = false
        const kill = (): void => {
          if (child.exitCode === null && child.signalCode === null) {
            killed = true
            child.kill('SIGKILL')
          }
        }
        let killer = setTimeout(kill, 30_000)
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString()
          if (markedAt === 0 && /^closed\b/m.test(out)) {
            markedAt = Date.now()
            // Past its deadline, a child that should exit is not waited for much longer.
            clearTimeout(killer)
            killer = setTimeout(kill, alive ? ALIVE_MS : EXIT_MS + 3000)
          }
        })
        child.stderr.on('data', (d: Buffer) => (out += d.toString()))
        child.on('error', reject)
        child.on('exit', (code) => {
          clearTimeout(killer)
          resolve({ code, killed, afterMarkerMs: markedAt === 0 ? -1 : Date.now() - markedAt, out })
        })
      }),
  )
}

let peerEnv: Record<string, string> = {}
const peers: net.Server[] = []

function listen(server: net.Server): Promise<number> {
  peers.push(server)
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)))
}

test.before(async () => {
  // Echoes everything and never closes first.
  const echo = net.createServer((s) => {
    s.on('error', () => {})
    s.pipe(s)
  })
  // Reads one byte, then closes.
  const closer = net.createServer((s) => {
    s.on('error', () => {})
    s.once('data', () => s.end())
  })
  // A port that refuses: bound, then closed.
  const refused = net.createServer()
  const refusedPort = await listen(refused)
  await new Promise((resolve) => refused.close(resolve))
  peerEnv = { ECHO_PORT: String(await listen(echo)), CLOSER_PORT: String(await listen(closer)), REFUSED_PORT: String(refusedPort) }
})

test.after.always(() => {
  for (const s of peers) if (s.listening) s.close()
})

/** A child that closed what it opened exits with code 0 within `EXIT_MS` of its marker. */
function exits(title: string, body: string, out?: RegExp): void {
  test(`exits: ${title}`, async (t) => {
    t.timeout(120_000)
    const r = await runChild(body, false, peerEnv)
    t.is(r.code, 0, r.out)
    t.false(r.killed, r.out)
    if (out) t.regex(r.out, out)
    t.true(r.afterMarkerMs >= 0 && r.afterMarkerMs < EXIT_MS, `exited ${r.afterMarkerMs} ms after its marker: ${r.out}`)
  })
}

/** A child that keeps something open is still alive `ALIVE_MS` after its marker. */
function staysAlive(title: string, body: string, out?: RegExp): void {
  test(`stays alive: ${title}`, async (t) => {
    t.timeout(120_000)
    const r = await runChild(body, true, peerEnv)
    t.true(r.afterMarkerMs >= 0, `no marker: ${r.out}`)
    t.true(r.killed, `exited by itself with ${r.code} ${r.afterMarkerMs} ms after its marker: ${r.out}`)
    if (out) t.regex(r.out, out)
  })
}

/** A netpoll echo server on `ln` (one 5-byte message per request). */
const ECHO_SERVER = `
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(async (conn) => {
    const b = await conn.reader.next(5)
    conn.writer.writeBinary(b)
    await conn.writer.flush()
  })
  const served = loop.serve(ln)`

exits(
  'a server shut down after serving a net client',
  `${ECHO_SERVER}
  const s = net.connect(ln.address.port, '127.0.0.1', () => s.write('hello'))
  const echoed = await new Promise((resolve, reject) => {
    s.once('data', (d) => resolve(d.toString()))
    s.on('error', reject)
  })
  // The net client stays open: shutdown closes the server's side, and the client ends with it.
  await loop.shutdown({ timeout: 1000 })
  await served
  await new Promise((resolve) => s.on('close', resolve))
  console.log('closed ' + echoed)`,
  /closed hello/,
)

exits(
  'a listener and a connection closed without shutdown',
  `${ECHO_SERVER}
  const c = await dial('tcp', ln.toString())
  const back = await roundTrip(c, 'hello')
  c.close()
  ln.close()
  await served
  console.log('closed ' + back)`,
  /closed hello/,
)

exits(
  'a dialed connection closed',
  `const c = await dial('tcp', ECHO)
  const back = await roundTrip(c, 'hello')
  c.close()
  console.log('closed ' + back)`,
  /closed hello/,
)

exits(
  'a dialed connection whose peer closes first',
  `const c = await dial('tcp', CLOSER)
  const gone = new Promise((resolve) => c.addCloseCallback((_c, e) => resolve(e ? e.code : 'ok')))
  c.writer.writeBinary(Buffer.from('x'))
  await c.writer.flush()
  console.log('closed ' + (await gone))`,
  /closed ok/,
)

exits(
  'a dial still connecting when main returns (the dial holds the process until it settles)',
  `dial('tcp', ECHO).then(async (c) => {
    const back = await roundTrip(c, 'hello')
    c.close()
    console.log('closed ' + back)
  }, (e) => { console.error(e); process.exit(1) })`,
  /closed hello/,
)

exits(
  'a dial refused',
  `const code = await dial('tcp', REFUSED).then(() => 'connected', (e) => e.code)
  console.log('closed ' + code)`,
  /closed ECONNREFUSED/,
)

exits(
  'a pool with an idle connection left in it (not closed)',
  `const pool = new ConnectionPool()
  const c = await pool.get('tcp', ECHO)
  const back = await roundTrip(c, 'hello')
  pool.put(c)
  const st = pool.stats()
  console.log('closed ' + back + ' idle=' + st.idle + ' active=' + c.isActive())`,
  /closed hello idle=1 active=true/,
)

exits(
  'a pool closed',
  `const pool = new ConnectionPool()
  const a = await pool.get('tcp', ECHO)
  const b = await pool.get('tcp', ECHO)
  await roundTrip(a, 'hello')
  await roundTrip(b, 'hello')
  pool.put(a)
  pool.put(b)
  const again = await pool.get('tcp', ECHO) // reused: handed out, then back
  pool.put(again)
  pool.close()
  console.log('closed reused=' + pool.stats().reused)`,
  /closed reused=1/,
)

exits(
  'a get() whose dial is under way when main returns holds the process until it is put back',
  `const pool = new ConnectionPool()
  pool.get('tcp', ECHO).then(async (c) => {
    const back = await roundTrip(c, 'hello')
    pool.put(c)
    console.log('closed ' + back + ' idle=' + pool.stats().idle)
  }, (e) => { console.error(e); process.exit(1) })`,
  /closed hello idle=1/,
)

exits(
  'a mux client closed',
  `const mux = new MuxClient(await dial('tcp', ECHO))
  const body = await mux.request(Buffer.from('hello'))
  const text = (await body.next(body.len())).toString()
  mux.close()
  console.log('closed ' + text)`,
  /closed hello/,
)

exits(
  'a pending awaited read with long timeouts, then close',
  `const c = await dial('tcp', ECHO)
  c.setReadTimeout(60_000)
  c.setWriteTimeout(60_000)
  c.setIdleTimeout(60_000)
  const read = c.reader.next(100).then(() => 'read', (e) => e.code)
  await new Promise((resolve) => setTimeout(resolve, 50))
  c.close()
  console.log('closed ' + (await read))`,
  /closed ERR_CONN_CLOSED/,
)

exits(
  'a server and a client in one process',
  `${ECHO_SERVER}
  const c = await dial('tcp', ln.toString())
  const back = await roundTrip(c, 'hello')
  c.close()
  await loop.shutdown({ timeout: 1000 })
  console.log('closed ' + back)`,
  /closed hello/,
)

// R19(b): unref().
exits(
  'an unref()ed listener left open, served by an EventLoop',
  `${ECHO_SERVER}
  const c = await dial('tcp', ln.toString())
  await roundTrip(c, 'hello')
  c.close()
  await new Promise((resolve) => setTimeout(resolve, 50)) // the server's side sees the FIN
  ln.unref()
  ln.unref() // idempotent
  console.log('closed open=' + !ln.isClosed + ' served=' + loop.stats().accepted)`,
  /closed open=true served=1/,
)

exits(
  'an unref()ed connection left open',
  `const c = await dial('tcp', ECHO)
  const back = await roundTrip(c, 'hello')
  c.unref()
  c.unref() // idempotent
  console.log('closed ' + back + ' active=' + c.isActive())`,
  /closed hello active=true/,
)

exits(
  'an unref()ed busy connection left open: its own poll handle (inline: a direct connection) is unref()ed too',
  `const c = await dial('tcp', ECHO)
  for (let i = 0; i < 100; i++) await roundTrip(c, 'hello')
  const direct = require(${PKG}).stats().directConnections
  c.unref()
  console.log('closed active=' + c.isActive() + ' direct=' + direct)`,
  new RegExp(`closed active=true direct=${getConfig().mode === 'inline' ? 1 : 0}`),
)

exits(
  'a server and a client left open, all unref()ed (the listener, its connection in onPrepare, the net client)',
  `const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(
    async (conn) => {
      conn.writer.writeBinary(await conn.reader.next(5))
      await conn.writer.flush()
    },
    { onPrepare: (conn) => conn.unref() },
  )
  loop.serve(ln)
  ln.unref()
  const s = net.connect(ln.address.port, '127.0.0.1', () => s.write('hello'))
  const echoed = await new Promise((resolve, reject) => {
    s.once('data', (d) => resolve(d.toString()))
    s.on('error', reject)
  })
  s.unref()
  console.log('closed ' + echoed + ' open=' + loop.connections)`,
  /closed hello open=1/,
)

exits(
  'an unref()ed listener and connection closed later, then ref()ed again',
  `${ECHO_SERVER}
  const c = await dial('tcp', ECHO)
  c.unref()
  ln.unref()
  c.close()
  ln.close()
  c.ref() // closed: no effect
  ln.ref()
  await served
  console.log('closed')`,
)

// R19(b) through the net-compatible layer: Server.unref() and Socket.unref().
exits(
  'a net-compatible Server, its accepted Socket and a client Socket left open, all unref()ed',
  `const server = createServer((sock) => {
    sock.unref()
    sock.pipe(sock)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.unref()
  server.unref() // idempotent
  const s = connect(server.address().port, '127.0.0.1', () => s.write('hello'))
  const echoed = await new Promise((resolve, reject) => {
    s.once('data', (d) => resolve(d.toString()))
    s.on('error', reject)
  })
  const same = s.unref() === s && s.unref() === s
  const n = await new Promise((resolve) => server.getConnections((_e, n) => resolve(n)))
  console.log('closed ' + echoed + ' open=' + n + ' chained=' + same)`,
  /closed hello open=1 chained=true/,
)

exits(
  'unref() on a Server before listen() and on a Socket before its connect completed',
  `const server = createServer((sock) => sock.unref()).unref()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const s = connect(server.address().port, '127.0.0.1').unref()
  await new Promise((resolve, reject) => {
    s.once('connect', resolve)
    s.on('error', reject)
  })
  console.log('closed listening=' + server.listening + ' ' + s.readyState)`,
  /closed listening=true open/,
)

staysAlive(
  'a net-compatible client Socket unref()ed and ref()ed again',
  `const s = connect(Number(process.env.ECHO_PORT), '127.0.0.1')
  await new Promise((resolve) => s.once('connect', resolve))
  s.unref()
  s.ref()
  s.ref() // idempotent
  console.log('closed')`,
)

staysAlive(
  'a net-compatible Server unref()ed and ref()ed again',
  `const server = createServer(() => {})
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.unref().ref().ref()
  console.log('closed')`,
)

staysAlive(
  'a server still open',
  `${ECHO_SERVER}
  const c = await dial('tcp', ln.toString())
  const back = await roundTrip(c, 'hello')
  c.close()
  console.log('closed ' + back)`,
  /closed hello/,
)

staysAlive(
  'an open dialed connection (as with net)',
  `const c = await dial('tcp', ECHO)
  console.log('closed ' + (await roundTrip(c, 'hello')))`,
  /closed hello/,
)

staysAlive(
  'a listener unref()ed and ref()ed again',
  `const ln = await createListener('tcp', '127.0.0.1:0')
  ln.unref()
  ln.ref()
  ln.ref() // idempotent
  console.log('closed')`,
)

staysAlive(
  'a connection taken from a pool with get() and not released',
  `const pool = new ConnectionPool()
  const c = await pool.get('tcp', ECHO)
  console.log('closed ' + (await roundTrip(c, 'hello')))`,
  /closed hello/,
)

staysAlive(
  'a pooled connection put back idle, then taken again with get()',
  `const pool = new ConnectionPool()
  const c = await pool.get('tcp', ECHO)
  await roundTrip(c, 'hello')
  pool.put(c)
  const again = await pool.get('tcp', ECHO)
  console.log('closed same=' + (again === c) + ' ' + (await roundTrip(again, 'again')))`,
  /closed same=true again/,
)

staysAlive(
  'a pooled connection unref()ed by its user, put back and handed straight to a waiting get()',
  `const pool = new ConnectionPool({ maxConnections: 1 })
  const c = await pool.get('tcp', ECHO)
  const waiting = pool.get('tcp', ECHO)
  c.unref()
  pool.put(c)
  const again = await waiting
  console.log('closed same=' + (again === c) + ' ' + (await roundTrip(again, 'again')))`,
  /closed same=true again/,
)

staysAlive(
  'an open connection beside one unref()ed, closed and ref()ed/unref()ed again (no double count)',
  `const a = await dial('tcp', ECHO)
  const b = await dial('tcp', ECHO)
  a.unref()
  a.close()
  a.ref()
  a.unref()
  a.unref()
  console.log('closed ' + (await roundTrip(b, 'hello')))`,
  /closed hello/,
)

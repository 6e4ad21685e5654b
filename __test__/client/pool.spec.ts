import test from 'ava'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { ConnectionPool, createListener, EventLoop, NetpollError } from '../../index'
import { framedEcho, until } from '../helpers'
import { bounded, roundTrip, spawnLine, stop } from './helpers'

/** A netpoll framed echo server; `restart()` stops it and listens again on the same address. */
async function echoServer(address = '127.0.0.1:0') {
  const ln = await createListener('tcp', address)
  const loop = new EventLoop(framedEcho)
  loop.serve(ln)
  return { address: ln.toString(), stop: () => loop.shutdown({ timeout: 1000 }) }
}

test('LIFO reuse: the most recently returned connection comes back first; stats count it', async (t) => {
  const server = await echoServer()
  const pool = new ConnectionPool()
  const a = await pool.get('tcp', server.address)
  const b = await pool.get('tcp', server.address)
  t.like(pool.stats(), { inUse: 2, idle: 0, dialed: 2, reused: 0 })
  pool.put(a)
  pool.put(b)
  t.like(pool.stats(), { inUse: 0, idle: 2 })
  t.is(await pool.get('tcp', server.address), b)
  t.is(await pool.get('tcp', server.address), a)
  t.like(pool.stats(), { inUse: 2, idle: 0, dialed: 2, reused: 2 })
  t.is((await roundTrip(a, Buffer.from('hi'))).toString(), 'hi')
  t.is(t.throws<NetpollError>(() => pool.put(a) || pool.put(a))?.code, 'ERR_POOL_FOREIGN')
  pool.close()
  b.close()
  await server.stop()
})

test('dead idle connections are never handed out; a put connection with unread input is closed', async (t) => {
  const server = await echoServer()
  const pool = new ConnectionPool({ evictInterval: 60_000 })
  const conns = await Promise.all([0, 1, 2].map(() => pool.get('tcp', server.address)))
  // One has an answer nobody read: it must not be reused (its bytes would be the next reply).
  conns[2].writer.writeBinary(Buffer.from([0, 0, 0, 1, 7]))
  await conns[2].writer.flush()
  await until(() => conns[2].reader.len() === 5)
  for (const c of conns) pool.put(c)
  t.true(conns[2].isClosed)
  t.is(pool.stats().idle, 2)
  await server.stop()
  // The peer closed: liveness alone drops them from the pool, without a request.
  await until(() => conns.every((c) => !c.isActive()))
  t.is(pool.stats().idle, 0)
  const e = await t.throwsAsync<NetpollError>(pool.get('tcp', server.address))
  t.is(e?.code, 'ECONNREFUSED')
  t.like(pool.stats(), { reused: 0, dialFailed: 1, inUse: 0 })
  pool.close()
})

test('server restart: every request ends in a response or an error, and all succeed once it is back', async (t) => {
  t.timeout(30_000)
  let server = await echoServer()
  const address = server.address
  const pool = new ConnectionPool({ maxConnections: 8, dial: { timeout: 1000 } })
  const call = async (payload: Buffer): Promise<string> => {
    const conn = await pool.get('tcp', address)
    try {
      const back = await roundTrip(conn, payload)
      pool.put(conn)
      return back.equals(payload) ? 'ok' : 'wrong'
    } catch (e) {
      conn.close()
      throw e
    }
  }
  const wave = (n: number): Promise<PromiseSettledResult<string>[]> =>
    bounded(Promise.allSettled(Array.from({ length: n }, () => call(randomBytes(64)))), 10_000, 'a wave of requests')
  t.true((await wave(32)).every((r) => r.status === 'fulfilled' && r.value === 'ok'))
  t.is(pool.stats().idle, 8)

  // Down: idle connections are dropped by liveness; requests fail fast, none hangs.
  await server.stop()
  await until(() => pool.stats().idle === 0)
  const down = await wave(16)
  t.true(down.every((r) => r.status === 'rejected' && (r.reason as NetpollError).code === 'ECONNREFUSED'))

  // Back on the same address: everything succeeds, on new connections only.
  server = await echoServer(address)
  const dialedBefore = pool.stats().dialed
  t.true((await wave(32)).every((r) => r.status === 'fulfilled' && r.value === 'ok'))
  t.true(pool.stats().dialed > dialedBefore)

  // Restart with connections idle and no pause: each request still settles.
  await server.stop()
  server = await echoServer(address)
  const mixed = await wave(32)
  t.is(mixed.length, 32)
  for (const r of mixed) {
    if (r.status === 'rejected') t.true(['ERR_CONN_CLOSED', 'ECONNRESET', 'EPIPE'].includes((r.reason as NetpollError).code))
  }
  t.like(pool.stats(), { inUse: 0, waiting: 0, dialing: 0 })
  pool.close()
  await server.stop()
})

test('maxConnections: a FIFO wait queue, served by put() and by a closed connection', async (t) => {
  const server = await echoServer()
  const pool = new ConnectionPool({ maxConnections: 2 })
  const a = await pool.get('tcp', server.address)
  const b = await pool.get('tcp', server.address)
  const order: string[] = []
  const w1 = pool.get('tcp', server.address).then((c) => (order.push('w1'), c))
  const w2 = pool.get('tcp', server.address).then((c) => (order.push('w2'), c))
  await until(() => pool.stats().waiting === 2)
  pool.put(a)
  t.is(await w1, a) // handed over directly
  b.close() // frees a slot: the next waiter dials
  const c = await w2
  t.not(c, b)
  t.true(c.isActive())
  t.deepEqual(order, ['w1', 'w2'])
  t.like(pool.stats(), { waiting: 0, inUse: 2, dialed: 3 })
  pool.close()
  a.close()
  c.close()
  await server.stop()
})

test('get timeout: ERR_POOL_TIMEOUT, per pool and per call; an abort signal leaves the queue', async (t) => {
  const server = await echoServer()
  const pool = new ConnectionPool({ maxConnections: 1, getTimeout: 50 })
  const a = await pool.get('tcp', server.address)
  const e1 = await t.throwsAsync<NetpollError>(pool.get('tcp', server.address))
  t.is(e1?.code, 'ERR_POOL_TIMEOUT')
  const e2 = await t.throwsAsync<NetpollError>(pool.get('tcp', server.address, { timeout: 20 }))
  t.is(e2?.code, 'ERR_POOL_TIMEOUT')
  const ac = new AbortController()
  const aborted = pool.get('tcp', server.address, { timeout: 0, signal: ac.signal })
  await until(() => pool.stats().waiting === 1)
  ac.abort()
  t.is((await t.throwsAsync<NetpollError>(aborted))?.code, 'ABORT_ERR')
  t.like(pool.stats(), { waiting: 0, timedOut: 2, inUse: 1 })
  pool.put(a)
  t.is(await pool.get('tcp', server.address), a)
  pool.close()
  a.close()
  await server.stop()
})

test('idle limits: maxIdlePerAddress and maxIdle close what does not fit', async (t) => {
  const s1 = await echoServer()
  const s2 = await echoServer()
  const pool = new ConnectionPool({ maxIdlePerAddress: 2, maxIdle: 3 })
  const one = await Promise.all([0, 1, 2].map(() => pool.get('tcp', s1.address)))
  const two = await Promise.all([0, 1].map(() => pool.get('tcp', s2.address)))
  for (const c of one) pool.put(c)
  t.true(one[2].isClosed) // third for s1: over maxIdlePerAddress
  for (const c of two) pool.put(c)
  t.true(two[1].isClosed) // fourth in all: over maxIdle
  t.like(pool.stats(), { idle: 3, evicted: 2 })
  pool.close()
  t.like(pool.stats(), { idle: 0, evicted: 5 })
  await s1.stop()
  await s2.stop()
})

test('eviction closes expired idle connections, oldest first, keeping minIdle', async (t) => {
  const server = await echoServer()
  const pool = new ConnectionPool({ idleTimeout: 50, minIdle: 1, evictInterval: 10 })
  const conns = await Promise.all([0, 1, 2].map(() => pool.get('tcp', server.address)))
  for (const c of conns) pool.put(c)
  await until(() => pool.stats().idle === 1)
  t.true(conns[0].isClosed && conns[1].isClosed)
  t.false(conns[2].isClosed)
  await new Promise((r) => setTimeout(r, 100))
  t.is(pool.stats().idle, 1) // minIdle is kept past its deadline
  t.is(await pool.get('tcp', server.address), conns[2])
  t.is(pool.stats().evicted, 2)
  pool.close()
  conns[2].close()
  await server.stop()
})

test('close(): idle connections closed, later gets rejected with ERR_POOL_CLOSED, put closes', async (t) => {
  const server = await echoServer()
  const pool = new ConnectionPool()
  const a = await pool.get('tcp', server.address)
  const b = await pool.get('tcp', server.address)
  pool.put(b)
  pool.close()
  pool.close()
  t.true(b.isClosed)
  t.is((await t.throwsAsync<NetpollError>(pool.get('tcp', server.address)))?.code, 'ERR_POOL_CLOSED')
  t.false(a.isClosed) // in use: its owner decides
  pool.put(a)
  t.true(a.isClosed)
  t.like(pool.stats(), { idle: 0, inUse: 0, waiting: 0, evicted: 1 })
  await server.stop()
})

test('close() rejects a queued get with ERR_POOL_CLOSED', async (t) => {
  const server = await echoServer()
  const pool = new ConnectionPool({ maxConnections: 1 })
  const a = await pool.get('tcp', server.address)
  const waiting = pool.get('tcp', server.address)
  await until(() => pool.stats().waiting === 1)
  pool.close()
  t.is((await t.throwsAsync<NetpollError>(waiting))?.code, 'ERR_POOL_CLOSED')
  a.close()
  await server.stop()
})

test('a process whose pool holds idle connections exits without waiting for them to expire', async (t) => {
  const { child: server, line } = await spawnLine([join(__dirname, '..', '..', 'examples', 'net-echo-server.js'), '--listen', 'tcp://127.0.0.1:0'])
  try {
    const address = line.split(' ')[1]
    // Idle connections are unref'd (as http.Agent's free sockets): the process exits with
    // the connection still idle in the pool, not when the 60 s idle timeout closes it.
    const script = `
      const { ConnectionPool } = require(${JSON.stringify(join(__dirname, '..', '..'))})
      const pool = new ConnectionPool({ idleTimeout: 60_000 })
      pool.get('tcp', ${JSON.stringify(address)}).then((c) => {
        pool.put(c)
        process.on('exit', () => console.log(JSON.stringify(pool.stats())))
      })`
    const { line: exitLine, child } = await spawnLine(['-e', script], 10_000)
    const code = await new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', r)))
    t.is(code, 0)
    t.like(JSON.parse(exitLine), { idle: 1, evicted: 0, dialed: 1 })
  } finally {
    await stop(server)
  }
})

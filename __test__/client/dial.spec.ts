import test, { ExecutionContext } from 'ava'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync } from 'node:fs'
import * as net from 'node:net'
import { constants as osConstants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Connection, createListener, dial, Dialer, EventLoop, NetpollError, stats } from '../../index'
import { frame, framedEcho, until } from '../helpers'
import { blackhole, bounded, peerProcess, roundTrip } from './helpers'

function netServer(onConn: (s: net.Socket) => void = () => {}): Promise<net.Server> {
  const server = net.createServer(onConn)
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}
const portOf = (server: net.Server): number => (server.address() as net.AddressInfo).port

/** Runs `node -e script` with `env` added; killed (status null) if it runs longer than 15 s. */
function runNode(script: string, env: Record<string, string>): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    child.once('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout })
    })
  })
}

test('ECONNREFUSED names the address and port', async (t) => {
  const server = await netServer()
  const port = portOf(server)
  await new Promise((r) => server.close(r))
  const e = await t.throwsAsync<NetpollError>(dial('tcp', `127.0.0.1:${port}`))
  t.is(e?.code, 'ECONNREFUSED')
  t.is(e?.syscall, 'connect')
  t.is(e?.address, '127.0.0.1')
  t.is(e?.port, port)
})

test('ETIMEDOUT when SYNs are dropped (full backlog), with address and port', async (t) => {
  const hole = await blackhole()
  try {
    const [, port] = hole.address.split(':')
    const e = await t.throwsAsync<NetpollError>(dial('tcp', hole.address, { timeout: 200 }))
    t.is(e?.code, 'ETIMEDOUT')
    t.is(e?.syscall, 'connect')
    t.is(e?.errno, -osConstants.errno.ETIMEDOUT) // negative, as in Node
    t.is(e?.address, '127.0.0.1')
    t.is(e?.port, Number(port))
    // Dialer: the per-call timeout overrides the dialer's.
    const e2 = await t.throwsAsync<NetpollError>(new Dialer({ timeout: 60_000 }).dialConnection('tcp', hole.address, 100))
    t.is(e2?.code, 'ETIMEDOUT')
  } finally {
    await hole.close()
  }
})

// A non-blocking connect to a Unix socket whose backlog is full fails at once with EAGAIN: the
// shard keeps such a dial pending and tries again until the timeout.
test('unix: the timeout holds when the backlog is full (ETIMEDOUT)', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'netpoll-')), 'full.sock')
  const hole = await blackhole(path)
  try {
    const start = Date.now()
    const e = await t.throwsAsync<NetpollError>(dial('unix', path, { timeout: 200 }))
    t.is(e?.code, 'ETIMEDOUT')
    t.is(e?.syscall, 'connect')
    t.is(e?.errno, -osConstants.errno.ETIMEDOUT) // negative, as in Node
    t.is(e?.address, path)
    t.true(Date.now() - start >= 195, 'not before the timeout') // timers round to whole ms
  } finally {
    await hole.close()
  }
})

test('unix, no timeout, full backlog: the dial waits until the listener goes away', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'netpoll-')), 'gone.sock')
  const hole = await blackhole(path)
  const pending = dial('unix', path)
  let settled = false
  pending.then(
    () => (settled = true),
    () => (settled = true),
  )
  await new Promise((r) => setTimeout(r, 150))
  t.false(settled, 'still waiting for room in the backlog')
  await hole.close()
  const e = await t.throwsAsync<NetpollError>(bounded(pending, 5000, 'the dial'))
  t.true(e?.code === 'ECONNREFUSED' || e?.code === 'ENOENT', e?.code)
  t.is(e?.address, path)
})

test('ENOENT names the missing socket path', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'netpoll-')), 'missing.sock')
  const e = await t.throwsAsync<NetpollError>(dial('unix', path, { timeout: 1000 }))
  t.is(e?.code, 'ENOENT')
  t.is(e?.address, path)
})

test('EACCES: a socket file without write permission, and a privileged local port (as nobody)', async (t) => {
  if (!existsSync('/usr/bin/setpriv') && spawnSync('setpriv', ['--version']).error) {
    t.log('SKIPPED: setpriv is missing, so the test cannot drop root privileges (root bypasses EACCES)')
    t.pass()
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'netpoll-'))
  chmodSync(dir, 0o755)
  const path = join(dir, 'private.sock')
  const ln = await createListener('unix', path)
  chmodSync(path, 0o600) // root's: nobody may not connect
  const script = `
    const { dial } = require(${JSON.stringify(join(__dirname, '..', '..'))})
    const codes = async (p) => p.then(() => 'connected', (e) => ({ code: e.code, syscall: e.syscall, address: e.address }))
    ;(async () => {
      const unix = await codes(dial('unix', ${JSON.stringify(path)}))
      const bind = await codes(dial('tcp', '127.0.0.1:9', { localAddress: '127.0.0.1:80' }))
      console.log(JSON.stringify({ unix, bind }))
    })()`
  const r = spawnSync(
    'setpriv',
    ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', script],
    { encoding: 'utf8', timeout: 20_000, cwd: tmpdir() },
  )
  ln.close()
  t.is(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  t.like(out.unix, { code: 'EACCES', address: path })
  t.like(out.bind, { code: 'EACCES', syscall: 'bind', address: '127.0.0.1' })
})

test('a localAddress that cannot be bound is a bind error naming the local address', async (t) => {
  // TEST-NET-1 (192.0.2.0/24) is on no interface of this host.
  const e = await t.throwsAsync<NetpollError>(dial('tcp', '127.0.0.1:9', { localAddress: '192.0.2.1' }))
  t.is(e?.code, 'EADDRNOTAVAIL')
  t.is(e?.syscall, 'bind')
  t.is(e?.address, '192.0.2.1')
  t.is(e?.port, 0)
  const e2 = await t.throwsAsync<NetpollError>(dial('tcp', '127.0.0.1:9', { localAddress: '192.0.2.1:4242' }))
  t.like(e2, { code: 'EADDRNOTAVAIL', syscall: 'bind', address: '192.0.2.1', port: 4242 })
})

// Serial: it compares the process-wide connection count.
test.serial('ABORT_ERR: an aborted signal, an abort right after the call and one mid-connect; no connection appears', async (t) => {
  const accepted: net.Socket[] = []
  const server = await netServer((s) => accepted.push(s))
  const address = `127.0.0.1:${portOf(server)}`
  const before = stats().connections

  const e1 = await t.throwsAsync<NetpollError>(dial('tcp', address, { signal: AbortSignal.abort() }))
  t.is(e1?.code, 'ABORT_ERR')
  t.is(e1?.name, 'AbortError')

  // Aborted while the address is being resolved, before the connect starts.
  const ac = new AbortController()
  const p = dial('tcp', address, { signal: ac.signal })
  ac.abort()
  t.is((await t.throwsAsync<NetpollError>(p))?.code, 'ABORT_ERR')

  // Aborted while the connect waits (SYNs dropped), and while a Unix dial waits for room in
  // a full backlog; neither has a timeout, so only the abort ends them.
  const hole = await blackhole()
  const path = join(mkdtempSync(join(tmpdir(), 'netpoll-')), 'abort.sock')
  const unixHole = await blackhole(path)
  try {
    const ac2 = new AbortController()
    const pending = [dial('tcp', hole.address, { signal: ac2.signal }), dial('unix', path, { signal: ac2.signal })]
    setTimeout(() => ac2.abort(), 50)
    for (const p of pending) t.is((await t.throwsAsync<NetpollError>(bounded(p, 5000, 'the dial')))?.code, 'ABORT_ERR')
    // The native connects are closed at once, not when a timeout passes.
    await until(() => stats().connections === before)
  } finally {
    await hole.close()
    await unixHole.close()
  }

  // No connection of ours is left, and whatever the server accepted is closed.
  await until(() => stats().connections === before)
  for (const s of accepted) s.resume()
  await until(() => accepted.every((s) => s.readableEnded || s.destroyed))
  t.pass()
  server.close()
})

test('an aborted dial lets the process exit at once (inline and threaded)', async (t) => {
  const hole = await blackhole()
  try {
    for (const mode of ['inline', 'threaded']) {
      // No timeout: without a native cancel the connect would hold the process for minutes.
      const script = `
        const { dial } = require(${JSON.stringify(join(__dirname, '..', '..'))})
        const ac = new AbortController()
        let abortedAt = 0
        let code = null
        dial('tcp', ${JSON.stringify(hole.address)}, { signal: ac.signal }).then(
          () => (code = 'connected'),
          (e) => (code = e.code),
        )
        setTimeout(() => { abortedAt = Date.now(); ac.abort() }, 100)
        process.on('exit', () => console.log(JSON.stringify({ code, ms: Date.now() - abortedAt })))`
      const r = await runNode(script, { NETPOLL_MODE: mode, NETPOLL_POLLERS: '2' })
      t.is(r.status, 0, `${mode}: ${r.stdout}`)
      const out = JSON.parse(r.stdout)
      t.is(out.code, 'ABORT_ERR', mode)
      t.true(out.ms < 2000, `${mode}: exited ${out.ms} ms after the abort`)
    }
  } finally {
    await hole.close()
  }
})

test('localAddress: the connection leaves from the given address and port', async (t) => {
  const seen: string[] = []
  const server = await netServer((s) => seen.push(`${s.remoteAddress}:${s.remotePort}`))
  const a = await dial('tcp', `127.0.0.1:${portOf(server)}`, { localAddress: '127.0.0.2' })
  t.is(a.localAddress?.address, '127.0.0.2')
  const ln6 = await createListener('tcp6', '[::1]:0')
  const v6 = await dial('tcp6', ln6.toString(), { localAddress: '::1' })
  t.is(v6.localAddress?.address, '::1')
  v6.close()
  ln6.close()
  const probe = await netServer()
  const freePort = portOf(probe)
  await new Promise((r) => probe.close(r))
  const b = await dial('tcp', `127.0.0.1:${portOf(server)}`, { localAddress: `127.0.0.1:${freePort}` })
  t.deepEqual(b.localAddress, { address: '127.0.0.1', port: freePort, family: 'IPv4' })
  await until(() => seen.length === 2)
  t.true(seen.some((s) => s.startsWith('127.0.0.2:')))
  t.true(seen.includes(`127.0.0.1:${freePort}`))
  a.close()
  b.close()
  server.close()
})

test('keepAlive turns TCP keepalive on with the idle time; noDelay false or true both work', async (t) => {
  if (spawnSync('ss', ['-V']).error) {
    t.log('SKIPPED: ss (iproute2) is missing, so keepalive cannot be observed')
    t.pass()
    return
  }
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(framedEcho)
  loop.serve(ln)
  const withKa = await dial('tcp', ln.toString(), { keepAlive: 30_000, noDelay: false })
  const without = await dial('tcp', ln.toString(), { noDelay: true, keepAlive: false })
  const timer = (c: Connection): string =>
    execFileSync('ss', ['-tnoH', 'state', 'established', `sport = :${c.localAddress!.port}`]).toString()
  t.regex(timer(withKa), /timer:\(keepalive,(29|30)sec/)
  t.notRegex(timer(without), /keepalive/)
  for (const c of [withKa, without]) t.is((await roundTrip(c, Buffer.from('x'.repeat(10)))).toString(), 'x'.repeat(10))
  withKa.close()
  without.close()
  await loop.shutdown({ timeout: 1000 })
})

test('a dialed connection in callback style (setOnRequest) and in await style, over tcp6 and unix', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'netpoll-')), 'echo.sock')
  const lnUnix = await createListener('unix', path)
  const ln6 = await createListener('tcp6', '[::1]:0')
  const loop = new EventLoop(framedEcho)
  loop.serve(lnUnix)
  loop.serve(ln6)

  const c = await dial('unix', path)
  t.is((await roundTrip(c, Buffer.from('awaited'))).toString(), 'awaited')

  const d = await dial('tcp6', ln6.toString())
  const answers: string[] = []
  let done: () => void
  const all = new Promise<void>((r) => (done = r))
  d.setOnRequest(async (conn) => {
    const n = (await conn.reader.next(4)).readUInt32BE(0)
    answers.push((await conn.reader.next(n)).toString())
    if (answers.length === 3) done()
  })
  d.writer.writeBinary(Buffer.concat(['a', 'b', 'c'].map((s) => frame(Buffer.from(s)))))
  await d.writer.flush()
  await all
  t.deepEqual(answers, ['a', 'b', 'c'])
  c.close()
  d.close()
  await loop.shutdown({ timeout: 1000 })
})

// The peer runs in another process: a peer in this one cannot write and close before the
// shard polls, which is what loses a FIN that arrives with the connect completion.
test('a dialed connection whose peer closes: isActive false, close callbacks run, buffered bytes readable', async (t) => {
  const peer = await peerProcess("(s) => s.end('bye')")
  try {
    const c = await dial('tcp', peer.address)
    const closed = new Promise<NetpollError | null>((r) => c.addCloseCallback((_c, e) => r(e)))
    t.is(await bounded(closed, 5000, 'the close callback'), null)
    t.false(c.isActive())
    t.is((await c.reader.next(3)).toString(), 'bye')
    t.is((await t.throwsAsync<NetpollError>(c.reader.next(1)))?.code, 'ERR_CONN_CLOSED')
  } finally {
    await peer.close()
  }
})

/**
 * 100 dials at once to a peer (another process) that answers each connection with
 * `onConnection`, closing it at once: every dial sees the FIN — every close callback runs
 * and the connection count returns to its baseline.
 */
async function dialsToClosingPeer(t: ExecutionContext, onConnection: string, expected: string): Promise<void> {
  const peer = await peerProcess(onConnection)
  try {
    const before = stats().connections
    let closedCount = 0
    const received: string[] = []
    const one = async (): Promise<void> => {
      const c = await dial('tcp', peer.address)
      await new Promise<void>((resolve) =>
        c.addCloseCallback(() => {
          closedCount++
          resolve()
        }),
      )
      received.push(c.reader.len() > 0 ? (await c.reader.next(c.reader.len())).toString() : '')
    }
    const all = Promise.all(Array.from({ length: 100 }, one))
    await bounded(all, 20_000, '100 dials').catch((e: Error) => {
      throw new Error(`${e.message}; ${closedCount}/100 close callbacks ran`)
    })
    t.is(closedCount, 100)
    t.true(received.every((r) => r === expected), JSON.stringify(received))
    await until(() => stats().connections === before, 5000)
  } finally {
    await peer.close()
  }
}

// Serial: they compare the process-wide connection count.
test.serial('100 dials to a peer (another process) that writes and closes at once: every FIN is seen', async (t) => {
  await dialsToClosingPeer(t, "(s) => s.end('hello')", 'hello')
})

test.serial('100 dials to a peer (another process) that closes at once without writing: every FIN is seen', async (t) => {
  await dialsToClosingPeer(t, '(s) => s.end()', '')
})

// More rows of RELIABILITY.md: half-open writing after the peer's FIN (R4), slowloris
// peers cut by the read timeout while others are served (R7), closes racing a flood (R12),
// signals arriving all through a transfer (R17), and many small buffers plus one large one
// in a single flush (R18).
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import * as net from 'node:net'
import { Connection, createListener, EventLoop } from '../../index'
import { frame, framedEcho, netConnect, readExactly, until } from '../helpers'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

test('R4: after the peer FIN, a running handler keeps writing; our FIN follows its last byte', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(async (conn) => {
    await conn.reader.next(conn.reader.len())
    await until(() => !conn.isActive()) // the peer finished sending
    for (let i = 0; i < 6; i++) {
      conn.writer.writeBinary(Buffer.from(`after-fin-${i};`))
      await conn.writer.flush()
      await new Promise((r) => setTimeout(r, 30))
    }
  })
  loop.serve(ln)
  const s = net.connect(ln.address.port!, '127.0.0.1')
  s.end('hello') // data and FIN
  const chunks: Buffer[] = []
  s.on('data', (d) => chunks.push(d))
  await new Promise((r) => s.on('end', r))
  t.is(Buffer.concat(chunks).toString(), Array.from({ length: 6 }, (_, i) => `after-fin-${i};`).join(''))
  await loop.shutdown({ timeout: 1000 })
})

test('R7: 40 slowloris peers are cut by the read timeout; a healthy client is answered meanwhile', async (t) => {
  t.timeout(30_000)
  const ln = await createListener('tcp', '127.0.0.1:0')
  const closes: Array<string | null> = []
  const loop = new EventLoop(framedEcho, {
    readTimeout: 400,
    onPrepare: (c: Connection) => c.addCloseCallback((_c, e) => closes.push(e?.code ?? null)),
  })
  loop.serve(ln)
  const port = ln.address.port!
  const slow = await Promise.all(Array.from({ length: 40 }, () => netConnect({ host: '127.0.0.1', port })))
  const drip = setInterval(() => {
    for (const s of slow) if (!s.destroyed) s.write(Buffer.from([0])) // one byte of a length, now and then
  }, 150)
  for (const s of slow) s.on('error', () => {})
  const healthy = await netConnect({ host: '127.0.0.1', port })
  for (let i = 0; i < 20; i++) {
    const p = randomBytes(256)
    healthy.write(frame(p))
    t.true((await readExactly(healthy, 260)).equals(frame(p)))
    await new Promise((r) => setTimeout(r, 25))
  }
  await until(() => closes.filter((c) => c === 'ERR_READ_TIMEOUT').length === 40, 10_000)
  clearInterval(drip)
  t.is(loop.connections, 1, 'only the healthy client is left')
  healthy.destroy()
  for (const s of slow) s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('R12: closes racing a flood of 64 KiB bursts, 200 times: each connection closes exactly once', async (t) => {
  t.timeout(60_000)
  const ln = await createListener('tcp', '127.0.0.1:0')
  let opened = 0
  let closed = 0
  const loop = new EventLoop(
    async (conn) => {
      await conn.reader.next(Math.min(conn.reader.len(), 1 + Math.floor(Math.random() * 65536)))
      if (Math.random() < 0.3) conn.close()
    },
    {
      onPrepare: (c) => {
        opened++
        c.addCloseCallback(() => closed++)
        setTimeout(() => c.close(), Math.random() * 20)
      },
    },
  )
  loop.serve(ln)
  const burst = randomBytes(64 << 10)
  for (let round = 0; round < 10; round++) {
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
        s.on('error', () => {})
        for (let i = 0; i < 8 && !s.destroyed; i++) s.write(burst)
        await new Promise((r) => setTimeout(r, Math.random() * 20))
        s.destroy()
      }),
    )
  }
  await until(() => opened === 200 && loop.connections === 0, 20_000)
  t.is(closed, opened)
  await loop.shutdown({ timeout: 1000 })
})

test('R17: 32 MiB echoed intact while SIGUSR1 arrives every millisecond', async (t) => {
  t.timeout(60_000)
  let signals = 0
  const onSignal = (): void => {
    signals++
  }
  process.on('SIGUSR1', onSignal)
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(async (conn) => {
    conn.writer.writeBinary(await conn.reader.next(conn.reader.len()))
    await conn.writer.flush()
  })
  loop.serve(ln)
  const data = randomBytes(32 << 20)
  const pinger = setInterval(() => process.kill(process.pid, 'SIGUSR1'), 1)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  const back = readExactly(s, data.length, 50_000)
  s.write(data)
  const got = await back
  clearInterval(pinger)
  process.off('SIGUSR1', onSignal)
  t.is(sha(got), sha(data))
  t.true(signals > 10, `${signals} signals`)
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('R18: 10,000 small buffers and one 16 MiB buffer in one flush arrive byte-exact', async (t) => {
  t.timeout(60_000)
  const ln = await createListener('tcp', '127.0.0.1:0')
  const parts = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`part-${i};`))
  parts.push(randomBytes(16 << 20))
  const loop = new EventLoop(async (conn) => {
    await conn.reader.next(1)
    for (const p of parts) conn.writer.writeBinary(p)
    await conn.writer.flush()
  })
  loop.serve(ln)
  const s = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  const all = Buffer.concat(parts)
  const back = readExactly(s, all.length, 50_000)
  s.write('x')
  t.is(sha(await back), sha(all))
  s.destroy()
  await loop.shutdown({ timeout: 1000 })
})

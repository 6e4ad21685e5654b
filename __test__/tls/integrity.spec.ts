// Integrity through TLS: 1 GiB each way (NETPOLL_TLS_MIB sets another size; about 30 s per
// engine on two busy cores) echoed through a netpoll TLS listener from Node's tls client, and
// through a netpoll TLS dial from Node's tls echo server, with SHA-256 digests of what was sent
// and what came back; and records split at the boundaries that matter (1 byte, 16 KiB - 1,
// 16 KiB, 16 KiB + 1) in both directions. Either engine (NETPOLL_MODE).
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import * as tls from 'node:tls'
import type { AddressInfo } from 'node:net'
import { createListener, dial, EventLoop } from '../../index'
import { readExactly } from '../helpers'
import { certs } from './certs'

const MIB = Number(process.env.NETPOLL_TLS_MIB ?? 1024)
const BLOCK = 1 << 20
const base = randomBytes(BLOCK)

/** Block `i` of the stream: random bytes with the block number in front (order matters). */
function block(i: number): Buffer {
  const b = Buffer.from(base)
  b.writeUInt32BE(i, 0)
  b.writeUInt32BE(i * 2654435761 >>> 0, BLOCK / 2)
  return b
}

/** The digest of the whole stream. */
function streamDigest(): string {
  const h = createHash('sha256')
  for (let i = 0; i < MIB; i++) h.update(block(i))
  return h.digest('hex')
}

async function echoListener(): Promise<{ port: number; loop: EventLoop }> {
  const c = certs()
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: { cert: c.cert, key: c.key } })
  const loop = new EventLoop(async (conn) => {
    const b = await conn.reader.next(conn.reader.len())
    conn.writer.writeBinary(Buffer.from(b))
    await conn.writer.flush()
  })
  loop.serve(ln)
  return { port: ln.address.port!, loop }
}

test(`${MIB} MiB each way through a netpoll TLS listener (Node's tls client sends, the echo returns), digests equal`, async (t) => {
  t.timeout(600_000)
  const { port, loop } = await echoListener()
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs().ca }, () => resolve(s))
    s.once('error', reject)
  })
  t.teardown(() => s.destroy())
  const got = createHash('sha256')
  let received = 0
  const done = new Promise<void>((resolve, reject) => {
    s.on('data', (d: Buffer) => {
      got.update(d)
      received += d.length
      if (received === MIB * BLOCK) resolve()
    })
    s.on('error', reject)
  })
  for (let i = 0; i < MIB; i++) {
    if (!s.write(block(i))) await new Promise((r) => s.once('drain', r))
  }
  await done
  t.is(got.digest('hex'), streamDigest())
})

test(`${MIB} MiB each way through a netpoll TLS dial (Node's tls echo server), digests equal`, async (t) => {
  t.timeout(600_000)
  const c = certs()
  const server = tls.createServer({ cert: c.cert, key: c.key }, (s) => s.pipe(s))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const conn = await dial('tcp', `127.0.0.1:${(server.address() as AddressInfo).port}`, { tls: { servername: 'localhost', ca: c.ca } })
  t.teardown(() => conn.close())
  const got = createHash('sha256')
  const reading = (async () => {
    let left = MIB * BLOCK
    while (left > 0) {
      const n = Math.min(left, Math.max(1, conn.reader.len()))
      const b = await conn.reader.next(n)
      got.update(b)
      left -= n
    }
  })()
  for (let i = 0; i < MIB; i++) {
    conn.writer.writeBinary(block(i))
    await conn.writer.flush()
  }
  await reading
  t.is(got.digest('hex'), streamDigest())
})

const SIZES = [1, 16383, 16384, 16385, 1, 16385, 16383, 1]

test('records split at 1 byte and 16 KiB ± 1, both ways: each write its own records, all bytes in order', async (t) => {
  const { port, loop } = await echoListener()
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs().ca }, () => resolve(s))
    s.once('error', reject)
  })
  t.teardown(() => s.destroy())
  s.setNoDelay(true)
  // Node → netpoll → Node: each write is sent (and echoed) on its own.
  for (const n of SIZES) {
    const b = randomBytes(n)
    s.write(b)
    t.deepEqual(await readExactly(s, n), b, `echo of ${n} bytes`)
  }
  // netpoll → Node: one flush per size from a netpoll dial.
  const c = certs()
  const received: Buffer[] = []
  let total = 0
  const want = SIZES.reduce((a, b) => a + b, 0)
  const server = tls.createServer({ cert: c.cert, key: c.key }, (sock) => sock.on('data', (d: Buffer) => {
    received.push(d)
    total += d.length
  }))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const conn = await dial('tcp', `127.0.0.1:${(server.address() as AddressInfo).port}`, { tls: { servername: 'localhost', ca: c.ca } })
  t.teardown(() => conn.close())
  const sent: Buffer[] = []
  for (const n of SIZES) {
    const b = randomBytes(n)
    sent.push(b)
    conn.writer.writeBinary(b)
    await conn.writer.flush()
  }
  const deadline = Date.now() + 10_000
  while (total < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  t.deepEqual(Buffer.concat(received), Buffer.concat(sent))
})

// Half-close in the core API: Connection.shutdownWrite() sends FIN after the output written
// before it, reading goes on until the peer's FIN, and allowHalfOpen keeps a connection whose
// peer finished writable (server and dial side), against Node's net as the peer.
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import * as net from 'node:net'
import { Connection, createListener, dial, EventLoop } from '../index'
import { netConnect, until } from './helpers'

/** Everything a net socket receives until 'end', and whether 'end' came. */
function collect(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    const timer = setTimeout(() => reject(new Error('no end within 10 s')), 10_000)
    s.on('data', (d: Buffer) => parts.push(d))
    s.once('end', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(parts))
    })
    s.once('error', reject)
  })
}

test('server: allowHalfOpen keeps the connection writable after the peer FIN; shutdownWrite sends FIN after 4 MiB', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  let conn: Connection | null = null
  let closed = false
  const loop = new EventLoop(
    async (c) => {
      await c.reader.next(c.reader.len())
    },
    {
      allowHalfOpen: true,
      onPrepare: (c) => {
        conn = c
        c.addCloseCallback(() => (closed = true))
      },
    },
  )
  loop.serve(ln)
  const client = await netConnect({ host: '127.0.0.1', port: ln.address.port!, allowHalfOpen: true })
  const received = collect(client)
  client.end('request')
  await until(() => conn !== null && !conn.isActive())
  // Well after the handler is done and the FIN was seen, the answer still goes out.
  await new Promise((r) => setTimeout(r, 50))
  const c = conn as unknown as Connection
  t.false(closed)
  const body = randomBytes(4 << 20)
  c.writer.writeBinary(body)
  const shut = c.shutdownWrite()
  t.true(c.writeEnded)
  t.throws(() => c.writer.writeString('late'), { code: 'EPIPE' })
  await shut
  const got = await received
  t.is(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(body).digest('hex'))
  // Both directions ended: the connection closes by itself.
  await until(() => closed)
  client.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('server: without allowHalfOpen the connection still closes once the handler is done after the peer FIN', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  let closed = false
  const loop = new EventLoop(async (c) => void (await c.reader.next(c.reader.len())), {
    onPrepare: (c) => c.addCloseCallback(() => (closed = true)),
  })
  loop.serve(ln)
  const client = await netConnect({ host: '127.0.0.1', port: ln.address.port!, allowHalfOpen: true })
  const received = collect(client)
  client.end('request')
  t.is((await received).length, 0)
  await until(() => closed)
  client.destroy()
  await loop.shutdown({ timeout: 1000 })
})

test('dial: shutdownWrite ends the request side, the answer is still read, then the connection closes', async (t) => {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const parts: Buffer[] = []
    s.on('data', (d: Buffer) => parts.push(d))
    // The answer is sent only after the client's FIN: it needs the read side open.
    s.on('end', () => s.end(Buffer.concat([Buffer.from('echo:'), ...parts])))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  const conn = await dial('tcp', `127.0.0.1:${port}`, { allowHalfOpen: true })
  let closed = false
  conn.addCloseCallback(() => (closed = true))
  conn.writer.writeString('hello')
  await conn.shutdownWrite()
  t.is((await conn.reader.next(10)).toString(), 'echo:hello')
  await until(() => closed)
  t.false(conn.isActive())
  await new Promise((r) => server.close(r))
})

test('shutdownWrite on a closed connection rejects with ERR_CONN_CLOSED', async (t) => {
  const server = net.createServer((s) => s.destroy())
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const conn = await dial('tcp', `127.0.0.1:${(server.address() as net.AddressInfo).port}`)
  conn.close()
  await t.throwsAsync(conn.shutdownWrite(), { code: 'ERR_CONN_CLOSED' })
  await new Promise((r) => server.close(r))
})

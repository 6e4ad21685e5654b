// `writer.send()`: a flush nobody waits for (no Promise, as `net`'s `socket.write`). The bytes
// arrive in order with the other flushes; stats count them as sent once the kernel took them;
// a closed connection throws ERR_CONN_CLOSED; a write that fails closes the connection, which
// reports the error to its close callbacks. Either engine (NETPOLL_MODE).
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import { Connection, createListener, EventLoop, NetpollError } from '../index'
import { connectedPair, netConnect, readExactly, until } from './helpers'

test('send() returns nothing, and its bytes arrive in order with those of flush()', async (t) => {
  const { loop, client, conn } = await connectedPair()
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  t.teardown(() => client.destroy())
  const parts = Array.from({ length: 50 }, (_, i) => randomBytes(1 + ((i * 7919) % 70_000)))
  const all = Buffer.concat(parts)
  const back = readExactly(client, all.length, 20_000)
  for (const [i, p] of parts.entries()) {
    conn.writer.writeBinary(p)
    if (i % 5 === 4) await conn.writer.flush()
    else t.is(conn.writer.send(), undefined)
  }
  const got = await back
  t.is(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(all).digest('hex'))
  // Once the kernel took every byte, nothing counts as queued any more.
  await until(() => conn.stats().bytesQueued === 0)
  t.is(conn.stats().bytesOut, all.length)
})

test('send() with nothing written does nothing; on a closed connection it throws ERR_CONN_CLOSED', async (t) => {
  const { loop, client, conn } = await connectedPair()
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  t.teardown(() => client.destroy())
  conn.writer.send()
  t.is(conn.stats().bytesOut, 0)
  conn.close()
  const e = t.throws(() => conn.writer.send()) as NetpollError
  t.is(e.code, 'ERR_CONN_CLOSED')
})

test('a send() that fails closes the connection, and its close reports the error', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  let closeError: NetpollError | null | undefined
  let conn: Connection | null = null
  const loop = new EventLoop(async () => {}, {
    onPrepare: (c) => {
      conn = c
      c.addCloseCallback((_c, e) => (closeError = e as NetpollError | null))
    },
  })
  t.teardown(() => loop.shutdown({ timeout: 1000 }))
  loop.serve(ln)
  const client = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  await until(() => conn !== null)
  // The peer resets; sends go on until a write meets the reset (bounded).
  client.resetAndDestroy()
  const c = conn as unknown as Connection
  const chunk = Buffer.alloc(64 << 10, 1)
  for (let i = 0; i < 2000 && c.isActive(); i++) {
    try {
      c.writer.writeBinary(chunk)
      c.writer.send()
    } catch {
      break // closed meanwhile: writes throw ERR_CONN_CLOSED
    }
    await new Promise((r) => setImmediate(r))
  }
  await until(() => closeError !== undefined, 10_000)
  t.truthy(closeError, 'closed with an error')
  t.true(['ECONNRESET', 'EPIPE'].includes((closeError as NetpollError).code), (closeError as NetpollError).code)
})

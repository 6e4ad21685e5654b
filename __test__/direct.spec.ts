// Direct connections (inline engine): a busy connection of a nearly idle shard leaves the
// shard's nested poll and is watched by its own uv_poll on Node's loop. Every state that is
// not plain request/response — output queued behind a full socket, reads paused by the
// high-water mark, the peer's FIN or reset, a close, a timeout — must behave exactly as on
// the shard's poll. In the threaded engine nothing is direct and the same exchanges must pass.
import test from 'ava'
import { createHash, randomBytes } from 'node:crypto'
import type * as net from 'node:net'
import { Connection, createListener, EventLoop, getConfig, stats } from '../index'
import { frame, framedEcho, netConnect, readExactly, until } from './helpers'

const inline = getConfig().mode === 'inline'
/** What `directConnections` must reach with one busy connection: 1 inline, 0 threaded. */
const directWhenBusy = inline ? 1 : 0

/** `n` framed echoes of `size` random bytes, one at a time, each checked. */
async function pingPong(client: net.Socket, n: number, size = 64): Promise<void> {
  for (let i = 0; i < n; i++) {
    const payload = randomBytes(size)
    client.write(frame(payload))
    const back = await readExactly(client, 4 + size)
    if (!back.subarray(4).equals(payload)) throw new Error(`echo ${i} differs`)
  }
}

/** A framed echo server (every frame in a loop) and its close callbacks' errors. */
async function echoServer(options: { idleTimeout?: number; onConn?: (c: Connection) => void } = {}) {
  const ln = await createListener('tcp', '127.0.0.1:0')
  const closes: Array<string | null> = []
  const loop = new EventLoop(
    async (c) => {
      while (c.isActive()) await framedEcho(c)
    },
    {
      idleTimeout: options.idleTimeout,
      onPrepare: (c) => {
        c.addCloseCallback((_c, e) => closes.push(e ? (e.code ?? 'error') : null))
        options.onConn?.(c)
      },
    },
  )
  loop.serve(ln)
  return { loop, port: ln.address.port!, closes }
}

test.serial('a busy lone connection goes direct; a 4 MiB echo (output queued) and more ping-pong keep every byte', async (t) => {
  const { loop, port, closes } = await echoServer()
  const client = await netConnect({ host: '127.0.0.1', port })
  try {
    await pingPong(client, 100)
    t.is(stats().directConnections, directWhenBusy)
    // Larger than the socket buffers: the answer is queued, which hands it back to the
    // shard's poll until the queue drains.
    const big = randomBytes(4 << 20)
    client.write(frame(big))
    const back = await readExactly(client, 4 + big.length, 20_000)
    t.is(createHash('sha256').update(back.subarray(4)).digest('hex'), createHash('sha256').update(big).digest('hex'))
    await pingPong(client, 100)
    await until(() => stats().directConnections === directWhenBusy)
    client.end()
    await until(() => closes.length === 1)
    // Closed cleanly once: the handler's pending read met the FIN (ERR_CONN_CLOSED), or, when
    // the FIN came while its last flush was still settling (threaded engine, slow builds), its
    // loop saw the connection inactive and returned (no error).
    t.is(closes.length, 1)
    t.true(closes[0] === 'ERR_CONN_CLOSED' || closes[0] === null, String(closes[0]))
    t.is(stats().directConnections, 0)
    t.is(stats().connections, 0)
  } finally {
    client.destroy()
    await loop.shutdown({ timeout: 1000 })
  }
})

test.serial('a direct connection: the peer reset closes it with ECONNRESET', async (t) => {
  const { loop, port, closes } = await echoServer()
  const client = await netConnect({ host: '127.0.0.1', port })
  try {
    await pingPong(client, 100)
    t.is(stats().directConnections, directWhenBusy)
    client.resetAndDestroy()
    await until(() => closes.length === 1)
    t.deepEqual(closes, ['ECONNRESET'])
    t.is(stats().directConnections, 0)
  } finally {
    client.destroy()
    await loop.shutdown({ timeout: 1000 })
  }
})

test.serial('a direct connection: the server closes it, and the idle timeout still fires', async (t) => {
  let server: Connection | null = null
  const { loop, port, closes } = await echoServer({ idleTimeout: 300, onConn: (c) => (server = c) })
  const a = await netConnect({ host: '127.0.0.1', port })
  try {
    await pingPong(a, 100)
    t.is(stats().directConnections, directWhenBusy)
    const ended = new Promise<void>((resolve) => a.once('end', resolve))
    ;(server as unknown as Connection).close()
    await ended
    t.is(stats().directConnections, 0)
    const b = await netConnect({ host: '127.0.0.1', port })
    try {
      await pingPong(b, 100)
      t.is(stats().directConnections, directWhenBusy)
      // Quiet for longer than the idle timeout: closed with its error.
      await until(() => closes.length === 2, 10_000)
      t.is(closes[1], 'ERR_IDLE_TIMEOUT')
      t.is(stats().directConnections, 0)
    } finally {
      b.destroy()
    }
  } finally {
    a.destroy()
    await loop.shutdown({ timeout: 1000 })
  }
})

test.serial('a direct connection: reads paused at the high-water mark resume, and a half-close is seen', async (t) => {
  const ln = await createListener('tcp', '127.0.0.1:0')
  let release: () => void = () => {}
  const released = new Promise<void>((r) => (release = r))
  let total = 0
  let ended = false
  const loop = new EventLoop(async (c) => {
    // Ping-pong first (the connection goes direct), then a slow reader.
    for (let i = 0; i < 100; i++) await framedEcho(c)
    await released
    while (c.isActive() || c.reader.len() > 0) {
      const n = c.reader.len()
      if (n === 0) {
        await c.reader.peek(1).catch(() => null)
        continue
      }
      total += (await c.reader.next(n)).length
    }
    ended = true
    c.writer.writeString('done')
    await c.writer.flush()
  }, { allowHalfOpen: true })
  loop.serve(ln)
  const client = await netConnect({ host: '127.0.0.1', port: ln.address.port!, allowHalfOpen: true })
  try {
    await pingPong(client, 100)
    t.is(stats().directConnections, directWhenBusy)
    // Far more than the high-water mark while nobody reads: reading pauses.
    const body = randomBytes(16 << 20)
    const written = new Promise<void>((r) => client.end(body, r))
    await new Promise((r) => setTimeout(r, 200))
    release()
    await written
    const done = await readExactly(client, 4, 20_000)
    t.is(done.toString(), 'done')
    t.true(ended)
    t.is(total, body.length)
  } finally {
    client.destroy()
    await loop.shutdown({ timeout: 1000 })
  }
})

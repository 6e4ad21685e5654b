#!/usr/bin/env node
// Echo server on netpoll: `npm run echo-server -- --listen tcp://127.0.0.1:7000`.
// Prints one line `listening <address>` when ready; SIGTERM/SIGINT shut it down gracefully.
'use strict'
const { parseArgs } = require('./cli')
const np = require('..')

const o = parseArgs(process.argv.slice(2))

// `kill -USR2 PID` prints one line `stats {process.memoryUsage(), netpoll, pool}` (after a full
// GC when node runs with --expose-gc): the heap probe of `npm run bench`'s idle-connections
// scenario, and the counters `npm run soak` compares at start and end.
process.on('SIGUSR2', () => {
  globalThis.gc?.()
  console.log(`stats ${JSON.stringify({ ...process.memoryUsage(), netpoll: np.stats(), pool: np.poolStats() })}`)
})

if (o.mode || o.pollers) np.configure({ ...(o.mode && { mode: o.mode }), ...(o.pollers && { pollers: o.pollers }) })

function tooLarge(n) {
  return Object.assign(new Error(`frame of ${n} bytes exceeds --max-frame ${o.maxFrame}`), { code: 'ERR_FRAME_TOO_LARGE' })
}

// Sends what the handler wrote. Like a pipelining RPC server (and like `socket.write` in
// net-echo-server.js, which never waits), the handler waits for the kernel to take the bytes
// only when no further request is buffered: answers to requests that arrived together then
// leave in one writev. A failed flush closes the connection (the close is what reports it), so
// a flush that is not awaited needs no handler of its own.
function send(conn) {
  const sent = conn.writer.flush()
  if (conn.reader.len() === 0) return sent
  sent.catch(() => {})
}

// framed: read one whole frame, answer with a separately built buffer (netpoll-benchmark's rule).
async function framed(conn) {
  const n = (await conn.reader.next(4)).readUInt32BE(0)
  if (n > o.maxFrame) throw tooLarge(n) // before any allocation: the connection is closed
  const payload = await conn.reader.next(n)
  const out = Buffer.allocUnsafe(4 + n)
  out.writeUInt32BE(n, 0)
  payload.copy(out, 4)
  conn.writer.writeBinary(out)
  await send(conn)
}

async function raw(conn) {
  conn.writer.writeBinary(await conn.reader.next(conn.reader.len()))
  await send(conn)
}

;(async () => {
  const ln = await np.createListener(o.network, o.address)
  const loop = new np.EventLoop(o.protocol === 'framed' ? framed : raw, {
    readTimeout: o.readTimeout,
    idleTimeout: o.idleTimeout,
  })
  const served = loop.serve(ln)
  console.log(`listening ${o.network === 'unix' ? ln.address.address : ln.toString()}`)
  const stop = async () => {
    await loop.shutdown({ timeout: 5000 })
    process.exit(0)
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  await served
})().catch((e) => {
  console.error(e)
  process.exit(1)
})

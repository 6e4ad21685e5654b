#!/usr/bin/env node
// Echo server on netpoll: `npm run echo-server -- --listen tcp://127.0.0.1:7000`; with
// `--tls-cert FILE --tls-key FILE` the same echo over TLS (handshake and records in the shards).
// Prints one line `listening <address>` when ready; SIGTERM/SIGINT shut it down gracefully.
'use strict'
const { Buffer } = require('node:buffer') // a module binding: cheaper per request than the global
const { onMemoryProbe, parseArgs, tlsOptions } = require('./cli')
const np = require('..')

const o = parseArgs(process.argv.slice(2))

// `kill -USR2 PID` prints one line `stats {process.memoryUsage(), netpoll, pool}` (after full
// GCs when node runs with --expose-gc, see `onMemoryProbe`): the heap probe of `npm run
// bench`'s idle-connections scenario, and the counters `npm run soak` compares at start and end.
onMemoryProbe(() => console.log(`stats ${JSON.stringify({ ...process.memoryUsage(), netpoll: np.stats(), pool: np.poolStats() })}`))

if (o.mode || o.pollers) np.configure({ ...(o.mode && { mode: o.mode }), ...(o.pollers && { pollers: o.pollers }) })

function tooLarge(n) {
  return Object.assign(new Error(`frame of ${n} bytes exceeds --max-frame ${o.maxFrame}`), { code: 'ERR_FRAME_TOO_LARGE' })
}

// The handlers take every whole frame already buffered synchronously (`tryPeek`/`tryNext`:
// no Promise per frame) and return; the loop calls them again when more bytes arrive. Their
// answers leave in one writev per connection per batch. Like a pipelining RPC server (and
// like `socket.write` in net-echo-server.js, which never waits), a handler waits for the
// kernel to take its bytes only when no partial request is buffered behind them. A failed
// flush closes the connection (the close is what reports it), so a flush that is not awaited
// needs no handler of its own.
function send(conn) {
  const sent = conn.writer.flush()
  if (conn.reader.len() === 0) return sent
  sent.catch(() => {})
}

// framed: read each whole frame, answer with a separately built buffer (netpoll-benchmark's rule).
function framed(conn) {
  const r = conn.reader
  let answered = false
  for (;;) {
    const n = r.tryPeekUInt32BE()
    if (n === null) break
    if (n > o.maxFrame) throw tooLarge(n) // before any allocation: the connection is closed
    const frame = r.tryNext(4 + n)
    if (frame === null) break // the rest of it comes with a later batch
    const out = Buffer.allocUnsafe(4 + n)
    frame.copy(out, 0)
    conn.writer.writeBinary(out)
    answered = true
  }
  if (answered) return send(conn)
}

// raw: echo whatever is buffered, then ask for the next byte.
function raw(conn) {
  const r = conn.reader
  conn.writer.writeBinary(r.tryNext(r.len()))
  r.tryPeek(1) // null: the next bytes are wanted (their read deadline starts)
  return send(conn)
}

// --read-timeout is the library's read timeout: it starts when a read comes back short (the
// `null` of tryPeekUInt32BE/tryNext/tryPeek that ends each handler call: the rest of a frame,
// or the next frame's length) and is met only when a read takes bytes; arriving bytes don't
// move it. When it passes the connection is closed with ERR_READ_TIMEOUT. The first frame is
// wanted as soon as the connection is open, so a peer that never sends is cut too.
function wantFirst(conn) {
  if (o.protocol === 'framed') conn.reader.tryPeekUInt32BE()
  else conn.reader.tryPeek(1)
}

;(async () => {
  const tls = tlsOptions(o)
  const ln = await np.createListener(o.network, o.address, tls && { tls })
  const loop = new np.EventLoop(o.protocol === 'framed' ? framed : raw, {
    readTimeout: o.readTimeout,
    idleTimeout: o.idleTimeout,
    onConnect: o.readTimeout ? wantFirst : undefined,
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

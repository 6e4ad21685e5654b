#!/usr/bin/env node
// Echo server on netpoll: `npm run echo-server -- --listen tcp://127.0.0.1:7000`; with
// `--tls-cert FILE --tls-key FILE` the same echo over TLS (handshake and records in the shards).
// Prints one line `listening <address>` when ready; SIGTERM/SIGINT shut it down gracefully.
'use strict'
const { Buffer } = require('node:buffer') // a module binding: cheaper per request than the global
const { onMemoryProbe, parseArgs, sinkCount, tlsOptions } = require('./cli')
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
// answers leave in one writev per connection per batch. Like `socket.write` in
// net-echo-server.js, the framed and sink handlers never wait for the kernel to take their
// answers: `writer.send()` hands them over without a Promise (a failed write closes the
// connection, and the close is what reports it). The raw echo waits for its flush when nothing
// more is buffered: a stream's echo is then paced by its reader (read backpressure).
function flushWhenDrained(conn) {
  const sent = conn.writer.flush()
  if (conn.reader.len() === 0) return sent
  sent.catch(() => {})
}

// framed: each whole frame is answered with a separately built buffer (netpoll-benchmark's
// rule), as the `net` server's handler does: each frame's length is read and its answer built
// (length written, payload copied) on its own. What differs is only where the bytes live and
// how they leave: the whole frames of a batch are taken as one view (no Buffer per frame), the
// answers are cut from shared regions (no allocation per answer) and go out in one write per
// connection per batch.
function framed(conn) {
  const r = conn.reader
  let whole = 0
  const len = r.len()
  while (len >= whole + 4) {
    const n = r.tryPeekUInt32BE(whole)
    if (n === null) break // a read is waiting (none in this server)
    if (n > o.maxFrame) throw tooLarge(n) // before any allocation: the connection is closed
    if (len < whole + 4 + n) break
    whole += 4 + n
  }
  if (whole === 0) return wantNext(r)
  const requests = r.tryNext(whole) // one view of them all (no Buffer per frame)
  const answers = region(whole)
  for (let at = 0; at < whole; ) {
    const n = requests.readUInt32BE(at)
    answers.writeUInt32BE(n, at) // this frame's answer: its length, then its payload
    requests.copy(answers, at + 4, at + 4, at + 4 + n)
    at += 4 + n
  }
  conn.writer.writeBinary(answers)
  wantNext(r) // the rest comes with a later batch: say so (read backpressure, --read-timeout)
  conn.writer.send()
}

// What the next frame still needs, asked for so that the reader knows it is wanted.
function wantNext(r) {
  const n = r.tryPeekUInt32BE()
  if (n !== null) r.tryPeek(4 + n)
}

// Responses are cut from shared 256 KiB regions, like Node's own Buffer pool for small
// Buffers: no allocation (and no ArrayBuffer to collect) per response. A region is dropped
// when full; it lives on while a response in it waits to be written.
const REGION = 256 * 1024
let regionBuf = Buffer.allocUnsafeSlow(REGION)
let regionUsed = 0
function region(n) {
  if (n > REGION / 4) return Buffer.allocUnsafe(n)
  if (regionUsed + n > REGION) {
    regionBuf = Buffer.allocUnsafeSlow(REGION)
    regionUsed = 0
  }
  const out = regionBuf.subarray(regionUsed, regionUsed + n)
  regionUsed += n
  return out
}

// raw: echo whatever is buffered, then ask for the next byte.
function raw(conn) {
  const r = conn.reader
  conn.writer.writeBinary(r.tryNext(r.len()))
  r.tryPeek(1) // null: the next bytes are wanted (their read deadline starts)
  return flushWhenDrained(conn)
}

// sink: drop whatever is buffered, count it (the count is answered at every MiB), ask for more.
const counts = new WeakMap()
function sink(conn) {
  const r = conn.reader
  const n = r.len()
  r.skip(n) // every byte is buffered: settled at once, nothing to wait for
  counts.set(conn, sinkCount(counts.get(conn) ?? 0, n, (out) => {
    conn.writer.writeBinary(out)
    conn.writer.send()
  }))
  r.tryPeek(1)
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
  const loop = new np.EventLoop({ framed, raw, sink }[o.protocol], {
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

// Valgrind smoke test of `npm run test:sanitize`: a framed echo server and a dialed client
// exchange a few KB over loopback in the engine mode of NETPOLL_MODE, plus a few LinkBuffer
// calls; then everything is closed and the process must exit by itself with code 0.
'use strict'
const assert = require('node:assert')
const np = require('../..')

// Under valgrind node runs 20-50x slower: a generous watchdog that never holds the loop open.
setTimeout(() => {
  console.error('smoke: timed out')
  process.exit(2)
}, 600_000).unref()

function frame(payload) {
  const out = Buffer.alloc(4 + payload.length)
  out.writeUInt32BE(payload.length, 0)
  payload.copy(out, 4)
  return out
}

async function echo(conn) {
  const n = (await conn.reader.next(4)).readUInt32BE(0)
  const payload = await conn.reader.next(n)
  conn.writer.writeBinary(frame(payload))
  await conn.writer.flush()
}

async function main() {
  const buf = new np.LinkBuffer()
  buf.writeBinary(Buffer.from('hello, link buffer'))
  buf.flush()
  assert.strictEqual(buf.next(5).toString(), 'hello')
  buf.release()

  const ln = await np.createListener('tcp', '127.0.0.1:0')
  const loop = new np.EventLoop(echo)
  const served = loop.serve(ln)
  const conn = await np.dial('tcp', ln.toString())
  for (const size of [0, 1, 100, 3000, 8000]) {
    const payload = Buffer.alloc(size, size & 0xff)
    conn.writer.writeBinary(frame(payload))
    await conn.writer.flush()
    const n = (await conn.reader.next(4)).readUInt32BE(0)
    assert.strictEqual(n, size)
    assert.ok((await conn.reader.next(n)).equals(payload), `echo of ${size} bytes`)
  }
  conn.close()
  await loop.shutdown({ timeout: 5000 })
  await served
  console.log(`smoke ok (${process.env.NETPOLL_MODE ?? 'default'} mode)`)
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})

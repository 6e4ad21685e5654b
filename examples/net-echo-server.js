#!/usr/bin/env node
// The same echo server on Node's `net`, the baseline of every comparison:
// `npm run net-echo-server -- --listen tcp://127.0.0.1:7001 [--cork]`; with
// `--tls-cert FILE --tls-key FILE` the same handler on Node's `tls` (the TLS baseline).
'use strict'
const { Buffer } = require('node:buffer') // a module binding: cheaper per request than the global
const net = require('node:net')
const tls = require('node:tls')
const fs = require('node:fs')
const { onMemoryProbe, parseArgs, tlsOptions } = require('./cli')

const o = parseArgs(process.argv.slice(2))

// `kill -USR2 PID` prints one line `stats {process.memoryUsage()}` (after full GCs when node runs
// with --expose-gc, see `onMemoryProbe`): the heap probe of `npm run bench`'s idle-connections scenario.
onMemoryProbe(() => console.log(`stats ${JSON.stringify(process.memoryUsage())}`))

// --read-timeout: as in echo-server.js, a deadline for each request from when the server
// starts waiting for it (the connection opened, or the previous frame — raw: the previous
// bytes — was taken), not moved by bytes arriving meanwhile. One timer per connection, never
// re-armed per frame: when it fires it checks the time the current wait started.
function readDeadline(socket) {
  const state = { since: Date.now(), timer: null }
  const check = () => {
    const left = state.since + o.readTimeout - Date.now()
    if (left > 0) state.timer = setTimeout(check, left)
    else socket.destroy(Object.assign(new Error('the read timed out waiting for data'), { code: 'ERR_READ_TIMEOUT' }))
  }
  state.timer = setTimeout(check, o.readTimeout)
  socket.once('close', () => clearTimeout(state.timer))
  return state
}

function framed(socket, deadline) {
  let buf = Buffer.alloc(0)
  socket.on('data', (d) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d])
    if (o.cork) socket.cork()
    while (buf.length >= 4) {
      const n = buf.readUInt32BE(0)
      if (n > o.maxFrame) {
        socket.destroy(Object.assign(new Error('frame too large'), { code: 'ERR_FRAME_TOO_LARGE' }))
        return
      }
      if (buf.length < 4 + n) break
      const out = Buffer.allocUnsafe(4 + n)
      out.writeUInt32BE(n, 0)
      buf.copy(out, 4, 4, 4 + n)
      socket.write(out) // one write per response (uncorked), as the plain handler does
      buf = buf.subarray(4 + n)
      if (deadline) deadline.since = Date.now()
    }
    if (o.cork) socket.uncork()
  })
}

const tlsServerOptions = tlsOptions(o)
function serve(socket) {
  socket.setNoDelay(true)
  socket.on('error', () => {})
  if (o.idleTimeout) socket.setTimeout(o.idleTimeout, () => socket.destroy())
  const deadline = o.readTimeout ? readDeadline(socket) : null
  if (o.protocol === 'framed') framed(socket, deadline)
  else
    socket.on('data', (d) => {
      if (deadline) deadline.since = Date.now()
      socket.write(d)
    })
}
// TLS: connections are served once their handshake completed ('secureConnection'); a failed
// handshake ('tlsClientError') only closes that connection.
const server = tlsServerOptions ? tls.createServer(tlsServerOptions, serve) : net.createServer(serve)
if (tlsServerOptions) server.on('tlsClientError', () => {})
const listenArgs = o.network === 'unix' ? [o.address] : (() => {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(o.address)
  return [Number(m[2]), m[1]]
})()
if (o.network === 'unix' && fs.existsSync(o.address)) fs.unlinkSync(o.address)
server.listen(...listenArgs, () => {
  const a = server.address()
  console.log(`listening ${typeof a === 'string' ? a : `${a.address}:${a.port}`}`)
})
const stop = () => server.close(() => process.exit(0))
process.once('SIGTERM', stop)
process.once('SIGINT', stop)

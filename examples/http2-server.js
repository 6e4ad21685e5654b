#!/usr/bin/env node
// node:http2 (plaintext h2c) on netpoll: `node examples/http2-server.js [PORT] [HOST]` (default
// 0 = any free port, 127.0.0.1). The http2 server is Node's own, unmodified; netpoll's
// net-compatible server accepts the connections and hands each Socket to it. Prints one line
// `listening http://HOST:PORT` when ready; SIGTERM/SIGINT send GOAWAY on every session and exit
// once the connections have closed.
'use strict'
const http2 = require('node:http2')
const np = require('..')

const port = Number(process.argv[2] ?? 0)
const host = process.argv[3] ?? '127.0.0.1'

const h2 = http2.createServer()
// http2 wraps a socket that has no native handle in Node's JSStreamSocket, whose
// remoteAddress is undefined: keep the peer of each session from the netpoll Socket. The
// 'session' event comes synchronously inside emit('connection').
const peerOf = new WeakMap()
let accepting = null
h2.on('session', (session) => {
  if (accepting !== null) peerOf.set(session, `${accepting.remoteAddress}:${accepting.remotePort}`)
})

h2.on('stream', (stream, headers) => {
  if (headers[':method'] === 'POST') {
    // Echo the request body back (HTTP/2 flow control applies both ways).
    stream.respond({ ':status': 200 })
    stream.pipe(stream)
    return
  }
  stream.respond({ ':status': 200, 'content-type': 'text/plain' })
  stream.end(`hello from node:http2 on netpoll: ${headers[':path']} (peer ${peerOf.get(stream.session)})\n`)
})

const server = np.createServer((socket) => {
  accepting = socket
  h2.emit('connection', socket)
  accepting = null
})
server.on('error', (e) => {
  console.error(e)
  process.exit(1)
})
server.listen(port, host, () => console.log(`listening http://${host}:${server.address().port}`))

const sessions = new Set()
h2.on('session', (session) => {
  sessions.add(session)
  session.once('close', () => sessions.delete(session))
})

function shutdown() {
  // Stop accepting; GOAWAY on every session (streams in flight finish), then 'close'.
  server.close(() => process.exit(0))
  for (const session of sessions) session.close()
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

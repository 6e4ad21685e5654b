#!/usr/bin/env node
// node:http on netpoll: `node examples/http-server.js [PORT] [HOST]` (default 0 = any free
// port, 127.0.0.1). The http server is Node's own, unmodified; netpoll's net-compatible
// server accepts the connections and hands each Socket (a stream.Duplex) to it. Prints one
// line `listening http://HOST:PORT` when ready; SIGTERM/SIGINT close it gracefully.
'use strict'
const http = require('node:http')
const np = require('..')

const port = Number(process.argv[2] ?? 0)
const host = process.argv[3] ?? '127.0.0.1'

const httpServer = http.createServer((req, res) => {
  if (req.method === 'POST') {
    // Echo the request body back (chunked, streamed with backpressure).
    req.pipe(res)
    return
  }
  res.setHeader('content-type', 'text/plain')
  res.end(`hello from node:http on netpoll: ${req.url} (peer ${req.socket.remoteAddress})\n`)
})

const server = np.createServer((socket) => httpServer.emit('connection', socket))
// node:http tracks its connections (closeIdleConnections, headersTimeout, requestTimeout)
// from its own 'listening' event on: tell it when netpoll listens.
server.on('listening', () => httpServer.emit('listening'))
server.on('error', (e) => {
  console.error(e)
  process.exit(1)
})
server.listen(port, host, () => console.log(`listening http://${host}:${server.address().port}`))

function shutdown() {
  // Stop accepting; idle keep-alive connections close now, busy ones after their response.
  server.close(() => process.exit(0))
  httpServer.close()
  httpServer.closeIdleConnections()
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

#!/usr/bin/env node
// Apache Thrift on netpoll: `node examples/thrift-server.js [PORT] [HOST]` (default 0 = any
// free port, 127.0.0.1). The Thrift server is the `thrift` package's own, unmodified:
// `thrift.createServer()` returns a `net.Server` that is never listened on; netpoll's
// net-compatible server accepts the connections and hands each Socket to it through the public
// `'connection'` event. Framed transport, binary protocol. Prints one line `listening HOST:PORT`
// when ready; SIGTERM/SIGINT stop accepting, end the open connections and exit.
//
// The service is __test__/interop/thrift/echo.thrift (generated code committed next to it):
//   echo(binary) -> binary        add(i32, i32) -> i32 throws Overflow
//   oneway notify(string)         notes() -> list<string> (what notify() recorded)
// An echo of the bytes 'fail' answers with an undeclared error (a TApplicationException).
// Required as a module it exports `Echo`, `types`, `transport`, `handler()` and `start(port, host)`;
// examples/thrift-client.js is the matching client.
'use strict'
const thrift = require('thrift')
const np = require('..')
const Echo = require('../__test__/interop/thrift/gen-nodejs/Echo')
const types = require('../__test__/interop/thrift/gen-nodejs/echo_types')

/** The transport and protocol both sides use. */
const transport = { transport: thrift.TFramedTransport, protocol: thrift.TBinaryProtocol }

const I32_MIN = -(2 ** 31)
const I32_MAX = 2 ** 31 - 1

/** A handler of the Echo service (callback style); `notes` keeps what notify() sent. */
function handler() {
  const notes = []
  return {
    notes: (cb) => cb(null, notes),
    echo(data, cb) {
      if (data.length === 4 && data.toString() === 'fail') cb(new Error('echo failed on purpose'))
      else cb(null, data)
    },
    add(a, b, cb) {
      const sum = a + b
      if (sum < I32_MIN || sum > I32_MAX) cb(new types.Overflow({ message: `${a} + ${b} overflows an i32`, a, b }))
      else cb(null, sum)
    },
    notify(note) {
      notes.push(note)
    },
  }
}

/**
 * Starts the Thrift server on a netpoll server at `host:port`; resolves with both, the port,
 * the handler's notes and `shutdown()` (stops accepting, ends every open connection).
 */
async function start(port = 0, host = '127.0.0.1') {
  const h = handler()
  const thriftServer = thrift.createServer(Echo, h, transport)
  // Errors of a connection (a client that resets) are re-emitted on the Thrift server.
  thriftServer.on('error', () => {})
  const sockets = new Set()
  const server = np.createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    thriftServer.emit('connection', socket)
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  const shutdown = () =>
    new Promise((resolve) => {
      server.close(() => resolve())
      for (const s of sockets) s.end()
    })
  return { server, thriftServer, port: server.address().port, notes: h.notes, sockets, shutdown }
}

module.exports = { Echo, types, transport, handler, start }

if (require.main === module) {
  const port = Number(process.argv[2] ?? 0)
  const host = process.argv[3] ?? '127.0.0.1'
  start(port, host).then(
    (s) => {
      console.log(`listening ${host}:${s.port}`)
      const stop = () => s.shutdown().then(() => process.exit(0))
      process.on('SIGTERM', stop)
      process.on('SIGINT', stop)
    },
    (e) => {
      console.error(e)
      process.exit(1)
    },
  )
}

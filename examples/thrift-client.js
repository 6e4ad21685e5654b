#!/usr/bin/env node
// An Apache Thrift client on netpoll: `node examples/thrift-client.js PORT [HOST] [CALLS]`
// (default 127.0.0.1, 1000 calls) against examples/thrift-server.js (or any Echo server,
// framed/binary). The client is the `thrift` package's own, unmodified: its public
// `new thrift.Connection(stream, options)` takes a netpoll Socket that is still connecting
// (thrift starts on the socket's 'connect'), and `thrift.createClient()` does the rest.
// Prints one JSON line: the sum of CALLS add() calls, an echo, the Overflow exception and the
// notes recorded by oneway notify() calls.
// Required as a module it exports `connect(port, host, options)`.
'use strict'
const thrift = require('thrift')
const np = require('..')
const { Echo, transport } = require('./thrift-server')

/**
 * A Thrift client over a netpoll Socket to `host:port`; resolves once connected with
 * `{ client, connection, socket }`. `options` go to `thrift.Connection` (e.g. `max_attempts`
 * to reconnect: thrift calls `socket.connect(port, host)` again after a close).
 */
function connect(port, host = '127.0.0.1', options = {}) {
  const socket = np.connect({ port, host })
  const connection = new thrift.Connection(socket, { ...transport, ...options })
  // What thrift.createConnection() sets: where a reconnect dials.
  connection.host = host
  connection.port = port
  const client = thrift.createClient(Echo, connection)
  return new Promise((resolve, reject) => {
    connection.once('connect', () => resolve({ client, connection, socket }))
    connection.once('error', reject)
  })
}

module.exports = { connect }

async function main() {
  const port = Number(process.argv[2])
  const host = process.argv[3] ?? '127.0.0.1'
  const calls = Number(process.argv[4] ?? 1000)
  const { client, connection } = await connect(port, host)
  const sums = await Promise.all(Array.from({ length: calls }, (_, i) => client.add(i, 1)))
  const echo = (await client.echo(Buffer.from('hello thrift'))).toString()
  const overflow = await client.add(2 ** 31 - 1, 1).then(
    () => null,
    (e) => e.message,
  )
  client.notify('one')
  client.notify('two')
  const notes = await client.notes()
  console.log(JSON.stringify({ sum: sums.reduce((a, b) => a + b, 0), echo, overflow, notes }))
  connection.end()
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}

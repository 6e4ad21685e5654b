#!/usr/bin/env node
// @grpc/grpc-js on netpoll: `node examples/grpc-server.js [PORT] [HOST]` (default 0 = any free
// port, 127.0.0.1). The gRPC server is grpc-js's own, unmodified: netpoll's net-compatible
// server accepts the connections and injects each Socket with grpc-js's public
// `createConnectionInjector(credentials).injectConnection(socket)`. Clients are any gRPC
// clients (grpc-js over plain TCP here). Prints one line `listening HOST:PORT` when ready;
// SIGTERM/SIGINT shut down gracefully (GOAWAY, calls in flight finish).
//
// The `demo.Demo` service is defined in code with JSON messages (no .proto needed):
//   Echo  (unary)            { text, sleepMs?, status?, details? } -> { text, peer }
//   Count (server-streaming) { n }                                 -> { i } × n
//   Sum   (client-streaming) { value } × k                         -> { sum, count }
//   Chat  (bidi)             { text } × k                          -> { text: 'echo: ' + text } × k
// Required as a module it exports `service`, `handlers` and `start(port, host)`.
'use strict'
const grpc = require('@grpc/grpc-js')
const np = require('..')

const serialize = (value) => Buffer.from(JSON.stringify(value))
const deserialize = (buf) => JSON.parse(buf.toString())

function method(name, requestStream, responseStream) {
  return {
    path: `/demo.Demo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
    originalName: name,
  }
}

/** The service definition (usable with `grpc.makeGenericClientConstructor(service, 'Demo')`). */
const service = {
  echo: method('Echo', false, false),
  count: method('Count', false, true),
  sum: method('Sum', true, false),
  chat: method('Chat', true, true),
}

/** Sleeping Echo calls the server started, and those it saw cancelled (client or deadline), by text. */
const started = new Set()
const cancelled = new Set()

const handlers = {
  echo(call, callback) {
    const { text, sleepMs, status, details } = call.request
    const answer = () => {
      if (call.cancelled) return
      if (status) callback({ code: status, details: details ?? 'failed on purpose' })
      else callback(null, { text, peer: call.getPeer() })
    }
    if (sleepMs) {
      started.add(text)
      const timer = setTimeout(answer, sleepMs)
      call.on('cancelled', () => {
        clearTimeout(timer)
        cancelled.add(text)
      })
    } else answer()
  },
  count(call) {
    const n = call.request.n
    let i = 0
    const pump = () => {
      while (i < n) if (!call.write({ i: i++ })) return void call.once('drain', pump)
      call.end()
    }
    pump()
  },
  sum(call, callback) {
    let sum = 0
    let count = 0
    call.on('data', (m) => {
      sum += m.value
      count++
    })
    call.on('end', () => callback(null, { sum, count }))
  },
  chat(call) {
    call.on('data', (m) => call.write({ text: `echo: ${m.text}` }))
    call.on('end', () => call.end())
  },
}

/**
 * Starts a grpc-js server on a netpoll server at `host:port`; resolves with both, the port
 * and `shutdown()` (graceful: the netpoll server stops accepting, grpc-js sends GOAWAY on
 * every session and waits for the calls in flight).
 */
async function start(port = 0, host = '127.0.0.1') {
  const grpcServer = new grpc.Server()
  grpcServer.addService(service, handlers)
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure())
  const server = np.createServer((socket) => injector.injectConnection(socket))
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  const shutdown = () =>
    Promise.all([
      new Promise((resolve) => server.close(() => resolve())),
      new Promise((resolve) => grpcServer.tryShutdown(() => resolve())),
    ])
  return { grpcServer, server, port: server.address().port, shutdown, started, cancelled }
}

module.exports = { service, handlers, start }

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

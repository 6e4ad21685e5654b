#!/usr/bin/env node
// The servers of `npm run bench`'s issue #14 rows: one handler, served either through netpoll's
// net-compatible bridge (`np.createServer`, `--engine netpoll`, the default) or by Node's own
// `net`-based server (`--engine net`), so that the two differ only in the socket underneath.
//
//   node examples/bridge-bench-server.js --protocol http1|http2|grpc|framed
//        [--engine netpoll|net] [--listen tcp://127.0.0.1:0] [--mode inline|threaded]
//
// http1:  node:http, GET / -> 200 "hello world\n" (Content-Length), GET /chunked -> the same
//         body in two chunks (Transfer-Encoding: chunked).
// http2:  node:http2 (h2c), GET / -> 200 "hello world\n".
// grpc:   @grpc/grpc-js with the demo.Demo service of grpc-server.js: Echo answers
//         { text } (no peer: it differs between the two engines), Count streams { i } × n.
// framed: a 'data' handler that parses 4-byte big-endian length-prefixed frames out of the
//         chunks it is given and answers each with a separately built frame (as RPC
//         libraries do), on the Socket Duplex.
// Prints one line `listening HOST:PORT` when ready; SIGTERM/SIGINT exit.
'use strict'
const { Buffer } = require('node:buffer')
const http = require('node:http')
const http2 = require('node:http2')
const net = require('node:net')

function parse(argv) {
  const o = { protocol: 'http1', engine: 'netpoll', listen: 'tcp://127.0.0.1:0', mode: undefined }
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    if (flag === '--protocol') o.protocol = value
    else if (flag === '--engine') o.engine = value
    else if (flag === '--listen') o.listen = value
    else if (flag === '--mode') o.mode = value
    else throw new Error(`unknown option ${flag}`)
  }
  if (!['http1', 'http2', 'grpc', 'framed'].includes(o.protocol)) throw new Error('--protocol is http1, http2, grpc or framed')
  if (!['netpoll', 'net'].includes(o.engine)) throw new Error('--engine is netpoll or net')
  const m = /^tcp:\/\/(.+):(\d+)$/.exec(o.listen)
  if (!m) throw new Error('--listen is tcp://HOST:PORT')
  o.host = m[1]
  o.port = Number(m[2])
  return o
}

const HELLO = 'hello world\n'

function httpHandler(req, res) {
  if (req.url === '/chunked') {
    res.setHeader('content-type', 'text/plain')
    res.write(HELLO.slice(0, 6))
    res.end(HELLO.slice(6))
    return
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': HELLO.length })
  res.end(HELLO)
}

function http2Handler(stream) {
  stream.respond({ ':status': 200, 'content-type': 'text/plain' })
  stream.end(HELLO)
}

/** The framed 'data' handler: frames may span chunks; each answer is a new Buffer. */
function framedHandler(socket) {
  let buf = null
  socket.on('data', (d) => {
    buf = buf === null ? d : Buffer.concat([buf, d])
    let at = 0
    while (buf.length - at >= 4) {
      const n = buf.readUInt32BE(at)
      if (buf.length - at < 4 + n) break
      const out = Buffer.allocUnsafe(4 + n)
      buf.copy(out, 0, at, at + 4 + n)
      socket.write(out)
      at += 4 + n
    }
    buf = at === buf.length ? null : buf.subarray(at)
  })
}

/** A listener for each protocol: `(socket) => void`, plus what `net` does with its own server. */
function stack(protocol) {
  if (protocol === 'http1') {
    const server = http.createServer(httpHandler)
    return { server, inject: (socket) => server.emit('connection', socket) }
  }
  if (protocol === 'http2') {
    const server = http2.createServer()
    server.on('stream', http2Handler)
    return { server, inject: (socket) => server.emit('connection', socket) }
  }
  if (protocol === 'framed') {
    const server = net.createServer(onFramed)
    return { server, inject: onFramed }
  }
  return null
}

function onFramed(socket) {
  socket.setNoDelay(true)
  socket.on('error', () => {})
  framedHandler(socket)
}

async function grpcServer(o, np) {
  const grpc = require('@grpc/grpc-js')
  const demo = require('./grpc-server')
  const server = new grpc.Server()
  server.addService(demo.service, {
    ...demo.handlers,
    echo: (call, callback) => callback(null, { text: call.request.text }),
  })
  const credentials = grpc.ServerCredentials.createInsecure()
  if (o.engine === 'net') {
    return new Promise((resolve, reject) => {
      server.bindAsync(`${o.host}:${o.port}`, credentials, (e, port) => (e ? reject(e) : resolve(port)))
    })
  }
  const injector = server.createConnectionInjector(credentials)
  return listenNetpoll(np, o, (socket) => injector.injectConnection(socket))
}

function listenNetpoll(np, o, listener) {
  const server = np.createServer(listener)
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => resolve(server.address().port))
  })
}

async function main() {
  const o = parse(process.argv.slice(2))
  const np = o.engine === 'netpoll' ? require('..') : null
  if (np && o.mode) np.configure({ mode: o.mode })
  let port
  if (o.protocol === 'grpc') port = await grpcServer(o, np)
  else {
    const s = stack(o.protocol)
    if (np) {
      port = await listenNetpoll(np, o, s.inject)
      s.server.emit('listening') // node:http starts its connection bookkeeping here
    } else {
      port = await new Promise((resolve, reject) => {
        s.server.once('error', reject)
        s.server.listen(o.port, o.host, () => resolve(s.server.address().port))
      })
    }
  }
  console.log(`listening ${o.host}:${port}`)
}

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
main().catch((e) => {
  console.error(e)
  process.exit(1)
})

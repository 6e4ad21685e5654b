#!/usr/bin/env node
// undici on netpoll sockets: `node examples/undici-client.js URL [URL...]` fetches each URL
// (plain http) through an undici Agent whose `connect` dials with netpoll, reusing keep-alive
// connections, and prints `STATUS BYTES SHA256` per URL, then `connections N`. undici is
// unmodified: `connect` is its public hook for making the sockets. Required as a module it
// exports `connector` (an undici `connect` function) and `dials()`.
'use strict'
const { createHash } = require('node:crypto')
const np = require('..')

let count = 0

/**
 * An undici `connect` option: a netpoll Socket to `opts.hostname:opts.port` (or
 * `opts.socketPath`), handed to undici once connected (errors are net's: ECONNREFUSED, …).
 */
function connector(opts, callback) {
  count++
  const target = opts.socketPath ? { path: opts.socketPath } : { port: Number(opts.port || 80), host: opts.hostname }
  const socket = np.connect(target)
  const onError = (e) => callback(e, null)
  socket.once('error', onError)
  socket.once('connect', () => {
    socket.removeListener('error', onError)
    callback(null, socket)
  })
}

module.exports = { connector, dials: () => count }

if (require.main === module) {
  const { Agent, fetch } = require('undici')
  const agent = new Agent({ connect: connector })
  ;(async () => {
    for (const url of process.argv.slice(2)) {
      const res = await fetch(url, { dispatcher: agent })
      const h = createHash('sha256')
      let n = 0
      for await (const chunk of res.body) {
        h.update(chunk)
        n += chunk.length
      }
      console.log(`${res.status} ${n} ${h.digest('hex')}`)
    }
    console.log(`connections ${count}`)
    await agent.close()
  })().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}

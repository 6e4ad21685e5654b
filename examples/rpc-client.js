#!/usr/bin/env node
// RPC load client on netpoll: `npm run rpc-client -- --connect tcp://127.0.0.1:7000
// --requests 100000 --concurrency 64 --size 1024 [--pool-size 16] [--mux 4]`.
// Without --mux, each request takes a connection from a ConnectionPool of --pool-size
// connections, writes its frame, reads the echo and returns the connection. With --mux K,
// requests share K MuxClients (round robin): frames carry a request id, and the frames of one
// tick leave in one batched write per connection.
'use strict'
const { parseClientArgs, runLoad } = require('./client-cli')
const np = require('..')

const o = parseClientArgs(process.argv.slice(2))
if (o.mode || o.pollers) np.configure({ ...(o.mode && { mode: o.mode }), ...(o.pollers && { pollers: o.pollers }) })

async function pooled() {
  const pool = new np.ConnectionPool({ maxConnections: o.poolSize, maxIdlePerAddress: o.poolSize, maxIdle: o.poolSize })
  const call = async (frame) => {
    const conn = await pool.get(o.network, o.address)
    try {
      conn.writer.writeBinary(frame)
      await conn.writer.flush()
      const n = (await conn.reader.next(4)).readUInt32BE(0)
      const back = await conn.reader.next(n)
      pool.put(conn)
      return back
    } catch (e) {
      conn.close() // its state is unknown: never reused
      throw e
    }
  }
  return { call, close: () => pool.close() }
}

async function multiplexed() {
  const clients = await Promise.all(
    Array.from({ length: o.mux }, async () => new np.MuxClient(await np.dial(o.network, o.address))),
  )
  let turn = 0
  const call = async (_frame, payload) => {
    const body = await clients[turn++ % clients.length].request(payload)
    return body.next(body.len())
  }
  return { call, close: () => clients.forEach((c) => c.close()) }
}

;(async () => {
  const client = o.mux > 0 ? await multiplexed() : await pooled()
  await runLoad(o, client.call)
  client.close()
})().catch((e) => {
  console.error(e)
  process.exit(1)
})

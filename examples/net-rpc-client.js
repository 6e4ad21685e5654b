#!/usr/bin/env node
// The same RPC load client on Node's `net`, the baseline of rpc-client: the same command line,
// requests, checks and final line. Without --mux: a pool of --pool-size sockets (LIFO idle
// list, FIFO wait queue, closed sockets dropped), one request at a time per socket. With
// --mux K: K sockets, request ids in the payload, writes of one tick corked into one writev.
'use strict'
const net = require('node:net')
const { parseClientArgs, runLoad } = require('./client-cli')

const o = parseClientArgs(process.argv.slice(2))

function connect() {
  return new Promise((resolve, reject) => {
    const opts = o.network === 'unix' ? { path: o.address } : hostPort(o.address)
    const s = net.connect(opts, () => {
      s.off('error', reject)
      s.on('error', () => {}) // surfaces as 'close'
      resolve(s)
    })
    s.setNoDelay(true)
    s.once('error', reject)
  })
}

function hostPort(address) {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(address)
  return { host: m[1], port: Number(m[2]), family: o.network === 'tcp4' ? 4 : o.network === 'tcp6' ? 6 : 0 }
}

/** Calls `onFrame(payload)` for every whole length-prefixed frame the socket receives. */
function onFrames(socket, onFrame) {
  let buf = null
  socket.on('data', (d) => {
    buf = buf === null ? d : Buffer.concat([buf, d])
    let off = 0
    while (buf.length - off >= 4) {
      const n = buf.readUInt32BE(off)
      if (buf.length - off < 4 + n) break
      onFrame(buf.subarray(off + 4, off + 4 + n))
      off += 4 + n
    }
    buf = off === buf.length ? null : buf.subarray(off)
  })
}

function closedError() {
  return Object.assign(new Error('the connection closed before the response arrived'), { code: 'ERR_CONN_CLOSED' })
}

/** One socket, one request at a time. */
function pooledSocket(socket) {
  const c = { socket, waiting: null }
  onFrames(socket, (payload) => {
    const w = c.waiting
    c.waiting = null
    w?.resolve(payload)
  })
  socket.on('close', () => c.waiting?.reject(closedError()))
  return c
}

function pooled() {
  const idle = []
  const waiters = []
  let open = 0
  const release = (c) => {
    const w = waiters.shift()
    if (w) w.resolve(c)
    else idle.push(c)
  }
  // A freed slot passes to the first waiter (which dials), else the count drops.
  const slotFreed = () => {
    const w = waiters.shift()
    if (w) w.resolve(null)
    else open--
  }
  const discard = (c) => {
    c.socket.destroy()
    slotFreed()
  }
  const get = async () => {
    for (let c = idle.pop(); c; c = idle.pop()) {
      if (!c.socket.destroyed && c.socket.readyState === 'open') return c
      open--
    }
    if (open >= o.poolSize) {
      const c = await new Promise((resolve) => waiters.push({ resolve }))
      if (c) return c
    } else open++
    try {
      return pooledSocket(await connect())
    } catch (e) {
      slotFreed()
      throw e
    }
  }
  const call = async (frame) => {
    const c = await get()
    try {
      const back = await new Promise((resolve, reject) => {
        c.waiting = { resolve, reject }
        c.socket.write(frame)
      })
      release(c)
      return back
    } catch (e) {
      discard(c)
      throw e
    }
  }
  return { call, close: () => idle.forEach((c) => c.socket.destroy()) }
}

async function multiplexed() {
  const conns = await Promise.all(
    Array.from({ length: o.mux }, async () => {
      const socket = await connect()
      const c = { socket, pending: new Map(), nextId: 1, corked: false }
      onFrames(socket, (frame) => {
        const id = frame.readUInt32BE(0)
        const p = c.pending.get(id)
        if (p === undefined) return
        c.pending.delete(id)
        p.resolve(frame.subarray(4))
      })
      socket.on('close', () => {
        for (const p of c.pending.values()) p.reject(closedError())
        c.pending.clear()
      })
      return c
    }),
  )
  let turn = 0
  const call = (_frame, payload) => {
    const c = conns[turn++ % conns.length]
    if (c.socket.destroyed) return Promise.reject(closedError())
    const id = c.nextId
    c.nextId = id === 0xffffffff ? 1 : id + 1
    const header = Buffer.allocUnsafe(8)
    header.writeUInt32BE(payload.length + 4, 0)
    header.writeUInt32BE(id, 4)
    return new Promise((resolve, reject) => {
      c.pending.set(id, { resolve, reject })
      if (!c.corked) {
        // The writes of this tick leave together, as netpoll's ShardQueue does.
        c.corked = true
        c.socket.cork()
        process.nextTick(() => {
          c.corked = false
          c.socket.uncork()
        })
      }
      c.socket.write(header)
      c.socket.write(payload)
    })
  }
  return { call, close: () => conns.forEach((c) => c.socket.destroy()) }
}

;(async () => {
  const client = o.mux > 0 ? await multiplexed() : pooled()
  await runLoad(o, client.call)
  client.close()
})().catch((e) => {
  console.error(e)
  process.exit(1)
})

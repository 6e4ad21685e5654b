#!/usr/bin/env node
// `npm run demo`: a LinkBuffer tour, then the framed echo server on netpoll and the same server
// on Node's `net`, loaded alternately (A B A B) by one client and compared by median QPS.
// The client here is plain JS over `net` (so it costs the same for both servers); the native
// load generator of `npm run bench` measures with less noise.
'use strict'
const { spawn } = require('node:child_process')
const net = require('node:net')
const path = require('node:path')
const np = require('..')

function linkBufferTour() {
  const lb = new np.LinkBuffer()
  lb.writeString('hello, ')
  lb.writeBinary(Buffer.from('netpoll\n'))
  lb.flush()
  const line = lb.until(0x0a)
  console.log(`LinkBuffer: wrote 15 bytes, read line ${JSON.stringify(line.toString())}, ${lb.len()} left`)
  console.log('pool:', np.poolStats())
}

function startServer(script, extra) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, script), '--listen', 'tcp://127.0.0.1:0', ...extra], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    child.stdout.setEncoding('utf8')
    child.stdout.once('data', (line) => {
      const m = /^listening (.+):(\d+)/.exec(line)
      if (!m) reject(new Error(`unexpected: ${line}`))
      else resolve({ child, port: Number(m[2]) })
    })
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
  })
}

// `conns` connections, each sending a 1 KiB frame and waiting for its echo, for `ms`.
function load(port, conns, ms) {
  const payload = Buffer.alloc(1024, 7)
  const req = Buffer.alloc(4 + payload.length)
  req.writeUInt32BE(payload.length, 0)
  payload.copy(req, 4)
  let done = 0
  const deadline = Date.now() + ms
  return new Promise((resolve) => {
    let open = conns
    for (let i = 0; i < conns; i++) {
      const s = net.connect(port, '127.0.0.1', () => s.write(req))
      s.setNoDelay(true)
      let got = 0
      s.on('data', (d) => {
        got += d.length
        while (got >= req.length) {
          got -= req.length
          done++
          if (Date.now() < deadline) s.write(req)
          else return s.destroy()
        }
      })
      s.on('close', () => --open === 0 && resolve(done / (ms / 1000)))
      s.on('error', () => {})
    }
  })
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

;(async () => {
  linkBufferTour()
  const ours = await startServer('echo-server.js', [])
  const theirs = await startServer('net-echo-server.js', [])
  const rounds = 3
  const results = { netpoll: [], net: [] }
  for (let r = 0; r < rounds; r++) {
    process.stdout.write(`round ${r + 1}/${rounds}: netpoll… `)
    results.netpoll.push(await load(ours.port, 100, 2000))
    process.stdout.write('net… ')
    results.net.push(await load(theirs.port, 100, 2000))
    console.log('done')
  }
  ours.child.kill('SIGTERM')
  theirs.child.kill('SIGTERM')
  const a = median(results.netpoll)
  const b = median(results.net)
  console.log('\nframed echo, 1 KiB, 100 connections, JS client (median of 3 × 2 s, alternated)')
  console.log(`| server | QPS |\n|---|---|\n| netpoll (${np.getConfig().mode}) | ${a.toFixed(0)} |\n| net | ${b.toFixed(0)} |`)
  console.log(`ratio netpoll/net: ${(a / b).toFixed(2)}`)
})().catch((e) => {
  console.error(e)
  process.exit(1)
})

// R20: worker threads that load the addon and serve echo traffic are terminated in the
// middle of it, round after round. Nothing crashes, no callback reaches a dead
// environment (the env cleanup hook stops each engine), the main thread's own traffic is
// unaffected, and threads and descriptors return to their baseline.
import test from 'ava'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { createListener, EventLoop } from '../../index'
import { frame, framedEcho, netConnect, readExactly, until } from '../helpers'

const PKG = JSON.stringify(join(__dirname, '..', '..', 'index.js'))

/** Each worker: a server, a client hammering it with echoes, and `ready` once traffic runs. */
const WORKER = `
  const { parentPort } = require('node:worker_threads')
  const net = require('node:net')
  const { createListener, EventLoop } = require(${PKG})
  ;(async () => {
    const ln = await createListener('tcp', '127.0.0.1:0')
    new EventLoop(async (c) => {
      const n = (await c.reader.next(4)).readUInt32BE(0)
      const p = await c.reader.next(n)
      const out = Buffer.alloc(4 + n)
      out.writeUInt32BE(n, 0)
      p.copy(out, 4)
      c.writer.writeBinary(out)
      await c.writer.flush()
    }).serve(ln)
    const s = net.connect(ln.address.port, '127.0.0.1')
    const req = Buffer.alloc(4 + 1024, 1)
    req.writeUInt32BE(1024, 0)
    let got = 0
    let ready = false
    s.on('data', (d) => {
      got += d.length
      while (got >= req.length) {
        got -= req.length
        s.write(req)
        if (!ready) { ready = true; parentPort.postMessage('ready') }
      }
    })
    s.on('error', () => {})
    s.write(req)
  })()`

function count(dir: string): number {
  return readdirSync(dir).length
}

test('R20: 4 workers with echo traffic, terminated mid-traffic, 10 rounds', async (t) => {
  t.timeout(120_000)
  // The main thread serves too, all along.
  const ln = await createListener('tcp', '127.0.0.1:0')
  const loop = new EventLoop(framedEcho)
  loop.serve(ln)
  const main = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  const check = async (): Promise<void> => {
    const p = Buffer.from(`main-${Date.now()}`)
    main.write(frame(p))
    t.deepEqual(await readExactly(main, 4 + p.length), frame(p))
  }
  await check()
  const threads0 = count('/proc/self/task')
  const fds0 = count('/proc/self/fd')

  for (let round = 0; round < 10; round++) {
    const workers = Array.from({ length: 4 }, () => new Worker(WORKER, { eval: true }))
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.once('message', () => resolve())
            w.once('error', reject)
          }),
      ),
    )
    await new Promise((r) => setTimeout(r, 20)) // traffic in full flow
    const codes = await Promise.all(workers.map((w) => w.terminate()))
    t.deepEqual(codes, [1, 1, 1, 1])
    await check()
  }
  // Reactor threads and sockets of the dead workers are gone (allow a moment for joins).
  await until(() => count('/proc/self/task') <= threads0 + 1 && count('/proc/self/fd') <= fds0 + 2, 10_000)
  t.pass()
  main.destroy()
  await loop.shutdown({ timeout: 1000 })
})

// The process exits by itself once its servers and connections are closed, like with `net`
// (RELIABILITY.md R19), and stays alive while a server is open. Each case is a child process
// on the built package, in the engine mode of this run.
import test from 'ava'
import { spawn } from 'node:child_process'
import { join } from 'node:path'

const PKG = JSON.stringify(join(__dirname, '..', 'index.js'))

/** Runs `script` in a child; resolves with its exit code and the ms from `ready` to exit. */
function runChild(script: string, killAfterMs: number): Promise<{ code: number | null; afterReadyMs: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env })
    let out = ''
    let readyAt = 0
    const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (readyAt === 0 && out.includes('ready')) readyAt = Date.now()
    })
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(killer)
      resolve({ code, afterReadyMs: readyAt === 0 ? -1 : Date.now() - readyAt, out })
    })
  })
}

const SERVE_ONE = `
  const net = require('node:net')
  const { createListener, dial, EventLoop } = require(${PKG})
  async function main() {
    const ln = await createListener('tcp', '127.0.0.1:0')
    const loop = new EventLoop(async (conn) => {
      const b = await conn.reader.next(5)
      conn.writer.writeBinary(b)
      await conn.writer.flush()
    })
    loop.serve(ln)
    const echoed = await new Promise((resolve, reject) => {
      const s = net.connect(ln.address.port, '127.0.0.1', () => s.write('hello'))
      s.on('data', (d) => { s.destroy(); resolve(d.toString()) })
      s.on('error', reject)
    })
    const c = await dial('tcp', ln.toString())
    c.writer.writeBinary(Buffer.from('again'))
    await c.writer.flush()
    const back = (await c.reader.next(5)).toString()
    c.close()
    SHUTDOWN
    console.log('ready ' + echoed + ' ' + back)
  }
  main().catch((e) => { console.error(e); process.exit(1) })`

test('a process that closed its server and connections exits by itself within 2 s', async (t) => {
  const r = await runChild(SERVE_ONE.replace('SHUTDOWN', 'await loop.shutdown({ timeout: 1000 })'), 10_000)
  t.is(r.code, 0, r.out)
  t.regex(r.out, /ready hello again/)
  t.true(r.afterReadyMs >= 0 && r.afterReadyMs < 2000, `exited ${r.afterReadyMs} ms after closing`)
})

test('a process with a server still open stays alive', async (t) => {
  const r = await runChild(SERVE_ONE.replace('SHUTDOWN', ''), 2500)
  t.is(r.code, null, `exited by itself with ${r.code}: ${r.out}`)
  t.regex(r.out, /ready hello again/)
})

// The short variant of `npm run soak`: 8 s of churn (4 s of warm-up) at 100 connections (connect, requests,
// close; resets; silent peers closed by the idle timeout; torn frames) against the echo
// server in the engine mode of this run. Fails on a wrong byte, a request without an
// outcome, or descriptors, threads, pool bytes or connections not back at their baseline.
import test from 'ava'
import { spawn } from 'node:child_process'
import { join } from 'node:path'

test('soak (short): churn leaves nothing behind', async (t) => {
  t.timeout(90_000)
  const script = join(__dirname, '..', '..', 'scripts', 'soak.mjs')
  const child = spawn(process.execPath, [script, '--duration', '8', '--warmup', '4', '--concurrency', '100'], { env: process.env })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const code = await new Promise<number | null>((r) => child.on('exit', r))
  t.is(code, 0, out)
  t.regex(out, /soak ok\s*$/)
  t.regex(out, /"wrong":0,"lost":0/)
})

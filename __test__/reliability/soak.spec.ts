// The short variants of `npm run soak`, against the echo server in the engine mode of this run:
// - churn: 8 s (4 s of warm-up) at 100 connections (connect, requests, close; resets; silent
//   peers closed by the idle timeout; torn frames). Fails on a wrong byte, a request without
//   an outcome, or descriptors, threads, pool bytes or connections not back at their baseline.
// - attack: 10 rounds of 50 hostile peers per attack (a 0xFFFFFFFF length prefix, a frame one
//   byte over the limit, 10,000 empty frames in one write, a reset mid-frame). Fails unless
//   RSS after round 10 is within 20 % of RSS after round 2 and, after a quiet interval, within
//   2× of RSS before the attacks (memory held for connections that are gone is given back).
// Serial: each loads the machine's two cores, and the attack measures RSS.
import test from 'ava'
import { spawn } from 'node:child_process'
import { join } from 'node:path'

function soak(args: string[]): Promise<{ code: number | null; out: string }> {
  const script = join(__dirname, '..', '..', 'scripts', 'soak.mjs')
  const child = spawn(process.execPath, [script, ...args], { env: process.env })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })))
}

test.serial('soak (short): churn leaves nothing behind', async (t) => {
  t.timeout(90_000)
  const { code, out } = await soak(['--duration', '8', '--warmup', '4', '--concurrency', '100'])
  t.is(code, 0, out)
  t.regex(out, /soak ok\s*$/)
  t.regex(out, /"wrong":0,"lost":0/)
})

test.serial('soak (attack): memory comes back after rounds of hostile peers', async (t) => {
  t.timeout(240_000)
  const { code, out } = await soak(['--attack', '10'])
  t.log(out.split('\n').filter((l) => /^(round|rssMB|before)|^ +before/.test(l)).join('\n'))
  t.is(code, 0, out)
  t.regex(out, /soak ok\s*$/)
  t.regex(out, /"wrong":0,"lost":0/)
})

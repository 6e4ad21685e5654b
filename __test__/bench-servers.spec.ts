// The example servers `npm run bench` measures, over real sockets: the sink protocol (every
// byte counted and dropped, the count answered as 8 bytes big-endian each time it crosses a
// multiple of 1 MiB) of echo-server.js in both engines and of net-echo-server.js, and echo-server.js's framed
// handler, which answers every whole frame buffered in one region (frames of every size, split
// anywhere across writes, more than one region's worth, frames larger than a quarter region).
import test from 'ava'
import type * as net from 'node:net'
import { join } from 'node:path'
import { EXAMPLES, spawnLine, stop } from './client/helpers'
import { frame, netConnect, readExactly } from './helpers'

const MIB = 2 ** 20

const SERVERS: Array<{ name: string; args: string[] }> = [
  { name: 'echo-server.js (inline)', args: [join(EXAMPLES, 'echo-server.js'), '--mode', 'inline'] },
  { name: 'echo-server.js (threaded)', args: [join(EXAMPLES, 'echo-server.js'), '--mode', 'threaded'] },
  { name: 'net-echo-server.js', args: [join(EXAMPLES, 'net-echo-server.js')] },
]

/** Connects to the server `line` (`listening HOST:PORT`) names. */
async function connectTo(line: string): Promise<net.Socket> {
  const s = await netConnect({ host: '127.0.0.1', port: Number(line.split(':').pop()) })
  s.on('error', () => {})
  return s
}

/** Writes `buf` in pieces of pseudo-random sizes (1 B to 96 KiB), honouring backpressure. */
async function writePieces(s: net.Socket, buf: Buffer, seed: number): Promise<void> {
  let x = seed
  for (let at = 0; at < buf.length; ) {
    x = (x * 1103515245 + 12345) % 2 ** 31
    const n = Math.min(buf.length - at, 1 + (x % (96 * 1024)))
    if (!s.write(buf.subarray(at, at + n))) await new Promise((r) => s.once('drain', r))
    at += n
  }
}

for (const server of SERVERS) {
  test(`${server.name} --protocol sink answers its count whenever it crosses a MiB`, async (t) => {
    t.timeout(30_000)
    const { child, line } = await spawnLine([...server.args, '--listen', 'tcp://127.0.0.1:0', '--protocol', 'sink'])
    let s: net.Socket | null = null
    try {
      s = await connectTo(line)
      // One count per crossing: a read that crosses several MiB at once answers once.
      const counts: number[] = []
      const last = new Promise<void>((resolve) => {
        let held = Buffer.alloc(0)
        s?.on('data', (d: Buffer) => {
          held = Buffer.concat([held, d])
          for (; held.length >= 8; held = held.subarray(8)) counts.push(Number(held.readBigUInt64BE(0)))
          if (counts.at(-1) === 4 * MIB) resolve()
        })
      })
      await writePieces(s, Buffer.alloc(4 * MIB, 7), 1)
      await Promise.race([last, new Promise((r) => setTimeout(r, 20_000))])
      t.true(counts.length >= 1, 'answered')
      counts.forEach((c, i) => {
        const before = i === 0 ? 0 : counts[i - 1]
        t.true(Math.floor(c / MIB) > Math.floor(before / MIB), `count ${c} crossed a MiB past ${before}`)
      })
      t.is(counts.at(-1), 4 * MIB, 'the last count is every byte sent')
    } finally {
      s?.destroy()
      await stop(child)
    }
  })
}

for (const mode of ['inline', 'threaded']) {
  test(`echo-server.js (${mode}) answers every frame of a pipelined burst, split anywhere, in order`, async (t) => {
    t.timeout(30_000)
    const { child, line } = await spawnLine([join(EXAMPLES, 'echo-server.js'), '--mode', mode, '--listen', 'tcp://127.0.0.1:0'])
    let s: net.Socket | null = null
    try {
      s = await connectTo(line)
      // 400 frames of 0 B to 3 KiB (more than one 256 KiB region in all), and frames of
      // 100 KiB (over a quarter region: a Buffer of their own) between them.
      const frames: Buffer[] = []
      for (let i = 0; i < 400; i++) {
        const n = i % 50 === 25 ? 100 * 1024 : (i * 7919) % 3072
        frames.push(frame(Buffer.alloc(n, i % 251)))
      }
      const all = Buffer.concat(frames)
      const echoed = readExactly(s, all.length, 20_000)
      await writePieces(s, all, 2)
      t.true((await echoed).equals(all), 'the echo is every frame, byte for byte, in order')
    } finally {
      s?.destroy()
      await stop(child)
    }
  })
}

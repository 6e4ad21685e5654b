// RELIABILITY.md rows of the net-compatible bridge that move real amounts of data:
// R36 half-close both ways with 16 MiB behind the FIN, R37 destroy() mid-write (every write
// callback that reported success is a byte the peer receives). The peers are Node's net.
import test from 'ava'
import * as net from 'node:net'
import { connect, createServer, Socket } from '../../index'
import { bounded } from '../client/helpers'
import { closed, peer } from './scenarios'

const MiB = 1 << 20

/** Byte `i` of the test stream (a pattern no chunk boundary can hide). */
const byteAt = (i: number): number => (i * 7 + (i >>> 11)) & 0xff

/** The stream's bytes `[from, from + n)`. */
function streamBytes(from: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = byteAt(from + i)
  return b
}

/** Checks that what a reader received is the stream's prefix, chunk by chunk. */
class PrefixCheck {
  received = 0
  ok = true
  add(d: Buffer): void {
    if (this.ok && !d.equals(streamBytes(this.received, d.length))) this.ok = false
    this.received += d.length
  }
}

/** Reads `s` slowly: pauses 5 ms after every chunk. */
function slowRead(s: net.Socket, check: PrefixCheck): void {
  s.on('data', (d: Buffer) => {
    check.add(d)
    s.pause()
    setTimeout(() => s.resume(), 5)
  })
}

test('R36 half-close out: end() with 16 MiB queued, a slow net peer gets every byte, then the FIN', async (t) => {
  const total = 16 * MiB
  const check = new PrefixCheck()
  let bytesAtEnd = -1
  const { port, server } = await peer({ allowHalfOpen: true }, (s) => {
    slowRead(s, check)
    s.on('end', () => {
      bytesAtEnd = check.received
      s.end('after-fin')
    })
  })
  const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  const events: string[] = []
  let answer = ''
  s.on('data', (d: Buffer) => (answer += d.toString()))
  for (const ev of ['finish', 'end']) s.on(ev, () => events.push(ev))
  for (let off = 0; off < total; off += 256 * 1024) s.write(streamBytes(off, 256 * 1024))
  s.end()
  t.true(s.writableLength > 8 * MiB, `queued ${s.writableLength}`)
  await bounded(closed(s, 60_000), 60_000, 'close')
  server.close()
  t.is(bytesAtEnd, total)
  t.true(check.ok)
  t.is(answer, 'after-fin') // reading went on after our FIN
  t.deepEqual(events, ['finish', 'end'])
})

test('R36 half-close in: the peer ends first, the accepted socket (allowHalfOpen) still sends 16 MiB, then ends', async (t) => {
  const total = 16 * MiB
  const server = createServer({ allowHalfOpen: true }, (s: Socket) => {
    let got = ''
    s.on('data', (d: Buffer) => (got += d.toString()))
    s.on('end', () => {
      // The peer's FIN is in; our side stays writable.
      for (let off = 0; off < total; off += MiB) s.write(streamBytes(off, MiB))
      s.end(Buffer.from(got === 'request' ? '' : 'bad request'))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const check = new PrefixCheck()
  const c = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true })
  slowRead(c, check)
  c.end('request')
  await bounded(closed(c, 60_000), 60_000, 'close')
  t.is(check.received, total)
  t.true(check.ok)
  await new Promise<void>((r) => server.close(() => r()))
})

test('R37 destroy() mid-write: every write callback that succeeded is a byte the peer receives, every other callback gets an error', async (t) => {
  const chunk = 64 * 1024
  const chunks = 512 // 32 MiB, far more than the socket buffers hold while the peer is paused
  const check = new PrefixCheck()
  let peerSock: net.Socket | null = null
  let peerClosed: Promise<unknown> = Promise.resolve()
  const { port, server } = await peer({}, (x) => {
    peerSock = x
    x.pause()
    x.on('data', (d: Buffer) => check.add(d))
    x.on('error', () => {})
    peerClosed = new Promise((r) => x.on('close', r))
  })
  const s = connect({ port, host: '127.0.0.1' })
  s.on('error', () => {})
  let acked = 0
  let okCallbacks = 0
  let errCallbacks = 0
  let written = 0
  let inFlight = 0
  // Four writes in flight at a time: a write's callback sends the next one.
  const pump = (): void => {
    while (inFlight < 4 && written < chunks && !s.destroyed) {
      inFlight++
      s.write(streamBytes(written++ * chunk, chunk), (e?: Error | null) => {
        inFlight--
        if (e) errCallbacks++
        else {
          okCallbacks++
          acked += chunk
          pump()
        }
      })
    }
  }
  await new Promise((r) => s.once('connect', r))
  pump()
  // Let the kernel take what it can while the peer is not reading, then destroy.
  await new Promise((r) => setTimeout(r, 300))
  const ackedAtDestroy = acked
  s.destroy()
  await closed(s)
  ;(peerSock as net.Socket | null)?.resume()
  await bounded(peerClosed, 30_000, 'peer close')
  server.close()
  t.is(okCallbacks + errCallbacks, written, 'every write callback ran once')
  t.true(written < chunks, 'the sender was throttled before destroy()')
  t.true(ackedAtDestroy > 0 && errCallbacks > 0, `acked ${ackedAtDestroy}, failed ${errCallbacks} callbacks: destroyed mid-write`)
  t.is(acked, ackedAtDestroy, 'no success reported after destroy()')
  t.true(check.ok, 'the peer received a prefix of the stream')
  t.true(check.received >= acked, `received ${check.received} < acknowledged ${acked}`)
  // Beyond what was acknowledged, at most the writes in flight at destroy() (partly sent).
  t.true(check.received <= acked + 4 * chunk, `received ${check.received}, acknowledged ${acked}`)
  t.log(`acknowledged ${acked}, received ${check.received}, callbacks ok ${okCallbacks} / error ${errCallbacks}`)
})

// A connection closed with output still queued holds the process until that output is written
// (or the write timeout cuts it), like `net`'s `end()`: the peer gets every byte, and the
// process still exits by itself afterwards. Each case is a child process on the built package,
// in the engine mode of this run (`npm test` runs the suite in both). The child dials a peer
// running in this test process, flushes a large payload, closes, prints `closed` and returns
// from main; the peer reads nothing for a while, so most of the payload is still queued in the
// child's shard when it closes.
import test from 'ava'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as net from 'node:net'
import { join } from 'node:path'

const PKG = JSON.stringify(join(__dirname, '..', 'index.js'))
/** Bytes the child flushes before closing: far more than the kernel's socket buffers hold. */
const PAYLOAD = 32 * 1024 * 1024
/** How long the slow peer reads nothing after the child's marker. */
const PEER_PAUSE_MS = 1500
/** A child still alive this long after its marker is killed (a generous bound, loaded machine). */
const KILL_MS = 30_000

interface ChildResult {
  code: number | null
  killed: boolean
  /** ms from the marker to the exit (-1 without a marker). */
  afterMarkerMs: number
  out: string
}

/**
 * Runs a child that dials `port`, sets the write timeout `writeTimeout` (0: none), flushes
 * `PAYLOAD` random bytes, closes and prints `closed <sha256>`; `onMarker` runs when the marker
 * is seen.
 */
function runChild(port: number, writeTimeout: number, onMarker: () => void): Promise<ChildResult> {
  const script = `
    const { createHash, randomBytes } = require('node:crypto')
    const { dial } = require(${PKG})
    async function main() {
      const c = await dial('tcp', '127.0.0.1:${port}')
      if (${writeTimeout} > 0) c.setWriteTimeout(${writeTimeout})
      const payload = randomBytes(${PAYLOAD})
      c.writer.writeBinary(payload)
      // Settles when the kernel took it all, or rejects once the connection is closed.
      c.writer.flush().catch(() => {})
      c.close()
      console.log('closed ' + createHash('sha256').update(payload).digest('hex'))
    }
    main().catch((e) => { console.error(e); process.exit(1) })`
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let markedAt = 0
    let killed = false
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) {
        killed = true
        child.kill('SIGKILL')
      }
    }
    let killer = setTimeout(kill, 60_000)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (markedAt === 0 && /^closed\b/m.test(out)) {
        markedAt = Date.now()
        clearTimeout(killer)
        killer = setTimeout(kill, KILL_MS)
        onMarker()
      }
    })
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(killer)
      resolve({ code, killed, afterMarkerMs: markedAt === 0 ? -1 : Date.now() - markedAt, out })
    })
  })
}

interface Peer {
  port: number
  /** Starts reading (the peer reads nothing until then). */
  startReading(): void
  /** Resolves with the bytes received and their digest once the child's side ended. */
  received: Promise<{ bytes: number; digest: string }>
  close(): void
}

/** A `net` server for one child: paused until `startReading`, then reads everything. */
async function slowPeer(): Promise<Peer> {
  let socket: net.Socket | null = null
  let reading = false
  let gotSocket: () => void = () => {}
  const connected = new Promise<void>((resolve) => (gotSocket = resolve))
  let done: (r: { bytes: number; digest: string }) => void = () => {}
  const received = new Promise<{ bytes: number; digest: string }>((resolve) => (done = resolve))
  const server = net.createServer((s) => {
    socket = s
    s.pause()
    const hash = createHash('sha256')
    let bytes = 0
    s.on('data', (d: Buffer) => {
      bytes += d.length
      hash.update(d)
    })
    let finished = false
    const finish = (): void => {
      if (finished) return
      finished = true
      done({ bytes, digest: hash.digest('hex') })
    }
    s.on('end', finish)
    s.on('error', finish)
    if (reading) s.resume()
    gotSocket()
  })
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)))
  return {
    port,
    startReading: () => {
      reading = true
      void connected.then(() => socket?.resume())
    },
    received,
    close: () => {
      socket?.destroy()
      server.close()
    },
  }
}

test('a connection closed with a large flush still queued: the peer gets every byte, then the process exits', async (t) => {
  t.timeout(120_000)
  const peer = await slowPeer()
  try {
    const r = await runChild(peer.port, 0, () => setTimeout(() => peer.startReading(), PEER_PAUSE_MS))
    t.is(r.code, 0, r.out)
    t.false(r.killed, `still alive ${KILL_MS} ms after its marker: ${r.out}`)
    const digest = /^closed ([0-9a-f]{64})/m.exec(r.out)?.[1]
    t.truthy(digest, r.out)
    // Exited without writing everything: the peer sees the end within a bounded time.
    const got = await Promise.race([peer.received, new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000))])
    t.truthy(got, 'the peer never saw the end of the stream')
    t.is(got?.bytes, PAYLOAD, `the peer received ${got?.bytes} of ${PAYLOAD} bytes`)
    t.is(got?.digest, digest)
  } finally {
    peer.close()
  }
})

test('a connection closed toward a peer that never reads: the process exits once the write timeout cuts it', async (t) => {
  t.timeout(120_000)
  const writeTimeout = 1000
  const peer = await slowPeer()
  try {
    const r = await runChild(peer.port, writeTimeout, () => {})
    t.is(r.code, 0, r.out)
    t.false(r.killed, `still alive ${KILL_MS} ms after its marker: ${r.out}`)
    // It waited for the timeout (counted from the last progress, just before the marker).
    t.true(r.afterMarkerMs >= writeTimeout / 2, `exited ${r.afterMarkerMs} ms after its marker, before the write timeout: ${r.out}`)
  } finally {
    peer.close()
  }
})

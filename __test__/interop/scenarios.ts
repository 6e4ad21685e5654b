// Scripted socket scenarios run the same way on Node's net and on netpoll's bridge: each
// returns the sequence of events the socket under test emitted, to be asserted equal.
// The peer is always Node's net.
import { createHash } from 'node:crypto'
import * as net from 'node:net'
import type { Duplex } from 'node:stream'

/** A socket implementation under test: node:net or netpoll. */
export interface Impl {
  name: string
  connect(options: { port: number; host: string; allowHalfOpen?: boolean }): Duplex & SocketLike
  createServer(options: { allowHalfOpen?: boolean }, listener: (s: Duplex & SocketLike) => void): ServerLike
}

/** The part of net.Socket the scenarios use. */
export interface SocketLike {
  setTimeout(ms: number, cb?: () => void): unknown
  destroyed: boolean
}

/** The part of net.Server the scenarios use. */
export interface ServerLike {
  listen(port: number, host: string, cb: () => void): unknown
  address(): unknown
  close(cb?: () => void): unknown
}

/** Records a socket's events; consecutive 'data' events become one `data:<total bytes>`. */
export function record(s: Duplex): string[] {
  const log: string[] = []
  let bytes = 0
  let inData = false
  const flush = (): void => {
    if (inData) log.push(`data:${bytes}`)
    inData = false
  }
  s.on('data', (d: Buffer) => {
    bytes += d.length
    inData = true
  })
  for (const ev of ['connect', 'ready', 'end', 'finish', 'timeout']) {
    s.on(ev, () => {
      flush()
      log.push(ev)
    })
  }
  s.on('error', (e: NodeJS.ErrnoException) => {
    flush()
    log.push(`error:${e.code ?? e.message}`)
  })
  s.on('close', (hadError?: boolean) => {
    flush()
    log.push(`close:${hadError === true}`)
  })
  return log
}

/** Resolves once `s` emitted 'close' (bounded). */
export function closed(s: Duplex, ms = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no close in time')), ms)
    s.once('close', () => {
      clearTimeout(timer)
      // Let anything emitted right after 'close' in the same turn be recorded too.
      setTimeout(resolve, 20)
    })
  })
}

/** A net server peer on 127.0.0.1; resolves with its port. */
export async function peer(opts: net.ServerOpts, onConn: (s: net.Socket) => void): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer(opts, onConn)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { port: (server.address() as net.AddressInfo).port, server }
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Peer sends 'hi' and FIN; the socket under test answers 'bye' on 'end' (then ends if half-open). */
export async function peerEndsFirst(impl: Impl, allowHalfOpen: boolean): Promise<{ log: string[]; peerGot: string }> {
  let peerGot = ''
  const { port, server } = await peer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d: Buffer) => (peerGot += d.toString()))
    s.on('end', () => s.end())
    s.end('hi')
  })
  const s = impl.connect({ port, host: '127.0.0.1', allowHalfOpen })
  const log = record(s)
  s.on('end', () => {
    if (allowHalfOpen) {
      s.write('bye')
      setTimeout(() => s.end(), 20)
    }
  })
  await closed(s)
  server.close()
  return { log, peerGot }
}

/**
 * The socket under test sends 'req' and FIN first (`early`: before it is even connected);
 * the peer answers after its 'end'.
 */
export async function weEndFirst(impl: Impl, early = false): Promise<{ log: string[]; peerGot: string }> {
  let peerGot = ''
  const { port, server } = await peer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d: Buffer) => (peerGot += d.toString()))
    s.on('end', () => setTimeout(() => s.end('resp'), 30))
  })
  const s = impl.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  const log = record(s)
  if (early) s.end('req')
  else s.on('connect', () => s.end('req'))
  await closed(s)
  server.close()
  return { log, peerGot }
}

/** setTimeout fires 'timeout' without closing; bytes still flow after it. */
export async function timeoutDoesNotClose(impl: Impl): Promise<{ log: string[]; destroyedAtTimeout: boolean }> {
  let peerSock: net.Socket | null = null
  const { port, server } = await peer({}, (s) => (peerSock = s))
  const s = impl.connect({ port, host: '127.0.0.1' })
  const log = record(s)
  let destroyedAtTimeout = true
  s.setTimeout(100, () => {
    destroyedAtTimeout = s.destroyed
    s.setTimeout(0)
    peerSock?.write('after-timeout')
    setTimeout(() => s.destroy(), 100)
  })
  await closed(s)
  server.close()
  return { log, destroyedAtTimeout }
}

/** destroy(err) after connect: 'error' then 'close' with hadError. */
export async function destroyWithError(impl: Impl): Promise<string[]> {
  const { port, server } = await peer({}, () => {})
  const s = impl.connect({ port, host: '127.0.0.1' })
  const log = record(s)
  s.on('connect', () => s.destroy(new Error('boom')))
  await closed(s)
  server.close()
  return log
}

/** write() after end(): the callback and 'error' get ERR_STREAM_WRITE_AFTER_END. */
export async function writeAfterEnd(impl: Impl): Promise<string[]> {
  const { port, server } = await peer({ allowHalfOpen: true }, () => {})
  const s = impl.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  const log = record(s)
  s.on('connect', () => {
    s.end('x')
    s.write('y', (e?: Error | null) => log.push(`cb:${(e as NodeJS.ErrnoException | null)?.code}`))
  })
  await closed(s)
  server.close()
  return log
}

/** Connecting to a port nobody listens on. */
export async function refused(impl: Impl): Promise<string[]> {
  const probe = net.createServer()
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
  const port = (probe.address() as net.AddressInfo).port
  await new Promise((r) => probe.close(r))
  const s = impl.connect({ port, host: '127.0.0.1' })
  const log = record(s)
  s.on('error', (e: NodeJS.ErrnoException & { address?: string; port?: number }) => log.push(`${e.syscall} ${e.address}:${e.port === port}`))
  await closed(s)
  return log
}

/** The result of {@link pausedSender}. */
export interface PausedResult {
  log: string[]
  /** Bytes the peer's kernel had accepted when the pause ended. */
  acceptedWhilePaused: number
  received: number
  digestOk: boolean
}

/**
 * The peer sends `total` bytes as fast as the kernel takes them; the socket under test is
 * paused for `pauseMs` from 'connect', then resumed. Reports how far the sender got.
 */
export async function pausedSender(impl: Impl, total: number, pauseMs: number): Promise<PausedResult> {
  const sent = createHash('sha256')
  let peerSock: net.Socket | null = null
  const { port, server } = await peer({}, (s) => {
    peerSock = s
    const chunk = 256 * 1024
    let off = 0
    const pump = (): void => {
      while (off < total) {
        const b = Buffer.alloc(Math.min(chunk, total - off), off & 0xff)
        b.writeUInt32BE(off >>> 0, 0)
        sent.update(b)
        off += b.length
        if (!s.write(b)) return
      }
      s.end()
    }
    s.on('drain', pump)
    pump()
  })
  const got = createHash('sha256')
  let received = 0
  const s = impl.connect({ port, host: '127.0.0.1' })
  const log = record(s)
  s.on('data', (d: Buffer) => {
    got.update(d)
    received += d.length
  })
  let acceptedWhilePaused = -1
  s.on('connect', () => {
    s.pause()
    setTimeout(() => {
      const p = peerSock as net.Socket | null
      acceptedWhilePaused = p ? p.bytesWritten - p.writableLength : -1
      s.resume()
    }, pauseMs)
  })
  s.on('end', () => s.end())
  await closed(s, 60_000)
  server.close()
  await wait(10)
  return { log, acceptedWhilePaused, received, digestOk: received === total && got.digest('hex') === sent.digest('hex') }
}

/** Server side under test: the accepted socket's events when a net client half-closes first. */
export async function acceptedPeerEndsFirst(impl: Impl, allowHalfOpen: boolean): Promise<{ log: string[]; clientGot: string }> {
  let log: string[] = []
  let accepted: Duplex | null = null
  const server = impl.createServer({ allowHalfOpen }, (s) => {
    accepted = s
    log = record(s)
    s.on('end', () => {
      if (allowHalfOpen) s.end('late-answer')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  let clientGot = ''
  c.on('data', (d: Buffer) => (clientGot += d.toString()))
  c.on('end', () => c.end())
  c.end('request')
  await closed(c)
  const a = accepted as Duplex | null
  if (a && !a.destroyed) await closed(a)
  await wait(20)
  await new Promise<void>((r) => server.close(() => r()))
  return { log, clientGot }
}

/** resetAndDestroy(): the peer sees a reset (ECONNRESET), the socket closes without error. */
export async function weReset(impl: Impl): Promise<{ log: string[]; peerLog: string[] }> {
  let peerLog: string[] = []
  let peerClosed: Promise<void> = Promise.resolve()
  const { port, server } = await peer({}, (s) => {
    peerLog = record(s)
    peerClosed = closed(s)
  })
  const s = impl.connect({ port, host: '127.0.0.1' }) as unknown as Duplex & { resetAndDestroy(): unknown }
  const log = record(s)
  s.on('connect', () => setTimeout(() => s.resetAndDestroy(), 50))
  await closed(s)
  await peerClosed
  server.close()
  return { log, peerLog }
}

/** The peer resets the connection: 'error' ECONNRESET, then 'close' with hadError. */
export async function peerResets(impl: Impl): Promise<string[]> {
  const { port, server } = await peer({}, (s) => setTimeout(() => s.resetAndDestroy(), 50))
  const s = impl.connect({ port, host: '127.0.0.1' })
  const log = record(s)
  await closed(s)
  server.close()
  return log
}

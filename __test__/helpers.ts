// Shared bounded helpers for the specs: a framed echo handler and a net client.
import * as net from 'node:net'
import { Connection, createListener, EventLoop } from '../index'

/** Frames `payload` with a 4-byte big-endian length. */
export function frame(payload: Buffer): Buffer {
  const out = Buffer.alloc(4 + payload.length)
  out.writeUInt32BE(payload.length, 0)
  payload.copy(out, 4)
  return out
}

/** The framed echo handler of the benchmarks: reads one frame, answers a built copy. */
export async function framedEcho(conn: Connection): Promise<void> {
  const n = (await conn.reader.next(4)).readUInt32BE(0)
  const p = await conn.reader.next(n)
  conn.writer.writeBinary(frame(p))
  await conn.writer.flush()
}

/** Connects with Node's net; resolves once connected. */
export function netConnect(opts: net.NetConnectOpts): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(opts, () => resolve(s))
    s.once('error', reject)
  })
}

/** Reads exactly `n` bytes from a net socket (bounded by `ms`). */
export function readExactly(s: net.Socket, n: number, ms = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    let got = 0
    const timer = setTimeout(() => done(new Error(`timed out with ${got}/${n} bytes`)), ms)
    const onData = (d: Buffer): void => {
      parts.push(d)
      got += d.length
      if (got >= n) done(null)
    }
    const onEnd = (): void => done(new Error(`ended with ${got}/${n} bytes`))
    const onClose = (): void => done(new Error(`closed with ${got}/${n} bytes`))
    function done(e: Error | null): void {
      clearTimeout(timer)
      s.off('data', onData)
      s.off('end', onEnd)
      s.off('close', onClose)
      if (e) reject(e)
      else {
        const all = Buffer.concat(parts)
        if (all.length > n) s.unshift(all.subarray(n))
        resolve(all.subarray(0, n))
      }
    }
    s.on('data', onData)
    s.on('end', onEnd)
    s.on('close', onClose)
  })
}

/** Resolves when `cond()` holds, polling every 5 ms, or rejects after `ms`. */
export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * A server whose handler does nothing and a `net` client connected to it: resolves with both
 * ends once the server side exists. Close with `client.destroy()` and `loop.shutdown()`.
 */
export async function connectedPair(): Promise<{ loop: EventLoop; port: number; client: net.Socket; conn: Connection }> {
  const ln = await createListener('tcp', '127.0.0.1:0')
  let conn: Connection | null = null
  const loop = new EventLoop(async () => {}, { onPrepare: (c) => (conn = c) })
  loop.serve(ln)
  const client = await netConnect({ host: '127.0.0.1', port: ln.address.port! })
  await until(() => conn !== null)
  return { loop, port: ln.address.port!, client, conn: conn as unknown as Connection }
}

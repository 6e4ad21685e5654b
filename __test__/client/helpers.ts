// Bounded helpers of the client specs: servers in child processes and a framed request.
import { ChildProcess, spawn } from 'node:child_process'
import * as net from 'node:net'
import { join } from 'node:path'
import type { Connection } from '../../index'
import { frame } from '../helpers'

export const EXAMPLES = join(__dirname, '..', '..', 'examples')

/** Spawns `node args…` and resolves with the child and the first line it prints (bounded). */
export function spawnLine(args: string[], ms = 10_000): Promise<{ child: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    const timer = setTimeout(() => {
      child.kill()
      reject(new Error(`no line from node ${args.join(' ')} in ${ms} ms`))
    }, ms)
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (nl >= 0) {
        clearTimeout(timer)
        resolve({ child, line: out.slice(0, nl) })
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`node ${args.join(' ')} exited with ${code} before printing a line`))
    })
  })
}

/** Stops a child process and waits for it to exit. */
export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill()
  })
}

/**
 * A listener (TCP on 127.0.0.1, or a Unix socket at `path`) with a backlog of 1 in a process
 * that never accepts (its event loop is blocked), its accept queue filled by net connections:
 * new SYNs are dropped, so a TCP dial to it can only time out.
 */
export async function blackhole(path?: string): Promise<{ address: string; close: () => Promise<void> }> {
  const where = path === undefined ? "{ port: 0, host: '127.0.0.1', backlog: 1 }" : `{ path: ${JSON.stringify(path)}, backlog: 1 }`
  const { child, line } = await spawnLine([
    '-e',
    `const s = require('net').createServer()
     s.listen(${where}, () => {
       const a = s.address()
       console.log(typeof a === 'string' ? a : a.address + ':' + a.port)
       setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000), 20)
     })`,
  ])
  await new Promise((r) => setTimeout(r, 100)) // the child blocks
  const target = path === undefined ? { port: Number(line.split(':')[1]), host: '127.0.0.1' } : { path }
  const fillers = [0, 1, 2, 3].map(() => net.connect(target).on('error', () => {}))
  await new Promise((r) => setTimeout(r, 100)) // two are queued, the others' SYNs dropped
  return {
    address: line,
    close: async () => {
      for (const f of fillers) f.destroy()
      await stop(child)
    },
  }
}

/**
 * A TCP server on 127.0.0.1 in a child process (so its timing is not ours) that runs
 * `onConnection` (JS source of a function of a `net.Socket`) for every connection.
 */
export async function peerProcess(onConnection: string): Promise<{ address: string; close: () => Promise<void> }> {
  const { child, line } = await spawnLine([
    '-e',
    `const s = require('net').createServer(${onConnection})
     s.listen({ port: 0, host: '127.0.0.1', backlog: 512 }, () => console.log('127.0.0.1:' + s.address().port))`,
  ])
  return { address: line, close: () => stop(child) }
}

/** Sends one framed request on `conn` and reads the framed answer's payload. */
export async function roundTrip(conn: Connection, payload: Buffer): Promise<Buffer> {
  conn.writer.writeBinary(frame(payload))
  await conn.writer.flush()
  const n = (await conn.reader.next(4)).readUInt32BE(0)
  return conn.reader.next(n)
}

/** Rejects with `what` timed out after `ms`, else settles as `p`: no test waits forever. */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle in ${ms} ms`)), ms))),
  ])
}

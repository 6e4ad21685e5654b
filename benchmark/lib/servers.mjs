// Echo server processes under test: started on a fresh address, ready when they print
// `listening <address>`, and always killed — on success, on error and on Ctrl-C.
import { spawn } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const live = new Set()
let sockets = 0

/** Kills `child` with the others if the benchmark ends early; forgets it when it exits. */
export function track(child) {
  live.add(child)
  child.once('exit', () => live.delete(child))
  return child
}

/** Kills every process still running (SIGKILL). Safe to call at any time. */
export function killAll() {
  for (const child of live) child.kill('SIGKILL')
  live.clear()
}
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAll()
    process.exit(130)
  })
}

/**
 * The server kinds. `argv(listen, protocol)` is the command line; `go` needs the binary built
 * by `build.mjs`.
 */
export const KINDS = {
  netpoll: { label: 'netpoll', argv: (l, p, o) => node('echo-server.js', l, p, o.mode ? ['--mode', o.mode] : [], o) },
  'netpoll-plaintext': { label: 'netpoll plaintext', argv: (l, p, o) => KINDS.netpoll.argv(l, p, o) },
  net: { label: 'net', argv: (l, p, o) => node('net-echo-server.js', l, p, [], o) },
  'net-cork': { label: 'net --cork', argv: (l, p, o) => node('net-echo-server.js', l, p, ['--cork'], o) },
  go: { label: 'Go netpoll', argv: (l, p, o) => [o.goBinary, '--listen', l, '--protocol', p] },
}

function node(script, listen, protocol, extra, o) {
  // --expose-gc lets the SIGUSR2 heap probe collect garbage first; it changes nothing else.
  // `o.serverArgs`: a scenario's own flags (TLS: --tls-cert, --tls-key).
  return [process.execPath, '--expose-gc', path.join(root, 'examples', script), '--listen', listen, '--protocol', protocol, ...extra, ...(o.serverArgs ?? [])]
}

/**
 * Starts a server of `kind` on `transport` ('tcp' | 'unix') speaking `protocol`.
 * Resolves to { pid, target, stats, stop } where `stats` collects the parsed `stats {…}` lines.
 * `options.argv`, when given, replaces the kind's command line (a scenario's own servers).
 */
export function startServer(kind, transport, protocol, options) {
  const listen = transport === 'unix'
    ? `unix://${path.join(os.tmpdir(), `netpoll-bench-${process.pid}-${++sockets}.sock`)}`
    : 'tcp://127.0.0.1:0'
  const [cmd, ...args] = (options.argv ?? KINDS[kind].argv)(listen, protocol, options)
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: root }))
  const stats = []
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr = (stderr + d).slice(-4000) })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${kind} did not print "listening" within 20 s`)), 20_000)
    const fail = (e) => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(Object.assign(e, { stderr }))
    }
    child.once('exit', (code, sig) => {
      fail(new Error(`${kind} server exited (${code ?? sig}):\n${stderr}`))
    })
    let pending = ''
    child.stdout.setEncoding('utf8').on('data', (d) => {
      pending += d
      let nl
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        if (line.startsWith('stats ')) stats.push(JSON.parse(line.slice(6)))
        const m = /^listening (.+)$/.exec(line)
        if (m) {
          clearTimeout(timer)
          const target = transport === 'unix' ? `unix://${m[1]}` : `tcp://${m[1]}`
          resolve({ pid: child.pid, target, stats, stop: () => stop(child), stderr: () => stderr })
        }
      }
    })
  })
}

/** SIGTERM, then SIGKILL after 2 s; resolves when the process is gone. */
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

// The TLS scenarios of `npm run bench` (issue #15): the same load generator with its rustls
// client against echo-server.js on netpoll's TLS (handshake and records in the shards) and
// net-echo-server.js on Node's `tls`; the 1 KiB row also runs netpoll without TLS, alternated
// in the same rounds, for the "≥ 0.6× of plaintext" target.
//
// Certificates: an ECDSA P-256 CA and a `localhost`/127.0.0.1 server certificate, generated
// for each run by `netpoll-bench gen-cert` into a temp dir removed at exit. Every connection is
// TLS 1.3 with X25519 (the group both servers prefer); the client verifies the chain and
// the name.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ECHO as PLAIN_ECHO, IDLE, STREAM } from './metrics.mjs'

// The plain echo metrics without p999 (too few TLS requests per round to show it).
const ECHO = PLAIN_ECHO.filter((m) => m.key !== 'p999_us')
const HANDSHAKES = [
  { key: 'cps', label: 'handshakes/s', better: 'higher' },
  { key: 'resumed_share', label: 'share resumed', better: 'higher' },
  { key: 'p99_us', label: 'p99 µs (connect→answer)', better: 'lower' },
  { key: 'cpu_per_conn_us', label: 'server CPU µs/conn', better: 'lower' },
]

let certDir = null

/** Generates the run's certificates once (with the load generator `loadgen`); returns their paths. */
function certificates(loadgen) {
  if (!certDir) {
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netpoll-bench-tls-'))
    process.on('exit', () => fs.rmSync(certDir, { recursive: true, force: true }))
    execFileSync(loadgen, ['gen-cert', '--out', certDir], { stdio: ['ignore', 'ignore', 'inherit'] })
  }
  const f = (name) => path.join(certDir, name)
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server-key.pem') }
}

/**
 * The TLS scenarios. Each has `perKind(kind, runOptions)` → { serverArgs, loadgenArgs }: the
 * TLS flags of the example servers and of the load generator (none for `netpoll-plaintext`).
 */
export function tlsSuite({ quick = false } = {}) {
  const n = (full, small) => String(quick ? small : full)
  const perKind = (kind, { loadgen }) => {
    if (kind === 'netpoll-plaintext') return {}
    const c = certificates(loadgen)
    return { serverArgs: ['--tls-cert', c.cert, '--tls-key', c.key], loadgenArgs: ['--tls', '--ca', c.ca, '--servername', 'localhost'] }
  }
  const tls = (id, title, protocol, args, metrics, extra = {}) =>
    ({ id, title, protocol, transport: 'tcp', servers: ['netpoll', 'net'], args, metrics, perKind, ...extra })
  return [
    tls('tls-echo-1k-c100', 'TLS 1.3 framed echo, 1 KiB, 100 connections (netpoll plaintext alongside)', 'framed',
      ['echo', '--connections', '100', '--payload', '1024'], ECHO, { servers: ['netpoll', 'net', 'netpoll-plaintext'] }),
    tls('tls-echo-16k-c100', 'TLS 1.3 framed echo, 16 KiB, 100 connections', 'framed',
      ['echo', '--connections', '100', '--payload', '16384'], ECHO),
    tls('tls-handshake-full', 'TLS 1.3 full handshakes (ECDSA P-256, X25519): connect, handshake, one 128 B request, close (8 at a time)', 'framed',
      ['handshake', '--slots', '8', '--payload', '128'], HANDSHAKES),
    tls('tls-handshake-resumed', 'TLS 1.3 resumed handshakes (session tickets), as above', 'framed',
      ['handshake', '--slots', '8', '--payload', '128', '--resume'], HANDSHAKES),
    tls('tls-stream-1c', 'TLS 1.3 streaming, one connection, raw echo', 'raw', ['stream'], STREAM),
    tls('tls-idle-10k', `idle TLS connections (${n(10000, 200)}, each resumed and served one 128 B request)`, 'framed',
      ['idle', '--connections', n(10000, 200), '--heap-signal', '--settle', n(1, 0.1), '--resume'], IDLE, { timed: false }),
  ]
}

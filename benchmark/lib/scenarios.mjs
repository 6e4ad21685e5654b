// The scenarios of `npm run bench` (netpoll-benchmark's, plus the measurements of issue #5),
// their quick (smoke) and demo variants, and how each one is summed up.
//
// A scenario: { id, title, protocol, transport, servers, args, metrics }. `args` are the
// load generator's (without --target/--server-pid/--warmup/--duration). `metrics` list what
// the table shows: { key, label, better: 'higher' | 'lower' }; the first is the headline
// that the chart shows.

import { bridgeSuite } from './scenarios-bridge.mjs'
import { ECHO, FAIRNESS, IDLE, PING_PONG_LATENCY, RATE, STREAM } from './metrics.mjs'
import { tlsSuite } from './scenarios-tls.mjs'

// Every scenario of this file runs the ceiling (`netpoll-bench serve`) beside netpoll, net and
// Go netpoll, and (`threaded: true`) the threaded engine's column after netpoll's unless
// run.mjs --no-threaded.
const ALL = ['netpoll', 'ceiling', 'net', 'go']

function echo(id, title, args, extra = {}) {
  return { id, title, protocol: 'framed', transport: 'tcp', servers: ALL, threaded: true, args: ['echo', ...args], metrics: ECHO, ...extra }
}

/** The full suite. `quick` shrinks each scenario to a correctness smoke. */
export function suite({ quick = false } = {}) {
  const n = (full, small) => String(quick ? small : full)
  return [
    echo('echo-1k-c1', 'framed echo, 1 KiB, 1 connection (ping-pong)', ['--connections', '1', '--payload', '1024'], { metrics: PING_PONG_LATENCY }),
    echo('echo-1k-c100', 'framed echo, 1 KiB, 100 connections', ['--connections', '100', '--payload', '1024']),
    echo('echo-1k-c1000', 'framed echo, 1 KiB, 1000 connections', ['--connections', n(1000, 200), '--payload', '1024']),
    echo('echo-128b-c100', 'framed echo, 128 B, 100 connections', ['--connections', '100', '--payload', '128']),
    echo('echo-16k-c100', 'framed echo, 16 KiB, 100 connections', ['--connections', '100', '--payload', '16384']),
    echo('echo-1k-c100-idle', 'framed echo, 1 KiB, 100 connections + 400 idle (80 % idle)', ['--connections', '100', '--idle', n(400, 100), '--payload', '1024']),
    echo('echo-1k-c100-unix', 'framed echo, 1 KiB, 100 connections, Unix socket', ['--connections', '100', '--payload', '1024'], { transport: 'unix' }),
    echo('pipelined-128b-c100-d16', 'pipelined, 128 B, 100 connections, 16 in flight each', ['--connections', '100', '--depth', '16', '--payload', '128'], { servers: ['netpoll', 'ceiling', 'net', 'net-cork', 'go'] }),
    echo('mux-1k-c4-d32', 'multiplexed, 1 KiB, 4 connections, 32 in flight each', ['--connections', '4', '--depth', '32', '--payload', '1024']),
    { id: 'idle-10k', title: `idle connections (${n(10000, 200)}, each served one 128 B request)`, protocol: 'framed', transport: 'tcp', servers: ALL, threaded: true, args: ['idle', '--connections', n(10000, 200), '--heap-signal', '--settle', n(1, 0.1)], metrics: IDLE, timed: false },
    { id: 'conn-rate', title: 'connection rate: connect, one 128 B request, close (8 at a time)', protocol: 'framed', transport: 'tcp', servers: ALL, threaded: true, args: ['conn-rate', '--slots', '8', '--payload', '128'], metrics: RATE },
    { id: 'stream-1c', title: 'streaming, one connection, raw echo', protocol: 'raw', transport: 'tcp', servers: ALL, threaded: true, args: ['stream'], metrics: STREAM },
    { id: 'sink-1c', title: 'streaming into a sink, one connection (the server counts and drops the bytes)', protocol: 'sink', transport: 'tcp', servers: ALL, threaded: true, args: ['sink'], metrics: STREAM },
    ...tlsSuite({ quick }),
    { id: 'accept-burst-1000', title: `accept fairness: ${n(1000, 100)} connections at once beside 100 loaded ones (1 KiB)`, protocol: 'framed', transport: 'tcp', servers: ALL, threaded: true, args: ['echo', '--connections', '100', '--payload', '1024', '--burst', n(1000, 100)], metrics: FAIRNESS },
    ...bridgeSuite({ quick }),
  ]
}

/** The ~30 s demo: three scenarios against `net` only. */
export function demoSuite() {
  const pick = ['echo-1k-c100', 'pipelined-128b-c100-d16', 'echo-1k-c1']
  return suite().filter((s) => pick.includes(s.id)).map((s) => ({ ...s, servers: ['netpoll', 'net'] }))
}

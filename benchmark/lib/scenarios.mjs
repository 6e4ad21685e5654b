// The scenarios of `npm run bench` (netpoll-benchmark's, plus the measurements of issue #5),
// their quick (smoke) and demo variants, and how each one is summed up.
//
// A scenario: { id, title, protocol, transport, servers, args, metrics }. `args` are the
// load generator's (without --target/--server-pid/--warmup/--duration). `metrics` list what
// the table shows: { key, label, better: 'higher' | 'lower' }; the first is the headline
// that the chart shows.

import { bridgeSuite } from './scenarios-bridge.mjs'

const ECHO = [
  { key: 'qps', label: 'QPS', better: 'higher' },
  { key: 'p50_us', label: 'p50 µs', better: 'lower' },
  { key: 'p99_us', label: 'p99 µs', better: 'lower' },
  { key: 'p999_us', label: 'p999 µs', better: 'lower' },
  { key: 'cpu_per_req_us', label: 'server CPU µs/req', better: 'lower' },
  { key: 'rss_after', label: 'server RSS MB', better: 'lower', scale: 1e-6 },
]
const PING_PONG_LATENCY = [ECHO[1], ECHO[0], ...ECHO.slice(2)]
const IDLE = [
  { key: 'rss_per_conn', label: 'RSS B/conn', better: 'lower' },
  { key: 'heap_per_conn', label: 'heap B/conn (V8 or Go)', better: 'lower' },
  { key: 'open_s', label: 'open time s', better: 'lower' },
]
const RATE = [
  { key: 'cps', label: 'connections/s', better: 'higher' },
  { key: 'p99_us', label: 'p99 µs (connect→answer)', better: 'lower' },
  { key: 'cpu_per_conn_us', label: 'server CPU µs/conn', better: 'lower' },
]
const STREAM = [
  { key: 'gbps', label: 'GB/s', better: 'higher' },
  { key: 'cpu_per_mib_us', label: 'server CPU µs/MiB', better: 'lower' },
  { key: 'rss_after', label: 'server RSS MB', better: 'lower', scale: 1e-6 },
]
const FAIRNESS = [
  { key: 'burst_ttfr_max_us', label: 'max time to 1st answer µs', better: 'lower' },
  { key: 'burst_within_100ms', label: 'answered within 100 ms', better: 'higher' },
  { key: 'burst_ttfr_p50_us', label: 'p50 time to 1st answer µs', better: 'lower' },
  { key: 'qps', label: 'QPS of the other load', better: 'higher' },
]

import { tlsSuite } from './scenarios-tls.mjs'

const ALL = ['netpoll', 'net', 'go']

function echo(id, title, args, extra = {}) {
  return { id, title, protocol: 'framed', transport: 'tcp', servers: ALL, args: ['echo', ...args], metrics: ECHO, ...extra }
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
    echo('pipelined-128b-c100-d16', 'pipelined, 128 B, 100 connections, 16 in flight each', ['--connections', '100', '--depth', '16', '--payload', '128'], { servers: ['netpoll', 'net', 'net-cork', 'go'] }),
    echo('mux-1k-c4-d32', 'multiplexed, 1 KiB, 4 connections, 32 in flight each', ['--connections', '4', '--depth', '32', '--payload', '1024']),
    { id: 'idle-10k', title: `idle connections (${n(10000, 200)}, each served one 128 B request)`, protocol: 'framed', transport: 'tcp', servers: ALL, args: ['idle', '--connections', n(10000, 200), '--heap-signal', '--settle', n(1, 0.1)], metrics: IDLE, timed: false },
    { id: 'conn-rate', title: 'connection rate: connect, one 128 B request, close (8 at a time)', protocol: 'framed', transport: 'tcp', servers: ALL, args: ['conn-rate', '--slots', '8', '--payload', '128'], metrics: RATE },
    { id: 'stream-1c', title: 'streaming, one connection, raw echo', protocol: 'raw', transport: 'tcp', servers: ALL, args: ['stream'], metrics: STREAM },
    ...tlsSuite({ quick }),
    { id: 'accept-burst-1000', title: `accept fairness: ${n(1000, 100)} connections at once beside 100 loaded ones (1 KiB)`, protocol: 'framed', transport: 'tcp', servers: ALL, args: ['echo', '--connections', '100', '--payload', '1024', '--burst', n(1000, 100)], metrics: FAIRNESS },
    ...bridgeSuite({ quick }),
  ]
}

/** The ~30 s demo: three scenarios against `net` only. */
export function demoSuite() {
  const pick = ['echo-1k-c100', 'pipelined-128b-c100-d16', 'echo-1k-c1']
  return suite().filter((s) => pick.includes(s.id)).map((s) => ({ ...s, servers: ['netpoll', 'net'] }))
}

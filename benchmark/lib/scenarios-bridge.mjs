// The scenarios of issue #14: Node's own stacks (node:http, node:http2, @grpc/grpc-js, a
// 'data' handler parsing frames) served through netpoll's net-compatible bridge (column
// "netpoll") and by the same handler on Node's `net` (column "net"), both from
// examples/bridge-bench-server.js; loads from netpoll-bench's http1, h2, grpc and echo modes.
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

const RPC = [
  { key: 'qps', label: 'requests/s', better: 'higher' },
  { key: 'p50_us', label: 'p50 µs', better: 'lower' },
  { key: 'p99_us', label: 'p99 µs', better: 'lower' },
  { key: 'cpu_per_req_us', label: 'server CPU µs/req', better: 'lower' },
  { key: 'rss_after', label: 'server RSS MB', better: 'lower', scale: 1e-6 },
]
const CALLS = [{ ...RPC[0], label: 'calls/s' }, ...RPC.slice(1, 3), { ...RPC[3], label: 'server CPU µs/call' }, RPC[4]]

/** The server command lines: the same handler on the bridge and on `net`. */
function servers(protocol) {
  const argv = (engine) => (listen, _p, o) => [
    process.execPath, path.join(root, 'examples', 'bridge-bench-server.js'),
    '--listen', listen, '--protocol', protocol, '--engine', engine,
    ...(engine === 'netpoll' && o.mode ? ['--mode', o.mode] : []),
  ]
  return { servers: ['netpoll', 'net'], argv: { netpoll: argv('netpoll'), net: argv('net') } }
}

function row(id, title, protocol, args, metrics = RPC) {
  // `protocol` keys the servers reused by --quick: one per stack, apart from echo-server.js's.
  return { id, title, protocol: `bridge-${protocol}`, transport: 'tcp', args, metrics, ...servers(protocol) }
}

/** Issue #14's rows; `quick` adds a chunked-response smoke of the http1 mode. */
export function bridgeSuite({ quick = false } = {}) {
  return [
    row('bridge-http1-c100', 'bridge: node:http hello, keep-alive GET, 100 connections', 'http1', ['http1', '--connections', '100']),
    ...(quick ? [row('bridge-http1-chunked-c10', 'bridge: node:http chunked response, 10 connections', 'http1', ['http1', '--connections', '10', '--path', '/chunked'])] : []),
    row('bridge-h2-c10-s10', 'bridge: node:http2 hello, 10 connections × 10 streams', 'http2', ['h2', '--connections', '10', '--streams', '10']),
    row('bridge-echo-1k-c100', "bridge: framed echo through the Duplex ('data' handler parsing frames), 1 KiB, 100 connections", 'framed', ['echo', '--connections', '100', '--payload', '1024']),
    row('bridge-grpc-unary-c10-s10', 'bridge: grpc-js unary hello, 100 concurrent calls (10 connections × 10)', 'grpc', ['grpc', '--call', 'unary', '--connections', '10', '--streams', '10'], CALLS),
    row('bridge-grpc-stream50-c10-s10', 'bridge: grpc-js server-streaming, 50 messages per call, 100 concurrent calls (10 connections × 10)', 'grpc', ['grpc', '--call', 'stream', '--messages', '50', '--connections', '10', '--streams', '10'], CALLS),
  ]
}

// Sums up the output of uring_vs_epoll.sh (lines "ROW SERVER {json}" on stdin): per row and
// server the medians of QPS (or MB/s for the sink), p50/p99 µs, server CPU µs per request
// (per MiB for the sink), and the io_uring / epoll ratios of QPS and of CPU per request taken
// pair by pair (each io_uring run against the epoll run of the same round), then the median.
import { readFileSync } from 'node:fs'

const runs = new Map() // row -> server -> [json]
for (const line of readFileSync(0, 'utf8').split('\n')) {
  const m = /^(\S+) (epoll|uring) (\{.*\})$/.exec(line)
  if (!m) continue
  const [, row, server, json] = m
  if (!runs.has(row)) runs.set(row, { epoll: [], uring: [] })
  runs.get(row)[server].push(JSON.parse(json))
}

const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b)
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN
}
const figure = (r) => (r.qps !== undefined ? r.qps : r.gbps * 1000)
const cpu = (r) => r.cpu_per_req_us ?? r.cpu_per_mib_us

const pairRatio = (epoll, uring, f) => median(uring.map((u, i) => (epoll[i] ? f(u) / f(epoll[i]) : undefined)))

console.log('| row | epoll | io_uring | u / e (pairs) | p50 µs e / u | p99 µs e / u | CPU µs/req e / u (sink: per MiB) | CPU u / e (pairs) | runs |')
console.log('|---|---|---|---|---|---|---|---|---|')
for (const [row, { epoll, uring }] of runs) {
  const [e, u] = [median(epoll.map(figure)), median(uring.map(figure))]
  const pair = (f, d = 1) => `${median(epoll.map(f)).toFixed(d)} / ${median(uring.map(f)).toFixed(d)}`
  const ratios = `${pairRatio(epoll, uring, figure).toFixed(3)}`
  console.log(`| ${row} | ${e.toFixed(0)} | ${u.toFixed(0)} | ${ratios} | ${pair((r) => r.p50_us)} | ${pair((r) => r.p99_us)} | ${pair(cpu, 2)} | ${pairRatio(epoll, uring, cpu).toFixed(3)} | ${epoll.length}+${uring.length} |`)
}

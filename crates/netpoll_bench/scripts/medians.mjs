// Sums up the output of uring_vs_epoll.sh (lines "ROW SERVER {json}" on stdin): per row and
// server the medians of QPS (or MB/s for the sink), p50/p99 µs, server CPU µs per request, and the
// io_uring / epoll ratio of the headline figure.
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

console.log('| row | epoll | io_uring | io_uring / epoll | p50 µs e / u | p99 µs e / u | CPU µs/req (per MiB for sink) e / u | runs |')
console.log('|---|---|---|---|---|---|---|---|')
for (const [row, { epoll, uring }] of runs) {
  const [e, u] = [median(epoll.map(figure)), median(uring.map(figure))]
  const pair = (f) => `${median(epoll.map(f)).toFixed(1)} / ${median(uring.map(f)).toFixed(1)}`
  console.log(`| ${row} | ${e.toFixed(0)} | ${u.toFixed(0)} | ${(u / e).toFixed(3)} | ${pair((r) => r.p50_us)} | ${pair((r) => r.p99_us)} | ${pair(cpu)} | ${epoll.length}+${uring.length} |`)
}

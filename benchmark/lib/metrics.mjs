// What the benchmark tables show for each kind of scenario: { key, label, better, scale? };
// the first metric of a list is the headline that the chart shows.

export const ECHO = [
  { key: 'qps', label: 'QPS', better: 'higher' },
  { key: 'p50_us', label: 'p50 µs', better: 'lower' },
  { key: 'p99_us', label: 'p99 µs', better: 'lower' },
  { key: 'p999_us', label: 'p999 µs', better: 'lower' },
  { key: 'cpu_per_req_us', label: 'server CPU µs/req', better: 'lower' },
  { key: 'rss_after', label: 'server RSS MB', better: 'lower', scale: 1e-6 },
]
export const PING_PONG_LATENCY = [ECHO[1], ECHO[0], ...ECHO.slice(2)]
export const IDLE = [
  { key: 'rss_per_conn', label: 'RSS B/conn', better: 'lower' },
  { key: 'heap_per_conn', label: 'heap B/conn (V8 or Go)', better: 'lower' },
  { key: 'open_s', label: 'open time s', better: 'lower' },
]
export const RATE = [
  { key: 'cps', label: 'connections/s', better: 'higher' },
  { key: 'p99_us', label: 'p99 µs (connect→answer)', better: 'lower' },
  { key: 'cpu_per_conn_us', label: 'server CPU µs/conn', better: 'lower' },
]
export const STREAM = [
  { key: 'gbps', label: 'GB/s', better: 'higher' },
  { key: 'cpu_per_mib_us', label: 'server CPU µs/MiB', better: 'lower' },
  { key: 'rss_after', label: 'server RSS MB', better: 'lower', scale: 1e-6 },
]
export const FAIRNESS = [
  { key: 'burst_ttfr_max_us', label: 'max time to 1st answer µs', better: 'lower' },
  { key: 'burst_within_100ms', label: 'answered within 100 ms', better: 'higher' },
  { key: 'burst_ttfr_p50_us', label: 'p50 time to 1st answer µs', better: 'lower' },
  { key: 'qps', label: 'QPS of the other load', better: 'higher' },
]

// Tables (Markdown) per scenario with every server's median and the ratios, and the targets
// of issue #5 judged as met / not met (printed, never asserted).
import { KINDS } from './servers.mjs'

/** A number for a table: 3 significant digits, thousands kept whole. */
export function fmt(x) {
  if (x === undefined || x === null || Number.isNaN(x)) return '–'
  const a = Math.abs(x)
  if (a >= 1000) return Math.round(x).toLocaleString('en-US')
  if (a >= 100) return x.toFixed(0)
  if (a >= 10) return x.toFixed(1)
  if (a >= 1) return x.toFixed(2)
  return x.toFixed(3)
}

/** netpoll's value over `other`'s, for metric `key`. */
export function ratio(result, key, other) {
  const a = result.medians.netpoll?.[key]
  const b = result.medians[other]?.[key]
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : undefined
}

/** The Markdown table of one scenario. */
export function table(result) {
  const others = result.servers.filter((k) => k !== 'netpoll')
  const head = ['metric', ...result.servers.map((k) => KINDS[k].label), ...others.map((k) => `netpoll ÷ ${KINDS[k].label}`)]
  const rows = result.scenario.metrics.map((m) => [
    `${m.label} (${m.better} is better)`,
    ...result.servers.map((k) => fmt(result.medians[k]?.[m.key] * (m.scale ?? 1))),
    ...others.map((k) => `${fmt(ratio(result, m.key, k))}×`),
  ])
  const errors = result.servers.map((k) => result.runs[k].reduce((n, r) => n + (r.errors ?? 0), 0))
  if (errors.some((e) => e > 0)) rows.push(['connection errors (all rounds)', ...errors.map(String), ...others.map(() => '')])
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n')
}

const le = (bound) => ({ test: (x) => x <= bound, text: `≤ ${bound}` })
const ge = (bound) => ({ test: (x) => x >= bound, text: `≥ ${bound}` })

/** The targets of issue #5: [{ what, scenario, key, vs, cmp }]. */
const TARGETS = [
  ...['echo-1k-c100', 'echo-1k-c1000'].flatMap((s) => [
    { what: `${s}: QPS ratio`, scenario: s, key: 'qps', vs: 'net', cmp: ge(2.2) },
    { what: `${s}: p99 ratio`, scenario: s, key: 'p99_us', vs: 'net', cmp: le(0.6) },
    { what: `${s}: server CPU per request ratio`, scenario: s, key: 'cpu_per_req_us', vs: 'net', cmp: le(0.5) },
  ]),
  { what: 'echo-16k-c100: QPS ratio', scenario: 'echo-16k-c100', key: 'qps', vs: 'net', cmp: ge(2.5) },
  { what: 'pipelined-128b-c100-d16: QPS ratio vs net', scenario: 'pipelined-128b-c100-d16', key: 'qps', vs: 'net', cmp: ge(12) },
  { what: 'pipelined-128b-c100-d16: QPS ratio vs net --cork', scenario: 'pipelined-128b-c100-d16', key: 'qps', vs: 'net-cork', cmp: ge(2.0) },
  { what: 'echo-1k-c1: p50 latency ratio', scenario: 'echo-1k-c1', key: 'p50_us', vs: 'net', cmp: le(1.0) },
  { what: 'idle-10k: RSS per connection ratio', scenario: 'idle-10k', key: 'rss_per_conn', vs: 'net', cmp: le(0.25) },
  { what: 'conn-rate: connections/s ratio', scenario: 'conn-rate', key: 'cps', vs: 'net', cmp: ge(1.5) },
  { what: 'stream-1c: throughput ratio', scenario: 'stream-1c', key: 'gbps', vs: 'net', cmp: ge(1.5) },
]
const GO_ECHO = ['echo-1k-c1', 'echo-1k-c100', 'echo-1k-c1000', 'echo-128b-c100', 'echo-16k-c100', 'echo-1k-c100-idle', 'echo-1k-c100-unix', 'pipelined-128b-c100-d16', 'mux-1k-c4-d32']

/** Judges every target against `results`: [{ what, want, got, met: true | false | null }]. */
export function targets(results) {
  const byId = new Map(results.map((r) => [r.scenario.id, r]))
  const out = TARGETS.map((t) => {
    const r = byId.get(t.scenario)
    const got = r && ratio(r, t.key, t.vs)
    return { what: t.what, want: t.cmp.text, got, met: got === undefined ? null : t.cmp.test(got) }
  })
  const burst = byId.get('accept-burst-1000')
  const served = burst?.medians.netpoll
  out.push({
    what: 'accept-burst-1000: every burst connection answered within 100 ms (netpoll)',
    want: `${served?.burst ?? 1000} of ${served?.burst ?? 1000}`,
    got: served?.burst_within_100ms,
    met: served ? served.burst_within_100ms === served.burst : null,
  })
  for (const id of GO_ECHO) {
    const r = byId.get(id)
    const got = r && ratio(r, 'qps', 'go')
    out.push({ what: `${id}: QPS ratio vs Go netpoll`, want: '≥ 1', got, met: got === undefined ? null : got >= 1 })
  }
  return out
}

/** The targets as text lines. */
export function targetLines(judged) {
  return judged.map((t) => {
    const verdict = t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met'
    return `- ${t.what}: ${t.got === undefined ? '–' : fmt(t.got)} (target ${t.want}): ${verdict}`
  })
}

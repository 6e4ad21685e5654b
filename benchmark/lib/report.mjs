// Tables (Markdown) per scenario with every server's median and netpoll's ratios (to the
// ceiling, net, net --cork, Go netpoll; the threaded engine's to net), and the targets of
// issue #16 judged as met / not met (printed, never asserted).
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

/** The value of server `of` (netpoll by default) over `other`'s, for metric `key`. */
export function ratio(result, key, other, of = 'netpoll') {
  const a = result.medians[of]?.[key]
  const b = result.medians[other]?.[key]
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : undefined
}

/**
 * The ratio columns of a table: [of, other] pairs. netpoll's to every other server (the
 * ceiling first), and the threaded engine's to net.
 */
function ratioColumns(servers) {
  if (!servers.includes('netpoll')) return []
  const others = servers.filter((k) => k !== 'netpoll' && k !== 'netpoll-threaded')
  const pairs = [...others.filter((k) => k === 'ceiling'), ...others.filter((k) => k !== 'ceiling')].map((k) => ['netpoll', k])
  if (servers.includes('netpoll-threaded') && servers.includes('net')) pairs.push(['netpoll-threaded', 'net'])
  return pairs
}

/** The Markdown table of one scenario: every server's medians, then netpoll's ratios. */
export function table(result) {
  const pairs = ratioColumns(result.servers)
  const head = ['metric', ...result.servers.map((k) => KINDS[k].label), ...pairs.map(([a, b]) => `${KINDS[a].label} ÷ ${KINDS[b].label}`)]
  const rows = result.scenario.metrics.map((m) => [
    `${m.label} (${m.better} is better)`,
    ...result.servers.map((k) => fmt(result.medians[k]?.[m.key] * (m.scale ?? 1))),
    ...pairs.map(([a, b]) => `${fmt(ratio(result, m.key, b, a))}×`),
  ])
  const errors = result.servers.map((k) => result.runs[k].reduce((n, r) => n + (r.errors ?? 0), 0))
  if (errors.some((e) => e > 0)) rows.push(['connection errors (all rounds)', ...errors.map(String), ...pairs.map(() => '')])
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n')
}

const le = (bound) => ({ test: (x) => x <= bound, text: `≤ ${bound}` })
const ge = (bound) => ({ test: (x) => x >= bound, text: `≥ ${bound}` })

/** The targets of issue #16 with a fixed scenario: { what, scenario, key, vs, of?, cmp }. */
const TARGETS = [
  ...['echo-1k-c100', 'echo-1k-c1000'].flatMap((s) => [
    { what: `${s}: QPS ÷ ceiling`, scenario: s, key: 'qps', vs: 'ceiling', cmp: ge(0.95) },
    { what: `${s}: server CPU per request ÷ ceiling`, scenario: s, key: 'cpu_per_req_us', vs: 'ceiling', cmp: le(1.1) },
  ]),
  { what: 'echo-16k-c100: QPS ÷ ceiling', scenario: 'echo-16k-c100', key: 'qps', vs: 'ceiling', cmp: ge(0.85) },
  { what: 'pipelined-128b-c100-d16: QPS ÷ ceiling', scenario: 'pipelined-128b-c100-d16', key: 'qps', vs: 'ceiling', cmp: ge(0.8) },
  { what: 'pipelined-128b-c100-d16: QPS ÷ net --cork', scenario: 'pipelined-128b-c100-d16', key: 'qps', vs: 'net-cork', cmp: ge(2) },
  { what: 'echo-1k-c1: p50 ÷ net', scenario: 'echo-1k-c1', key: 'p50_us', vs: 'net', cmp: le(1.0) },
  { what: 'echo-1k-c1: p50 ÷ ceiling', scenario: 'echo-1k-c1', key: 'p50_us', vs: 'ceiling', cmp: le(1.15) },
  { what: 'echo-1k-c1: p99 ÷ ceiling', scenario: 'echo-1k-c1', key: 'p99_us', vs: 'ceiling', cmp: le(1.15) },
  { what: 'echo-1k-c1: QPS ÷ Go netpoll', scenario: 'echo-1k-c1', key: 'qps', vs: 'go', cmp: ge(1.0) },
  { what: 'sink-1c: GB/s ÷ net', scenario: 'sink-1c', key: 'gbps', vs: 'net', cmp: ge(2) },
  { what: 'sink-1c: GB/s ÷ ceiling', scenario: 'sink-1c', key: 'gbps', vs: 'ceiling', cmp: ge(0.8) },
  { what: 'idle-10k: RSS per connection ÷ net', scenario: 'idle-10k', key: 'rss_per_conn', vs: 'net', cmp: le(0.25) },
  { what: 'idle-10k: V8 heap per connection ÷ net', scenario: 'idle-10k', key: 'heap_per_conn', vs: 'net', cmp: le(0.25) },
  { what: 'conn-rate: connections/s ÷ net', scenario: 'conn-rate', key: 'cps', vs: 'net', cmp: ge(1.5) },
  { what: 'conn-rate: connections/s ÷ Go netpoll', scenario: 'conn-rate', key: 'cps', vs: 'go', cmp: ge(1.0) },
]

/** One judged target: { what, want, got, met: true | false | null (not measured) }. */
function judge(what, cmp, got) {
  return { what, want: cmp.text, got, met: got === undefined ? null : cmp.test(got) }
}

/**
 * Judges the targets of issue #16 against `results` (medians of one run):
 * [{ what, want, got, met: true | false | null }]. Besides the fixed list: server RSS under
 * load ≤ 1.0× net's on every scenario that measures it, and the threaded engine (when its
 * column ran) not below net on any scenario's headline figure.
 */
export function targets(results) {
  const byId = new Map(results.map((r) => [r.scenario.id, r]))
  const out = TARGETS.map((t) => {
    const r = byId.get(t.scenario)
    return judge(t.what, t.cmp, r && ratio(r, t.key, t.vs, t.of))
  })
  for (const r of results) {
    if (!r.servers.includes('net')) continue
    if (r.scenario.metrics.some((m) => m.key === 'rss_after') && r.servers.includes('netpoll')) {
      out.push(judge(`${r.scenario.id}: server RSS under load ÷ net`, le(1.0), ratio(r, 'rss_after', 'net')))
    }
  }
  for (const r of results) {
    if (!r.servers.includes('netpoll-threaded') || !r.servers.includes('net')) continue
    const m = r.scenario.metrics[0]
    const x = ratio(r, m.key, 'net', 'netpoll-threaded')
    const got = x === undefined || m.better === 'higher' ? x : 1 / x
    out.push(judge(`${r.scenario.id}: threaded engine's ${m.label} vs net (${m.better === 'higher' ? 'threaded ÷ net' : 'net ÷ threaded'})`, ge(1.0), got))
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

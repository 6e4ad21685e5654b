// The benchmark targets of issue #15 (TLS), judged as met / not met like issue #5's.
import { ratio } from './report.mjs'

const ge = (bound) => ({ test: (x) => x >= bound, text: `≥ ${bound}` })
const le = (bound) => ({ test: (x) => x <= bound, text: `≤ ${bound}` })

/** [{ what, scenario, key, vs, cmp }]: netpoll's median over `vs`'s. */
const TARGETS = [
  { what: 'tls-echo-1k-c100: QPS ratio vs Node tls', scenario: 'tls-echo-1k-c100', key: 'qps', vs: 'net', cmp: ge(2) },
  { what: 'tls-echo-1k-c100: QPS ratio vs netpoll plaintext', scenario: 'tls-echo-1k-c100', key: 'qps', vs: 'netpoll-plaintext', cmp: ge(0.6) },
  { what: 'tls-echo-16k-c100: QPS ratio vs Node tls', scenario: 'tls-echo-16k-c100', key: 'qps', vs: 'net', cmp: ge(2) },
  { what: 'tls-handshake-full: handshakes/s ratio vs Node tls', scenario: 'tls-handshake-full', key: 'cps', vs: 'net', cmp: ge(1.5) },
  { what: 'tls-handshake-resumed: handshakes/s ratio vs Node tls', scenario: 'tls-handshake-resumed', key: 'cps', vs: 'net', cmp: ge(1.5) },
  { what: 'tls-stream-1c: throughput ratio vs Node tls', scenario: 'tls-stream-1c', key: 'gbps', vs: 'net', cmp: ge(1.5) },
  { what: 'tls-idle-10k: RSS per connection ratio vs Node tls', scenario: 'tls-idle-10k', key: 'rss_per_conn', vs: 'net', cmp: le(0.5) },
]

/** Judges the TLS targets against `results`: [{ what, want, got, met: true | false | null }]. */
export function tlsTargets(results) {
  const byId = new Map(results.map((r) => [r.scenario.id, r]))
  const out = TARGETS.map((t) => {
    const r = byId.get(t.scenario)
    const got = r && ratio(r, t.key, t.vs)
    return { what: t.what, want: t.cmp.text, got, met: got === undefined ? null : t.cmp.test(got) }
  })
  // The resumed row means something only if netpoll's handshakes were resumed (Node's share
  // is in the table: OpenSSL issues fewer tickets than a ticket-per-connection client uses).
  const got = byId.get('tls-handshake-resumed')?.medians.netpoll?.resumed_share
  out.push({ what: "tls-handshake-resumed: share of netpoll's handshakes resumed", want: '≥ 0.9', got, met: got === undefined ? null : got >= 0.9 })
  return out
}

// The targets of issue #14 (netpoll's bridge ÷ the same handler on `net`), judged met / not
// met: printed, never asserted.
import { ratio } from './report.mjs'

const ge = (bound) => ({ test: (x) => x >= bound, text: `≥ ${bound}` })
const le = (bound) => ({ test: (x) => x <= bound, text: `≤ ${bound}` })

const TARGETS = [
  { what: 'node:http hello: requests/s ratio (aim 1.5)', scenario: 'bridge-http1-c100', key: 'qps', cmp: ge(1.3) },
  { what: 'node:http hello: server CPU per request ratio', scenario: 'bridge-http1-c100', key: 'cpu_per_req_us', cmp: le(0.75) },
  { what: 'node:http2 10 × 10 streams: requests/s ratio', scenario: 'bridge-h2-c10-s10', key: 'qps', cmp: ge(1.0) },
  { what: 'framed echo through the Duplex: requests/s ratio', scenario: 'bridge-echo-1k-c100', key: 'qps', cmp: ge(1.3) },
  { what: 'grpc-js unary, 100 concurrent calls: calls/s ratio', scenario: 'bridge-grpc-unary-c10-s10', key: 'qps', cmp: ge(1.0) },
  { what: 'grpc-js server-streaming, 50 messages: calls/s ratio', scenario: 'bridge-grpc-stream50-c10-s10', key: 'qps', cmp: ge(1.0) },
]

/** Judges issue #14's targets against `results`: [{ what, want, got, met: true | false | null }]. */
export function bridgeTargets(results) {
  const byId = new Map(results.map((r) => [r.scenario.id, r]))
  return TARGETS.map((t) => {
    const r = byId.get(t.scenario)
    const got = r && ratio(r, t.key, 'net')
    return { what: t.what, want: t.cmp.text, got, met: got === undefined ? null : t.cmp.test(got) }
  })
}

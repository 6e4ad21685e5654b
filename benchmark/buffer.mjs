// Micro-benchmark: LinkBuffer write + flush + next of fixed-size messages, against building the
// same bytes in plain JS with Buffer.concat (append the message to an accumulator, then cut the
// message off its front: the usual JS framing pattern).
//
// Runs are alternated (A B A B …) after a warm-up, and medians are reported. Needs a build:
// `npm run build` (native addon + dist/). Knobs: BENCH_MESSAGES (default 100000),
// BENCH_ROUNDS (default 5), BENCH_SIZES (default "1024,65536"; the first size is the headline).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { LinkBuffer, poolStats } = require('..')

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const SIZES = (process.env.BENCH_SIZES ?? '1024,65536').split(',').map(Number)

/** A few distinct messages of `size` bytes, cycled through. */
function messages(size) {
  return Array.from({ length: 16 }, (_, k) => Buffer.alloc(size, k + 1))
}

function linkBuffer(msgs, count) {
  const lb = new LinkBuffer()
  const size = msgs[0].length
  let check = 0
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    lb.writeBinary(msgs[i & 15])
    lb.flush()
    const out = lb.next(size)
    check += out[size - 1]
  }
  const ns = Number(process.hrtime.bigint() - start)
  lb.release()
  return { opsPerSec: (count * 1e9) / ns, check }
}

function concat(msgs, count) {
  let acc = Buffer.alloc(0)
  const size = msgs[0].length
  let check = 0
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    acc = Buffer.concat([acc, msgs[i & 15]])
    const out = acc.subarray(0, size)
    acc = acc.subarray(size)
    check += out[size - 1]
  }
  const ns = Number(process.hrtime.bigint() - start)
  return { opsPerSec: (count * 1e9) / ns, check }
}

function median(values) {
  const s = [...values].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function fmt(opsPerSec) {
  return `${Math.round(opsPerSec).toLocaleString('en-US')} ops/s`
}

console.log(
  `LinkBuffer write+flush+next vs Buffer.concat: ${MESSAGES} messages per run, ` +
    `${ROUNDS} alternated rounds each, node ${process.version}`,
)
let headline = null
for (const size of SIZES) {
  const msgs = messages(size)
  const count = size >= 16 * 1024 ? Math.max(1, Math.floor(MESSAGES / 10)) : MESSAGES
  // Warm-up (JIT, pool).
  linkBuffer(msgs, Math.min(count, 10_000))
  concat(msgs, Math.min(count, 10_000))
  const a = []
  const b = []
  for (let r = 0; r < ROUNDS; r++) {
    const x = linkBuffer(msgs, count)
    const y = concat(msgs, count)
    if (x.check !== y.check) throw new Error(`checksum mismatch: ${x.check} vs ${y.check}`)
    a.push(x.opsPerSec)
    b.push(y.opsPerSec)
  }
  const lb = median(a)
  const cc = median(b)
  const ratio = lb / cc
  headline ??= ratio
  console.log(
    `  ${String(size).padStart(6)} B x ${count}: LinkBuffer ${fmt(lb)} | concat ${fmt(cc)} | ` +
      `ratio LinkBuffer/concat ${ratio.toFixed(2)}`,
  )
  console.log(`      rounds LinkBuffer: ${a.map((v) => Math.round(v)).join(' ')}`)
  console.log(`      rounds concat:     ${b.map((v) => Math.round(v)).join(' ')}`)
}
console.log(`ratio (LinkBuffer/concat, ${SIZES[0]} B): ${headline.toFixed(2)}`)
console.log(`pool after the runs: ${JSON.stringify(poolStats())}`)

#!/usr/bin/env node
// `npm run demo`: about 30 seconds of `npm run bench`. This library's framed echo server and
// the same server on Node's `net` take turns (A B A B) under the native load generator in
// three scenarios; the demo ends in a small table of medians. It builds what it needs first
// (the load generator, and the addon if it is missing or stale). The whole suite, with Go's
// netpoll as a third column, is `npm run bench` (benchmark/run.mjs).
'use strict'

async function main() {
  const { buildAddonIfNeeded, buildLoadgen } = await import('../benchmark/lib/build.mjs')
  const { runSuite } = await import('../benchmark/lib/runner.mjs')
  const { demoSuite } = await import('../benchmark/lib/scenarios.mjs')
  const { fmt, ratio } = await import('../benchmark/lib/report.mjs')
  const log = (s) => process.stderr.write(`${s}\n`)
  const loadgen = buildLoadgen(log)
  buildAddonIfNeeded(log)
  const tty = process.stderr.isTTY
  const results = await runSuite(demoSuite(), {
    loadgen, rounds: 2, warmup: 0.5, duration: 1.5, reuse: false,
    progress: (s) => process.stderr.write(tty ? `\r\x1b[K${s}` : `${s}\n`),
  })
  if (tty) process.stderr.write('\r\x1b[K')
  const rows = results.flatMap((r) => r.scenario.metrics.slice(0, 2).map((m) => [
    r.scenario.title, `${m.label} (${m.better} is better)`,
    fmt(r.medians.netpoll[m.key]), fmt(r.medians.net[m.key]), `${fmt(ratio(r, m.key, 'net'))}×`,
  ]))
  const head = ['scenario', 'metric', 'netpoll', 'net', 'netpoll ÷ net']
  console.log('\nnetpoll vs Node\'s net, medians of 2 alternated rounds of 1.5 s (npm run bench for all scenarios)\n')
  for (const r of [head, head.map(() => '---'), ...rows]) console.log(`| ${r.join(' | ')} |`)
}

main().catch((e) => {
  console.error(e.stack ?? e)
  process.exit(1)
})

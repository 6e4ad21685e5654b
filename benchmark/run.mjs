#!/usr/bin/env node
// `npm run bench`: this library's echo server, Node's `net` and (when `go` exists) Go's
// cloudwego/netpoll, each under the native load generator, alternated round by round.
// Prints a table per scenario and the targets of issues #5 and #14 (the bridge-* scenarios:
// Node's stacks on the bridge vs on net, benchmark/lib/scenarios-bridge.mjs); writes
// benchmark/results/<date>.json and benchmark/results/latest.svg.
//
// Flags: --quick (correctness smoke of every scenario, a few seconds, writes nothing),
// --rounds N (3), --duration S (2), --warmup S (1), --only ID[,ID…] (scenario ids or
// prefixes), --mode inline|threaded|auto (this library's engine), --no-go, --no-build.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildAddonIfNeeded, buildGoServer, buildLoadgen } from './lib/build.mjs'
import { chart } from './lib/svg.mjs'
import { runSuite } from './lib/runner.mjs'
import { suite } from './lib/scenarios.mjs'
import { table, targetLines, targets } from './lib/report.mjs'
import { tlsTargets } from './lib/targets-tls.mjs'
import { bridgeTargets } from './lib/targets-bridge.mjs'
import { machine } from './lib/machine.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))

function parse(argv) {
  const o = { quick: false, rounds: 3, duration: 2, warmup: 1, only: null, mode: undefined, go: true, build: true }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    const num = () => {
      const n = Number(v())
      if (!(n > 0)) throw new Error(`${a} needs a positive number`)
      return n
    }
    if (a === '--quick') o.quick = true
    else if (a === '--rounds') o.rounds = Math.round(num())
    else if (a === '--duration') o.duration = num()
    else if (a === '--warmup') o.warmup = num()
    else if (a === '--only') o.only = v().split(',')
    else if (a === '--mode') o.mode = v()
    else if (a === '--no-go') o.go = false
    else if (a === '--no-build') o.build = false
    else throw new Error(`unknown option ${a} (see the top of benchmark/run.mjs)`)
  }
  if (o.quick) Object.assign(o, { rounds: 1, duration: 0.2, warmup: 0.05, go: false })
  return o
}

async function main() {
  const o = parse(process.argv.slice(2))
  const log = (s) => process.stderr.write(`${s}\n`)
  const loadgen = buildLoadgen(log)
  if (o.build) buildAddonIfNeeded(log)
  let goBinary = null
  if (o.go) {
    const go = buildGoServer(log)
    goBinary = go.binary
    if (!goBinary) log(`no Go netpoll column: ${go.why}`)
  }
  let scenarios = suite({ quick: o.quick })
  if (o.only) scenarios = scenarios.filter((s) => o.only.some((p) => s.id.startsWith(p)))
  if (scenarios.length === 0) throw new Error(`--only ${o.only} matches no scenario`)
  const before = machine()
  const started = Date.now()
  const results = await runSuite(scenarios, {
    loadgen, goBinary, rounds: o.rounds, warmup: o.warmup, duration: o.duration, mode: o.mode,
    reuse: o.quick, progress: log,
  })
  const wall = (Date.now() - started) / 1000
  const info = { ...before, loadavg_end: os.loadavg().map((x) => +x.toFixed(2)) }
  const head = [
    `${info.date.slice(0, 16).replace('T', ' ')} UTC, ${info.cpus}× ${info.cpu_model}, ${info.os}, Node ${info.node}${info.go ? `, ${info.go}` : ''}, load average ${info.loadavg_start[0]} → ${info.loadavg_end[0]}`,
    `medians of ${o.rounds} alternated rounds, ${o.warmup} s warm-up + ${o.duration} s each; netpoll mode ${o.mode ?? 'auto'}; load generator: netpoll-bench (1 thread)`,
  ]
  console.log(`\n${head.join('\n')}\n`)
  for (const r of results) console.log(`### ${r.scenario.title}\n\n${table(r)}\n`)
  const errors = results.flatMap((r) => Object.values(r.runs).flat()).reduce((n, x) => n + (x.errors ?? 0), 0)
  if (o.quick) {
    console.log(`bench smoke: ${results.length} scenarios, every echo verified, ${errors} connection errors, ${wall.toFixed(1)} s`)
    process.exitCode = errors === 0 ? 0 : 1
    return
  }
  const judged = targets(results)
  console.log(`### Targets of issue #5 (met / not met; never asserted)\n\n${targetLines(judged).join('\n')}\n`)
  const judgedTls = tlsTargets(results)
  console.log(`### Targets of issue #15 (met / not met; never asserted)\n\n${targetLines(judgedTls).join('\n')}\n`)
  const judgedBridge = bridgeTargets(results)
  console.log(`### Targets of issue #14 (netpoll's bridge ÷ the same handler on net; never asserted)\n\n${targetLines(judgedBridge).join('\n')}\n`)
  const dir = path.join(here, 'results')
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${info.date.slice(0, 10)}.json`)
  const data = {
    machine: info, options: { rounds: o.rounds, warmup: o.warmup, duration: o.duration, mode: o.mode ?? 'auto' }, wall_s: wall,
    scenarios: results.map((r) => ({ id: r.scenario.id, title: r.scenario.title, args: r.scenario.args, transport: r.scenario.transport, medians: r.medians, runs: r.runs })),
    targets: judged,
    tls_targets: judgedTls,
    targets_bridge: judgedBridge,
  }
  fs.writeFileSync(file, `${JSON.stringify(data, null, 1)}\n`)
  fs.writeFileSync(path.join(dir, 'latest.svg'), chart(results, head))
  console.log(`wrote ${path.relative(process.cwd(), file)} and ${path.relative(process.cwd(), path.join(dir, 'latest.svg'))} (${wall.toFixed(0)} s)`)
  if (errors > 0) console.log(`warning: ${errors} connections failed during the runs (see the tables)`)
}

main().catch((e) => {
  console.error(`bench failed: ${e.stack ?? e}`)
  process.exit(1)
})

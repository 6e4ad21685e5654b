#!/usr/bin/env node
// `npm test`: builds the addon from source, checks formatting and lints, runs the Rust tests
// and the ava suite (once per engine mode), and ends with one line `N passed, M failed`.
import { spawnSync } from 'node:child_process'

const steps = []
let passed = 0
let failed = 0
let broken = false

function run(name, cmd, args, { env = {}, parse } = {}) {
  process.stdout.write(`\n=== ${name}: ${cmd} ${args.join(' ')}\n`)
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 28 })
  process.stdout.write(r.stdout ?? '')
  process.stderr.write(r.stderr ?? '')
  let counts = null
  if (parse) counts = parse(`${r.stdout}\n${r.stderr}`)
  if (counts) {
    passed += counts.passed
    failed += counts.failed
  }
  const ok = r.status === 0
  if (!ok) broken = true
  steps.push(`${ok ? 'ok  ' : 'FAIL'} ${name}${counts ? ` (${counts.passed} passed, ${counts.failed} failed)` : ''}`)
  // Name each failed test in the summary too, where a truncated log still shows it.
  for (const m of `${r.stdout}\n${r.stderr}`.matchAll(/^(not ok \d+ - .*|test .* \.\.\. FAILED)$/gm)) steps.push(`       ${m[1]}`)
  return ok
}

function cargoCounts(out) {
  let p = 0
  let f = 0
  for (const m of out.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    p += Number(m[1])
    f += Number(m[2])
  }
  return { passed: p, failed: f }
}

function tapCounts(out) {
  const p = /^# pass\s+(\d+)/m.exec(out)
  const f = /^# fail\s+(\d+)/m.exec(out)
  return { passed: p ? Number(p[1]) : 0, failed: f ? Number(f[1]) : 0 }
}

const built = run('build', 'npm', ['run', 'build'])
run('rustfmt', 'cargo', ['fmt', '--all', '--', '--check'])
run('clippy', 'cargo', ['clippy', '--workspace', '--all-targets', '--', '-D', 'warnings'])
run('cargo test', 'cargo', ['test', '--workspace'], { parse: cargoCounts })
if (built) {
  for (const mode of ['inline', 'threaded']) {
    // Threaded with 2 shards, so cross-shard placement and hand-off are exercised too.
    const env = mode === 'threaded' ? { NETPOLL_MODE: mode, NETPOLL_POLLERS: '2' } : { NETPOLL_MODE: mode }
    run(`ava (${mode})`, 'npx', ['ava', '--tap'], { env, parse: tapCounts })
  }
}
if (process.env.NETPOLL_CI === '1') {
  // CI also proves the packages install and the workflows are valid.
  run('test:pack', 'npm', ['run', 'test:pack'])
  run('lint:workflows', 'npm', ['run', 'lint:workflows'])
  run('bench smoke', 'npm', ['run', 'bench', '--', '--quick'])
}
console.log('\n=== summary')
for (const s of steps) console.log(s)
if (broken && failed === 0) failed = 1 // a step failed without test counts (build, lint): never report green
console.log(`${passed} passed, ${failed} failed`)
process.exit(broken ? 1 : 0)

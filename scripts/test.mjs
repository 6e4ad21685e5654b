#!/usr/bin/env node
// `npm test`: builds the addon from source, checks formatting and lints, runs the Rust tests
// and the ava suite once per engine mode under every supported Node line (package.json
// engines: the node running this, plus the binaries scripts/node-lines.mjs fetches for the
// other lines, 22, 24 and 26 on a Node 20 machine), and ends with one line
// `N passed, M failed`. A line that could not be fetched is listed as NOT TESTED: a warning
// locally, a failure in CI (NETPOLL_CI=1). NETPOLL_NODE_LINES=22,24 (or `none`) narrows the
// fetched lines for a quicker local run; the lines left out are listed as not tested too.
import { spawn, spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cacheDir, NODE_LINES, nodeLines, OWN_LINE, PACKAGE } from './node-lines.mjs'

const steps = []
let passed = 0
let failed = 0
let broken = false

const CI = process.env.NETPOLL_CI === '1'
const AVA = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'ava', 'entrypoints', 'cli.mjs')

/**
 * ava prints a line for each finished test; this long without any output means a test hung.
 * ava's own `timeout` cannot be relied on: it is ignored while a test's t.timeout() window is
 * open, and when it fires inside one it is never armed again. On a hang, the runner kills ava's
 * workers (ava then reports each one's file as `exited due to SIGKILL` and ends normally), so a
 * hang costs this long and is named, instead of holding the run until CI's time runs out.
 */
const HANG_MS = 180_000

/** The pids of the direct children of `pid` (ava's workers), via pgrep. */
function childrenOf(pid) {
  const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
  return (r.stdout ?? '').split(/\s+/).filter(Boolean).map(Number)
}

/**
 * Runs one step, its output shown as it comes; counts its tests with `parse`; adds its line
 * (and one per failed test) to the summary. With `hangMs`, a step silent that long has its
 * child's children killed (see HANG_MS), and the step fails.
 */
async function run(name, cmd, args, { env = {}, parse, hangMs } = {}) {
  process.stdout.write(`\n=== ${name}: ${cmd} ${args.join(' ')}\n`)
  const started = Date.now()
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  let hung = false
  const watchdog = hangMs
    ? setTimeout(() => {
        hung = true
        const workers = childrenOf(child.pid)
        process.stdout.write(`\n!!! ${name}: no output for ${hangMs / 1000} s, a test hung: killing the workers ${workers.join(', ') || '(none found)'}\n`)
        for (const pid of workers) {
          try {
            process.kill(pid, 'SIGKILL')
          } catch {
            // already gone
          }
        }
        // If it still does not end, the step's own process goes too.
        setTimeout(() => child.kill('SIGKILL'), 30_000).unref()
      }, hangMs)
    : null
  child.stdout.setEncoding('utf8').on('data', (d) => {
    out += d
    process.stdout.write(d)
    watchdog?.refresh()
  })
  child.stderr.setEncoding('utf8').on('data', (d) => {
    err += d
    process.stderr.write(d)
    watchdog?.refresh()
  })
  const status = await new Promise((resolve) => {
    child.on('error', (e) => {
      err += `${e.message}\n`
      resolve(null)
    })
    child.on('close', (code) => resolve(code))
  })
  clearTimeout(watchdog)
  let counts = null
  if (parse) counts = parse(`${out}\n${err}`)
  if (counts) {
    passed += counts.passed
    failed += counts.failed
  }
  const ok = status === 0 && !hung
  if (!ok) broken = true
  const secs = Math.round((Date.now() - started) / 1000)
  const note = hung ? ` (hung: no output for ${hangMs / 1000} s; its workers were killed)` : ''
  steps.push(`${ok ? 'ok  ' : 'FAIL'} ${name}${counts ? ` (${counts.passed} passed, ${counts.failed} failed)` : ''}, ${secs} s${note}`)
  // Name each failed test in the summary too, where a truncated log still shows it.
  for (const m of `${out}\n${err}`.matchAll(/^(not ok \d+ - .*|test .* \.\.\. FAILED)$/gm)) steps.push(`       ${m[1]}`)
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

/**
 * The Node binaries to run ava under: this node first, then one per line of NODE_LINES
 * (fetched by scripts/node-lines.mjs) that is not this node's line. Lines not found are
 * reported: a failure in CI, a loud warning locally. (This node's line is tested even when
 * it is not a supported one, as before.)
 */
function nodeBinaries() {
  const nodes = [{ label: `node ${process.version}`, path: process.execPath }]
  const env = process.env.NETPOLL_NODE_LINES
  const asked = env === undefined ? NODE_LINES : env.split(',').map((l) => l.trim()).filter((l) => /^\d+$/.test(l))
  const wanted = asked.filter((l) => l !== OWN_LINE)
  process.stdout.write(`\n=== node lines: ${wanted.join(', ') || '(none)'} from ${PACKAGE} (npm), cached in ${cacheDir()}\n`)
  const started = Date.now()
  const { found, missing } = nodeLines(wanted)
  for (const f of found) {
    console.log(`${f.line}: v${f.version} ${f.path}${f.note ? ` (${f.note})` : ''}`)
    nodes.push({ label: `node v${f.version}`, path: f.path })
  }
  const notTested = [
    ...missing.map((m) => `node ${m.line} NOT TESTED: ${m.reason}`),
    ...NODE_LINES.filter((l) => l !== OWN_LINE && !asked.includes(l)).map((l) => `node ${l} NOT TESTED: left out by NETPOLL_NODE_LINES=${env}`),
  ]
  const secs = Math.round((Date.now() - started) / 1000)
  const tested = nodes.map((n) => n.label.replace('node ', '')).join(', ')
  if (notTested.length === 0) {
    steps.push(`ok   node lines: ${tested}, ${secs} s`)
  } else if (CI) {
    broken = true
    steps.push(`FAIL node lines: only ${tested} (every line of ${NODE_LINES.join(', ')} must be tested in CI), ${secs} s`)
  } else {
    steps.push(`WARN node lines: only ${tested}, ${secs} s`)
  }
  for (const n of notTested) {
    steps.push(`       ${n}`)
    console.log(`\n!!! WARNING: ${n}\n`)
  }
  return nodes
}

const built = await run('build', 'npm', ['run', 'build'])
await run('rustfmt', 'cargo', ['fmt', '--all', '--', '--check'])
await run('clippy', 'cargo', ['clippy', '--workspace', '--all-targets', '--', '-D', 'warnings'])
await run('cargo test', 'cargo', ['test', '--workspace'], { parse: cargoCounts })
if (built) {
  for (const node of nodeBinaries()) {
    for (const mode of ['inline', 'threaded']) {
      // Threaded with 2 shards, so cross-shard placement and hand-off are exercised too.
      const env = mode === 'threaded' ? { NETPOLL_MODE: mode, NETPOLL_POLLERS: '2' } : { NETPOLL_MODE: mode }
      // ava's workers run on process.execPath, and PATH makes `node` in tests the same binary.
      env.PATH = `${dirname(node.path)}:${process.env.PATH}`
      await run(`ava (${node.label}, ${mode})`, node.path, [AVA, '--tap'], { env, parse: tapCounts, hangMs: HANG_MS })
    }
  }
}
if (CI) {
  // CI also proves the packages install and the workflows are valid.
  await run('test:pack', 'npm', ['run', 'test:pack'])
  await run('lint:workflows', 'npm', ['run', 'lint:workflows'])
  await run('bench smoke', 'npm', ['run', 'bench', '--', '--quick'])
}
console.log('\n=== summary')
for (const s of steps) console.log(s)
if (broken && failed === 0) failed = 1 // a step failed without test counts (build, lint): never report green
console.log(`${passed} passed, ${failed} failed`)
process.exit(broken ? 1 : 0)

#!/usr/bin/env node
// npm run test:sanitize: memory-safety checks of the native code (Linux x64 only; slow, so
// not part of `npm test`). Three parts, each printing what it checked; the run ends with one
// line `N passed, M failed` and exits non-zero if any part failed:
//
//   asan      AddressSanitizer build of the addon (stable Rust with RUSTC_BOOTSTRAP=1 and
//             -Zsanitizer=address, --target so build scripts stay uninstrumented, own target
//             dir target/asan). A cdylib carries no ASan runtime, so node runs with Debian's
//             libclang-rt-14-dev runtime in LD_PRELOAD (installed with apt-get when missing)
//             and detect_leaks=0 (node itself leaks at exit). The ava suite runs once per
//             NETPOLL_MODE against that binary (NETPOLL_NATIVE_PATH, see lib/core/loader.ts).
//             Pass: ava passes and ASan wrote no report (logs in target/sanitize-logs/).
//   fuzz      libFuzzer targets of fuzz/ (libfuzzer-sys, ASan + sanitizer coverage, own target
//             dir fuzz/target): link_buffer, frame_decoder, tls_server, tls_records and x509, FUZZ_SECONDS each (default 60),
//             seeded from fuzz/corpus/<target>/. Pass: no crash, leak, timeout or OOM; crashing
//             inputs are kept in fuzz/artifacts/<target>/.
//   valgrind  memcheck of scripts/sanitize-fixtures/smoke.cjs (echo over loopback, once per
//             NETPOLL_MODE) against a plain debug build (target/sanitize-plain), node --jitless,
//             suppressions in scripts/sanitize-fixtures/valgrind.supp. Pass: the smoke exits 0
//             and no error (invalid access, definite leak) has a netpoll frame in its stack;
//             other errors (node, V8) are listed but do not fail the run.
//
// Environment: SANITIZE_PARTS (comma list, default `asan,fuzz,valgrind`), FUZZ_SECONDS,
// ASAN_RUNTIME (path of a shared ASan runtime, instead of the libclang-rt-14-dev one),
// AVA_TIMEOUT_S and VALGRIND_TIMEOUT_S (hard limit of one run, default 900 each).
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const triple = 'x86_64-unknown-linux-gnu'
const modes = ['inline', 'threaded']
const logs = join(root, 'target', 'sanitize-logs')
const parts = (process.env.SANITIZE_PARTS ?? 'asan,fuzz,valgrind').split(',').map((s) => s.trim())
const fuzzSeconds = Number(process.env.FUZZ_SECONDS ?? 60)
const valgrindTimeout = Number(process.env.VALGRIND_TIMEOUT_S ?? 900)
const avaTimeout = Number(process.env.AVA_TIMEOUT_S ?? 900)

const results = []

function record(name, ok, detail = '') {
  results.push({ name, ok, detail })
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}`)
  return ok
}

/** Runs a command with inherited output (builds, installs); true when it exits 0. */
function run(cmd, args, { env = {}, cwd = root } = {}) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: 'inherit' })
  return r.status === 0
}

/**
 * Runs a command, echoes and returns its output. With `timeoutS`, coreutils `timeout` kills
 * the command's whole process group (ava's workers too) after that many seconds; `timedOut`
 * tells.
 */
function capture(cmd, args, { env = {}, timeoutS } = {}) {
  const [file, argv] = timeoutS ? ['timeout', ['-k', '10', String(timeoutS), cmd, ...args]] : [cmd, args]
  console.log(`\n$ ${file} ${argv.join(' ')}`)
  const r = spawnSync(file, argv, {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  })
  process.stdout.write(r.stdout ?? '')
  process.stderr.write(r.stderr ?? '')
  const timedOut = Boolean(timeoutS) && (r.status === 124 || r.status === 137)
  return { status: r.status, timedOut, out: `${r.stdout ?? ''}\n${r.stderr ?? ''}` }
}

function seconds(since) {
  return `${((Date.now() - since) / 1000).toFixed(0)} s`
}

function aptInstall(pkg) {
  return run('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkg}`])
}

function findAsanRuntime() {
  if (process.env.ASAN_RUNTIME) return existsSync(process.env.ASAN_RUNTIME) ? process.env.ASAN_RUNTIME : null
  const base = '/usr/lib/llvm-14/lib/clang'
  if (!existsSync(base)) return null
  for (const version of readdirSync(base).sort().reverse()) {
    const so = join(base, version, 'lib', 'linux', 'libclang_rt.asan-x86_64.so')
    if (existsSync(so)) return so
  }
  return null
}

/** Builds the addon with `rustflags` into `targetDir` and copies it to `<targetDir>/<name>`. */
function buildAddon(targetDir, name, rustflags) {
  const env = { CARGO_TARGET_DIR: targetDir, ...(rustflags && { RUSTC_BOOTSTRAP: '1', RUSTFLAGS: rustflags }) }
  if (!run('cargo', ['build', '--target', triple, '-p', 'netpoll_napi'], { env })) return null
  const out = join(targetDir, name)
  copyFileSync(join(targetDir, triple, 'debug', 'libnetpoll_napi.so'), out)
  return out
}

function asanReports(prefix) {
  if (!existsSync(logs)) return []
  return readdirSync(logs)
    .filter((f) => f.startsWith(`${prefix}.`))
    .map((f) => readFileSync(join(logs, f), 'utf8'))
    .filter((text) => text.includes('ERROR: AddressSanitizer'))
}

function partAsan() {
  let runtime = findAsanRuntime()
  if (!runtime && !process.env.ASAN_RUNTIME && aptInstall('libclang-rt-14-dev')) runtime = findAsanRuntime()
  if (!record('asan: runtime', runtime !== null, runtime ?? 'libclang_rt.asan-x86_64.so not found')) return
  const started = Date.now()
  const addon = buildAddon(join(root, 'target', 'asan'), 'netpoll.asan.node', '-Zsanitizer=address')
  if (!record('asan: build', addon !== null, seconds(started))) return
  // dist/ is what `../index` loads in the specs: it must have the NETPOLL_NATIVE_PATH override.
  // Its types come from binding.d.ts, which the release build writes: a clean clone has none.
  if (!existsSync(join(root, 'binding.d.ts')) && !record('asan: build:native (binding.d.ts)', run('npm', ['run', 'build:native']))) return
  if (!record('asan: build:ts', run('npm', ['run', 'build:ts']))) return
  const env = {
    LD_PRELOAD: runtime,
    ASAN_OPTIONS: `detect_leaks=0:log_path=${join(logs, 'asan')}`,
    NETPOLL_NATIVE_PATH: addon,
  }
  // The addon must be the instrumented one: it needs the runtime, and the loader must pick it.
  const probe = `const p = require(${JSON.stringify(join(root, 'dist', 'core', 'native.js'))}).nativeBinaryPath; if (p !== ${JSON.stringify(addon)}) throw new Error('loaded ' + p)`
  const bare = capture(process.execPath, ['-e', `process.dlopen({ exports: {} }, ${JSON.stringify(addon)})`])
  const instrumented = bare.status !== 0 && bare.out.includes('__asan')
  if (!record('asan: addon is instrumented (fails to load without the runtime)', instrumented)) return
  if (!record('asan: loader picks the ASan build', capture(process.execPath, ['-e', probe], { env }).status === 0)) return
  const ava = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs')
  for (const mode of modes) {
    const t0 = Date.now()
    const r = capture(process.execPath, [ava, '--tap'], { env: { ...env, NETPOLL_MODE: mode }, timeoutS: avaTimeout })
    const pass = /^# pass\s+(\d+)/m.exec(r.out)?.[1] ?? '0'
    const fail = /^# fail\s+(\d+)/m.exec(r.out)?.[1] ?? '?'
    const late = r.timedOut ? `, killed after ${avaTimeout} s` : ''
    record(`asan: ava (${mode})`, r.status === 0, `${pass} passed, ${fail} failed, ${seconds(t0)}${late}`)
  }
  const reports = asanReports('asan')
  for (const text of reports) console.log(`\n--- ASan report\n${text}`)
  const ours = reports.filter((text) => /netpoll/.test(text)).length
  record('asan: no AddressSanitizer report', reports.length === 0, `${reports.length} reports, ${ours} with netpoll frames`)
}

const FUZZ_RUSTFLAGS = [
  '-Cpasses=sancov-module',
  '-Cllvm-args=-sanitizer-coverage-level=4',
  '-Cllvm-args=-sanitizer-coverage-inline-8bit-counters',
  '-Cllvm-args=-sanitizer-coverage-pc-table',
  '-Cllvm-args=-sanitizer-coverage-trace-compares',
  '--cfg fuzzing',
  '-Zsanitizer=address',
].join(' ')

function partFuzz() {
  const fuzz = join(root, 'fuzz')
  const targetDir = join(fuzz, 'target')
  const started = Date.now()
  const built = run('cargo', ['build', '--release', '--target', triple, '--bins'], {
    cwd: fuzz,
    env: { CARGO_TARGET_DIR: targetDir, RUSTC_BOOTSTRAP: '1', RUSTFLAGS: FUZZ_RUSTFLAGS },
  })
  if (!record('fuzz: build', built, seconds(started))) return
  for (const name of ['link_buffer', 'frame_decoder', 'tls_server', 'tls_records', 'x509']) {
    const work = join(targetDir, 'corpus', name)
    const artifacts = join(fuzz, 'artifacts', name)
    mkdirSync(work, { recursive: true })
    mkdirSync(artifacts, { recursive: true })
    const before = new Set(readdirSync(artifacts))
    const args = [
      `-max_total_time=${fuzzSeconds}`,
      '-max_len=4096',
      '-timeout=10',
      '-rss_limit_mb=4096',
      '-print_final_stats=1',
      `-artifact_prefix=${artifacts}/`,
      work,
      join(fuzz, 'corpus', name),
    ]
    const r = capture(join(targetDir, triple, 'release', name), args, { timeoutS: fuzzSeconds + 300 })
    const found = readdirSync(artifacts).filter((f) => !before.has(f))
    const execs = /stat::number_of_executed_units:\s*(\d+)/.exec(r.out)?.[1] ?? '?'
    const cov = [...r.out.matchAll(/cov: (\d+) ft: (\d+)/g)].pop()
    const detail = `${execs} runs, cov ${cov?.[1] ?? '?'}, ft ${cov?.[2] ?? '?'}, ${found.length} new artifacts`
    for (const f of found) console.log(`fuzz: ${name} wrote ${join(artifacts, f)}`)
    record(`fuzz: ${name} for ${fuzzSeconds} s`, r.status === 0 && found.length === 0, detail)
  }
}

function unescapeXml(s) {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&')
}

/** The errors of a valgrind XML log: kind, headline, and the stack's function/object names. */
function valgrindErrors(xmlFile) {
  if (!existsSync(xmlFile)) return null
  const xml = unescapeXml(readFileSync(xmlFile, 'utf8'))
  return [...xml.matchAll(/<error>([\s\S]*?)<\/error>/g)].map(([, body]) => {
    const kind = /<kind>(.*?)<\/kind>/.exec(body)?.[1] ?? '?'
    const what = /<(?:what|text)>([\s\S]*?)<\/(?:what|text)>/.exec(body)?.[1] ?? ''
    const frames = [...body.matchAll(/<frame>([\s\S]*?)<\/frame>/g)].map(
      ([, f]) => `${/<fn>([\s\S]*?)<\/fn>/.exec(f)?.[1] ?? '??'} (${/<obj>(.*?)<\/obj>/.exec(f)?.[1] ?? '?'})`,
    )
    return { kind, what, frames, ours: frames.some((f) => /netpoll/.test(f)) }
  })
}

function partValgrind() {
  if (!spawnSync('valgrind', ['--version']).stdout && !aptInstall('valgrind')) {
    record('valgrind: install', false)
    return
  }
  const started = Date.now()
  const addon = buildAddon(join(root, 'target', 'sanitize-plain'), 'netpoll.plain.node', null)
  if (!record('valgrind: plain debug build', addon !== null, seconds(started))) return
  const supp = join(root, 'scripts', 'sanitize-fixtures', 'valgrind.supp')
  for (const mode of modes) {
    const xml = join(logs, `valgrind-${mode}.xml`)
    rmSync(xml, { force: true })
    const args = [
      '--error-exitcode=99',
      '--smc-check=all-non-file',
      '--leak-check=full',
      '--show-leak-kinds=definite',
      '--errors-for-leak-kinds=definite',
      '--num-callers=40',
      `--suppressions=${supp}`,
      '--xml=yes',
      `--xml-file=${xml}`,
      process.execPath,
      '--jitless',
      join(root, 'scripts', 'sanitize-fixtures', 'smoke.cjs'),
    ]
    const t0 = Date.now()
    const env = { NETPOLL_MODE: mode, NETPOLL_NATIVE_PATH: addon }
    const r = capture('valgrind', args, { env, timeoutS: valgrindTimeout })
    const errors = valgrindErrors(xml)
    const ours = (errors ?? []).filter((e) => e.ours)
    for (const e of errors ?? []) {
      console.log(`\nvalgrind (${mode}) ${e.ours ? 'OURS' : 'other'}: ${e.kind}: ${e.what}`)
      for (const f of e.frames.slice(0, 16)) console.log(`    ${f}`)
    }
    const smokeOk = (r.status === 0 || r.status === 99) && r.out.includes('smoke ok')
    const detail = `${errors?.length ?? '?'} errors, ${ours.length} with netpoll frames, ${seconds(t0)}`
    record(`valgrind: smoke (${mode})`, smokeOk && errors !== null && ours.length === 0, detail)
  }
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error('test:sanitize runs on Linux x64 only')
  process.exit(1)
}
mkdirSync(logs, { recursive: true })
for (const f of readdirSync(logs)) if (f.startsWith('asan.')) rmSync(join(logs, f))
const started = Date.now()
const table = { asan: partAsan, fuzz: partFuzz, valgrind: partValgrind }
for (const part of parts) {
  if (!table[part]) {
    record(`unknown part '${part}' in SANITIZE_PARTS`, false)
    continue
  }
  console.log(`\n=== ${part}`)
  const t0 = Date.now()
  table[part]()
  console.log(`=== ${part} done in ${seconds(t0)}`)
}
const failed = results.filter((r) => !r.ok).length
console.log(`\n=== summary (${seconds(started)})`)
for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.detail ? ` (${r.detail})` : ''}`)
console.log(`${results.length - failed} passed, ${failed} failed`)
process.exit(failed === 0 && results.length > 0 ? 0 : 1)

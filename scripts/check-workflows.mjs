#!/usr/bin/env node
// npm run lint:workflows — checks .github/workflows/*.yml.
//
//   1. actionlint (syntax, expressions, runner labels, action inputs, and the `run:` scripts
//      through shellcheck when shellcheck is on PATH). Found as $ACTIONLINT, on PATH, or in
//      $(go env GOPATH)/bin; otherwise installed with `go install` from the Go module proxy
//      (pinned below, ~20 s once). Without actionlint and without Go, it says so loudly and
//      falls back to a YAML parse: set NETPOLL_REQUIRE_ACTIONLINT=1 to make that an error.
//   2. Our own rules on the parsed workflows: the build matrix names exactly the targets of
//      package.json napi.targets on the right runners; CI and the binary tests cover exactly
//      the Node lines of package.json engines.node (20, 22, 24, 26), CI on ubuntu and macos;
//      the release runs on v* tags and publishes with provenance.
// Exit code 1 on any failure; the last line counts passed and failed checks.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NODE_LINES } from './node-lines.mjs'

const ACTIONLINT_MODULE = 'github.com/rhysd/actionlint/cmd/actionlint@v1.7.12'
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const DIR = join(REPO, '.github', 'workflows')
const require = createRequire(import.meta.url)

const results = { passed: 0, failed: 0 }
function check(cond, what, detail = '') {
  if (cond) {
    results.passed++
    console.log(`  ok    ${what}`)
  } else {
    results.failed++
    console.log(`  FAIL  ${what}${detail ? `\n        ${String(detail).split('\n').join('\n        ')}` : ''}`)
  }
  return cond
}
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: REPO, ...opts })
  return { code: r.error ? null : r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error }
}
function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name)
  }
  return null
}

function findActionlint() {
  if (process.env.ACTIONLINT) return process.env.ACTIONLINT
  const found = onPath('actionlint')
  if (found) return found
  const go = onPath('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : null)
  if (!go) return null
  const gopath = run(go, ['env', 'GOPATH']).out.trim()
  const installed = join(gopath, 'bin', 'actionlint')
  if (existsSync(installed)) return installed
  console.log(`  actionlint not found: go install ${ACTIONLINT_MODULE}`)
  const r = run(go, ['install', ACTIONLINT_MODULE], { stdio: ['ignore', 'pipe', 'pipe'] })
  if (r.code !== 0) {
    console.log(`  go install failed:\n${r.out}`)
    return null
  }
  return existsSync(installed) ? installed : null
}

/** A YAML parser: js-yaml (a dependency of @napi-rs/cli), the `yaml` package, or python3. */
function yamlLoader() {
  const candidates = [
    () => createRequire(require.resolve('@napi-rs/cli/package.json'))('js-yaml').load,
    () => require('js-yaml').load,
    () => require('yaml').parse,
  ]
  for (const c of candidates) {
    try {
      const load = c()
      if (typeof load === 'function') return load
    } catch {
      // next
    }
  }
  if (run('python3', ['-c', 'import yaml']).code === 0) {
    return (text) => {
      const r = spawnSync('python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin), default=str))'], {
        input: text,
        encoding: 'utf8',
      })
      if (r.status !== 0) throw new Error(r.stderr)
      return JSON.parse(r.stdout)
    }
  }
  return null
}

const files = existsSync(DIR) ? readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort() : []
console.log(`lint:workflows: ${files.map((f) => `.github/workflows/${f}`).join(', ') || '(none)'}`)
check(files.length > 0, '.github/workflows holds workflow files')

// 1 --------------------------------------------------------------------------------------------
console.log('\n1. actionlint')
const actionlint = findActionlint()
if (actionlint) {
  const version = run(actionlint, ['-version']).out.split('\n')[0]
  const shellcheck = onPath('shellcheck')
  console.log(`  ${actionlint} (${version}); shellcheck: ${shellcheck ?? 'not on PATH, run: scripts not checked'}`)
  const r = run(actionlint, ['-no-color', ...files.map((f) => join('.github', 'workflows', f))])
  check(r.code === 0, `actionlint: no problems in ${files.length} workflows`, r.out.trim())
} else {
  const msg = 'actionlint is NOT available (no actionlint binary, no Go to install it): only a YAML parse check runs'
  console.log(`  WARNING: ${msg}`)
  check(process.env.NETPOLL_REQUIRE_ACTIONLINT !== '1', 'actionlint available (NETPOLL_REQUIRE_ACTIONLINT=1)', msg)
}

// 2 --------------------------------------------------------------------------------------------
console.log('\n2. parse and project rules')
const load = yamlLoader()
if (!check(load !== null, 'a YAML parser is available (js-yaml, yaml or python3 yaml)')) finish()
const wf = {}
for (const f of files) {
  try {
    wf[f] = load(readFileSync(join(DIR, f), 'utf8'))
    check(wf[f] && typeof wf[f] === 'object' && wf[f].jobs, `${f} parses as YAML and has jobs`)
  } catch (e) {
    check(false, `${f} parses as YAML`, e.message)
  }
}

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'))
check(NODE_LINES.length > 0, `package.json engines.node names the supported Node lines (${NODE_LINES.join(', ')})`, JSON.stringify(pkg.engines))
const lines = NODE_LINES.join(', ')
const targets = [...(pkg.napi?.targets ?? [])].sort()
const same = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort())
// `on` may be parsed as the key "on" (YAML 1.2) or as true (YAML 1.1).
const triggers = (w) => w?.on ?? w?.[true] ?? {}
const stepsText = (job) => (job?.steps ?? []).map((s) => `${s.run ?? ''} ${s.uses ?? ''}`).join('\n')
const runnerFor = {
  // target → a test runner of that platform (a regular expression on runs-on)
  'x86_64-unknown-linux-gnu': /^ubuntu-(latest|\d+\.\d+)$/,
  'aarch64-unknown-linux-gnu': /^ubuntu-.*-arm$/,
  'x86_64-unknown-linux-musl': /^ubuntu-/,
  'x86_64-apple-darwin': /^macos-(13|\d+-intel)$/,
  'aarch64-apple-darwin': /^macos-(latest|1[4-9]|2\d)$/,
}

const build = wf['build.yml']
if (check(!!build, 'build.yml exists')) {
  const include = build.jobs?.build?.strategy?.matrix?.include ?? []
  check(same(include.map((e) => e.target), targets), 'build.yml builds exactly the napi.targets of package.json', `matrix: ${include.map((e) => e.target).join(', ')}\nnapi.targets: ${targets.join(', ')}`)
  for (const e of include) {
    const wanted = e.target.includes('apple-darwin') ? /^macos-/ : /^ubuntu-/
    check(wanted.test(e.host), `build ${e.target} runs on ${e.host}`, `expected ${wanted}`)
    if (e.target.endsWith('linux-gnu')) check(/--use-napi-cross|\.2\.\d+ -x|-x/.test(e.flags ?? ''), `build ${e.target} cross-compiles against an old glibc (${e.flags})`)
    if (e.target.includes('musl')) check(/(^|\s)(-x|--cross-compile)(\s|$)/.test(e.flags ?? ''), `build ${e.target} uses zig (-x)`)
  }
  check(/bindings-\$\{\{ matrix\.target \}\}/.test(JSON.stringify(build.jobs.build.steps)), 'build.yml uploads artifacts named bindings-<target>')
  const tm = build.jobs?.test?.strategy?.matrix ?? {}
  check(same(tm.target ?? [], targets), 'build.yml tests every target', (tm.target ?? []).join(', '))
  check(same((tm.node ?? []).map(String), NODE_LINES), `build.yml tests with every supported Node line (${lines})`, JSON.stringify(tm.node))
  const setup = (build.jobs?.test?.steps ?? []).find((st) => /^actions\/setup-node@/.test(st.uses ?? ''))
  check(setup?.with?.['node-version'] === '${{ matrix.node }}', 'build.yml tests on the matrix Node (actions/setup-node node-version: ${{ matrix.node }})', JSON.stringify(setup?.with))
  check(/node:\$\{\{ matrix\.node \}\}-alpine/.test(stepsText(build.jobs.test)), 'build.yml tests musl in the Alpine image of the matrix Node (node:${{ matrix.node }}-alpine)')
  for (const t of targets) {
    const runner = (tm.include ?? []).find((e) => e.target === t)?.runner
    check(runnerFor[t]?.test(runner ?? ''), `test ${t} runs on a ${t} machine (${runner})`)
  }
  check(!!(tm.include ?? []).find((e) => e.target.includes('musl'))?.alpine && /-alpine/.test(stepsText(build.jobs.test)), 'the musl binary is tested in an Alpine image')
  check('workflow_call' in triggers(build), 'build.yml can be called by release.yml (workflow_call)')
}

const ci = wf['ci.yml']
if (check(!!ci, 'ci.yml exists')) {
  const on = triggers(ci)
  check('push' in on && 'pull_request' in on, 'ci.yml runs on push and pull_request')
  const all = Object.values(ci.jobs).map(stepsText).join('\n')
  for (const [re, what] of [
    [/cargo fmt --all -- --check/, 'cargo fmt --check'],
    [/cargo clippy .*-D warnings/, 'cargo clippy -D warnings'],
    [/cargo test/, 'cargo test'],
    [/npm run build\b/, 'build of the addon'],
    [/npm run test:ava/, 'ava'],
    [/npm run test:pack/, 'test:pack'],
    [/npm run lint:workflows/, 'lint:workflows'],
  ]) check(re.test(all), `ci.yml runs ${what}`)
  const m = ci.jobs?.node?.strategy?.matrix ?? {}
  check(same(m.os ?? [], ['ubuntu-latest', 'macos-latest']) && same((m.node ?? []).map(String), NODE_LINES), `ci.yml builds and runs ava on ubuntu-latest and macos-latest with every supported Node line (${lines})`, JSON.stringify(m))
  const setup = (ci.jobs?.node?.steps ?? []).find((st) => /^actions\/setup-node@/.test(st.uses ?? ''))
  check(setup?.with?.['node-version'] === '${{ matrix.node }}', 'ci.yml sets up the matrix Node (actions/setup-node node-version: ${{ matrix.node }})', JSON.stringify(setup?.with))
}

const release = wf['release.yml']
if (check(!!release, 'release.yml exists')) {
  const tags = triggers(release).push?.tags ?? []
  check(tags.includes('v*'), 'release.yml runs on v* tags', JSON.stringify(tags))
  check(release.jobs?.build?.uses === './.github/workflows/build.yml', 'release.yml builds through build.yml')
  const publish = release.jobs?.publish ?? {}
  check(publish.permissions?.['id-token'] === 'write', 'the publish job has id-token: write (provenance)')
  const s = stepsText(publish)
  check(/actions\/download-artifact/.test(s), 'release.yml downloads the artifacts')
  check(/napi artifacts/.test(s), 'release.yml runs napi artifacts')
  check(/napi pre-publish -t npm/.test(s), 'release.yml runs napi pre-publish -t npm')
  check(/npm publish --provenance --access public/.test(s), 'release.yml runs npm publish --provenance --access public')
  check(publish.env?.NPM_CONFIG_PROVENANCE === 'true', 'platform packages are published with provenance too (NPM_CONFIG_PROVENANCE)')
}

finish()

function finish() {
  console.log(`\nlint:workflows: ${results.passed} passed, ${results.failed} failed`)
  process.exit(results.failed === 0 ? 0 : 1)
}

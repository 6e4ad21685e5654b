#!/usr/bin/env node
// npm run test:pack — installs netpoll the way users get it, from packed tarballs.
//
// What it does (each step prints what it checked; the last line counts passed/failed/skipped):
//   1. checks the committed platform packages npm/<platform>/ against what `napi create-npm-dirs`
//      would generate (name, os, cpu, libc, main, files) and that every version is in step;
//   2. stages the root package in .tmp/ (a copy of package.json, tsconfig.json, lib/ and the
//      literal entries of `files`), so a stale dist/ or .node in the work tree cannot leak in;
//   3. builds the host binary in release mode with a host-only napi config (only this
//      machine's target, so no cross toolchain is needed) and compiles the TypeScript;
//   4. moves the .node into artifacts/bindings-<triple>/ (the layout the release workflow
//      downloads), runs `napi artifacts` into the staged npm/<platform>/ (napi also copies it
//      into the root, as in the release job) and `napi pre-publish -t npm --skip-optional-publish`,
//      the release step without the uploads: it validates the platform package and writes
//      optionalDependencies into the staged root package.json, so the root tarball packed
//      below is the one a release publishes;
//   5. checks `npm pack --dry-run --json` of the root: no *.node, only JS, .d.ts, README, LICENSE;
//   6. packs the root and the host platform package, installs both into a fresh temporary
//      directory outside the repo with `npm install --offline` and an empty npm cache, runs
//      scripts/pack-fixtures/smoke.cjs there (binary loaded from node_modules/netpoll-<platform>,
//      versions, LinkBuffer and server/Dialer round trips; once per engine mode) and type-checks
//      scripts/pack-fixtures/types*.ts against the installed index.d.ts (tsc --noEmit), then
//      checks that they use every public export and every option property;
//   7. installs the root tarball alone into another fresh directory and checks the error
//      (scripts/pack-fixtures/unsupported.cjs).
//
// Environment: NETPOLL_PACK_KEEP=1 keeps the temporary directories (their paths are printed).
import { spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const FIXTURES = join(REPO, 'scripts', 'pack-fixtures')
/** The type tests of the published declarations (core, then the bridge and TLS), checked together. */
const TYPE_TESTS = ['types.ts', 'types-bridge-tls.ts']
const BIN = join(REPO, 'node_modules', '.bin')
const KEEP = process.env.NETPOLL_PACK_KEEP === '1'
const require = createRequire(import.meta.url)

// Platform key (the suffix of netpoll-<key> and netpoll.<key>.node) → Rust target triple.
// The loader (lib/core/loader.ts SUPPORTED_PLATFORMS) and package.json napi.targets must agree;
// step 1 checks that.
const TRIPLES = {
  'linux-x64-gnu': 'x86_64-unknown-linux-gnu',
  'linux-arm64-gnu': 'aarch64-unknown-linux-gnu',
  'linux-x64-musl': 'x86_64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping: every check is recorded as passed, failed or skipped, and printed.
const results = { passed: [], failed: [], skipped: [] }
const measures = {}
const t0 = Date.now()

function pass(what) {
  results.passed.push(what)
  console.log(`  ok    ${what}`)
}
function skip(what, why) {
  results.skipped.push(`${what} (${why})`)
  console.log(`  SKIP  ${what}: ${why}`)
}
function fail(what, detail = '') {
  results.failed.push(what)
  console.log(`  FAIL  ${what}${detail ? `\n        ${String(detail).split('\n').join('\n        ')}` : ''}`)
}
function check(cond, what, detail) {
  if (cond) pass(what)
  else fail(what, detail)
  return cond
}
class Abort extends Error {}
/** A failure after which the following steps cannot run. */
function fatal(what, detail) {
  fail(what, detail)
  throw new Abort(what)
}
function step(title) {
  console.log(`\n[test:pack ${((Date.now() - t0) / 1000).toFixed(1)}s] ${title}`)
}

/** Runs a command; returns { code, stdout, stderr, ms }. Output is captured, not inherited. */
function run(cmd, args, { cwd = REPO, env, inherit = false, timeout = 15 * 60_000 } = {}) {
  const start = Date.now()
  const r = spawnSync(cmd, args, {
    cwd,
    env: { ...process.env, npm_config_update_notifier: 'false', ...env },
    encoding: 'utf8',
    stdio: inherit ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
    timeout,
  })
  const out = { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms: Date.now() - start }
  if (r.error) out.stderr += `\n${r.error.message}`
  return out
}
function must(what, cmd, args, opts) {
  const r = run(cmd, args, opts)
  if (r.code !== 0) fatal(what, `${cmd} ${args.join(' ')}\nexit ${r.code ?? r.signal}\n${tail(r.stdout + r.stderr)}`)
  pass(`${what} (${(r.ms / 1000).toFixed(1)}s)`)
  return r
}
function tail(text, lines = 40) {
  return text.trim().split('\n').filter((l) => !/^npm warn Unknown (user|env) config/.test(l)).slice(-lines).join('\n')
}
function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'))
}
function kib(bytes) {
  return `${(bytes / 1024).toFixed(1)} KiB (${bytes} B)`
}
/** Parses `npm pack --json` output (npm prints a JSON array, possibly after lifecycle noise). */
function parsePackJson(stdout) {
  const start = stdout.indexOf('[')
  return JSON.parse(stdout.slice(start))[0]
}

// ---------------------------------------------------------------------------------------------
function hostKey() {
  const { platform, arch } = process
  if (platform !== 'linux') return `${platform}-${arch}`
  let musl = false
  try {
    musl = readFileSync('/usr/bin/ldd', 'latin1').includes('musl')
  } catch {
    musl = !process.report.getReport().header.glibcVersionRuntime
  }
  return `linux-${arch}-${musl ? 'musl' : 'gnu'}`
}

const rootPkg = readJson(join(REPO, 'package.json'))
const KEY = hostKey()
const TRIPLE = TRIPLES[KEY]
const PLATFORM_PKG = `${rootPkg.name}-${KEY}`
const BINARY = `${rootPkg.napi.binaryName}.${KEY}.node`

mkdirSync(join(REPO, '.tmp'), { recursive: true })
// Inside the project: napi refuses to manage npm dirs outside the package boundary.
const WORK = mkdtempSync(join(REPO, '.tmp', 'test-pack-'))
// Outside the project: no parent node_modules can satisfy a require by accident.
const INSTALL = mkdtempSync(join(tmpdir(), 'netpoll-pack-'))
const STAGE = join(WORK, 'root')
const ARTIFACTS = join(WORK, 'artifacts')
const TARBALLS = join(WORK, 'tarballs')
const HOST_CONFIG = join(WORK, 'napi.host.json')

async function main() {
  console.log(`test:pack: host ${KEY} (${TRIPLE ?? 'no published target'}), node ${process.version}`)
  console.log(`           work ${WORK}\n           install ${INSTALL}`)
  if (!TRIPLE) fatal(`host platform ${KEY} is one of the published targets`, `published: ${Object.keys(TRIPLES).join(', ')}`)

  // 1 ------------------------------------------------------------------------------------------
  step('1. committed platform packages npm/<platform>/')
  const targets = rootPkg.napi?.targets ?? []
  check(
    JSON.stringify([...targets].sort()) === JSON.stringify(Object.values(TRIPLES).sort()),
    'package.json napi.targets are the five published targets',
    `napi.targets: ${targets.join(', ')}`,
  )
  const expectedDir = join(WORK, 'expected-npm')
  must('napi create-npm-dirs (reference manifests, all targets)', join(BIN, 'napi'), [
    'create-npm-dirs',
    '--npm-dir',
    relative(REPO, expectedDir),
  ])
  const cargoVersion = /\[workspace\.package\][^[]*?\nversion\s*=\s*"([^"]+)"/.exec(readFileSync(join(REPO, 'Cargo.toml'), 'utf8'))?.[1]
  check(cargoVersion === rootPkg.version, `Cargo workspace version ${cargoVersion} = package version ${rootPkg.version}`)
  for (const key of Object.keys(TRIPLES)) {
    const dir = join(REPO, 'npm', key)
    if (!existsSync(join(dir, 'package.json'))) {
      fail(`npm/${key}/package.json exists`)
      continue
    }
    const ours = readJson(join(dir, 'package.json'))
    const ref = readJson(join(expectedDir, key, 'package.json'))
    const fields = ['name', 'version', 'os', 'cpu', 'libc', 'main', 'files', 'license', 'engines']
    const diff = fields.filter((f) => JSON.stringify(ours[f]) !== JSON.stringify(ref[f]))
    check(diff.length === 0, `npm/${key}/package.json matches napi's manifest (${fields.join(', ')})`, diff.map((f) => `${f}: ours ${JSON.stringify(ours[f])}, napi ${JSON.stringify(ref[f])}`).join('\n'))
    check(ours.repository?.url === rootPkg.repository?.url, `npm/${key} repository is ${rootPkg.repository?.url} (needed for provenance)`)
    check(existsSync(join(dir, 'README.md')), `npm/${key}/README.md exists`)
    const extra = readdirSync(dir).filter((f) => !['package.json', 'README.md'].includes(f))
    check(extra.length === 0, `npm/${key}/ holds only package.json and README.md (no stray binary)`, extra.join(', '))
  }

  // 2 ------------------------------------------------------------------------------------------
  step('2. stage the root package')
  mkdirSync(STAGE, { recursive: true })
  const literal = (rootPkg.files ?? []).filter((f) => !/[*?{}[\]!]/.test(f))
  for (const entry of new Set(['package.json', 'tsconfig.json', 'lib', ...literal])) {
    const src = join(REPO, entry)
    if (existsSync(src)) cpSync(src, join(STAGE, entry), { recursive: true })
  }
  check(!('dependencies' in rootPkg) || Object.keys(rootPkg.dependencies).length === 0,
    'root package has no runtime dependencies (so the offline install needs no registry)', JSON.stringify(rootPkg.dependencies))
  check(!('optionalDependencies' in rootPkg),
    'root package.json has no optionalDependencies in the repo (napi pre-publish adds them at release)')
  const napiConfig = { ...rootPkg.napi, targets: [TRIPLE] }
  writeFileSync(HOST_CONFIG, JSON.stringify(napiConfig, null, 2) + '\n')
  pass(`host-only napi config ${relative(REPO, HOST_CONFIG)}: targets [${TRIPLE}]`)

  // 3 ------------------------------------------------------------------------------------------
  step('3. release build of the host binary and of the TypeScript')
  console.log('  (cargo may wait for the build directory lock while others build)')
  must('napi build --release (host-only config)', join(BIN, 'napi'), [
    'build', '--platform', '--release',
    '--config-path', HOST_CONFIG,
    '--manifest-path', join(REPO, 'crates', 'netpoll_napi', 'Cargo.toml'),
    '--output-dir', STAGE,
    '--no-js', '--dts', 'binding.d.ts',
  ], { cwd: STAGE, inherit: true })
  if (!existsSync(join(STAGE, BINARY))) fatal(`napi build wrote ${BINARY}`)
  const artifactDir = join(ARTIFACTS, `bindings-${TRIPLE}`)
  mkdirSync(artifactDir, { recursive: true })
  renameSync(join(STAGE, BINARY), join(artifactDir, BINARY))
  measures.nodeBytes = statSync(join(artifactDir, BINARY)).size
  pass(`${BINARY}: ${kib(measures.nodeBytes)}`)
  must('tsc -p tsconfig.json (dist/)', join(BIN, 'tsc'), ['-p', join(STAGE, 'tsconfig.json')], { cwd: STAGE })
  const loaderPlatforms = require(join(STAGE, 'dist', 'core', 'loader.js')).SUPPORTED_PLATFORMS
  check(
    JSON.stringify(Object.entries(loaderPlatforms).sort()) === JSON.stringify(Object.entries(TRIPLES).sort()),
    'the loader\'s SUPPORTED_PLATFORMS are the five published platforms and triples',
    JSON.stringify(loaderPlatforms),
  )

  // 4 ------------------------------------------------------------------------------------------
  step(`4. platform package ${PLATFORM_PKG}`)
  cpSync(join(REPO, 'npm', KEY), join(STAGE, 'npm', KEY), { recursive: true })
  must('napi artifacts (host-only config)', join(BIN, 'napi'), [
    'artifacts', '--config-path', HOST_CONFIG, '--output-dir', ARTIFACTS, '--npm-dir', 'npm',
  ], { cwd: STAGE })
  check(existsSync(join(STAGE, 'npm', KEY, BINARY)), `napi artifacts copied ${BINARY} into npm/${KEY}/`)
  // The release command itself, minus the uploads: validates the platform package, sets its
  // version and writes optionalDependencies into the staged root package.json, as in release.yml.
  must('napi pre-publish -t npm --skip-optional-publish (the release step, without publishing)', join(BIN, 'napi'), [
    'pre-publish', '-t', 'npm', '--no-gh-release', '--skip-optional-publish', '--config-path', HOST_CONFIG, '--npm-dir', 'npm',
  ], { cwd: STAGE })
  const published = readJson(join(STAGE, 'package.json'))
  check(
    JSON.stringify(published.optionalDependencies) === JSON.stringify({ [PLATFORM_PKG]: rootPkg.version }),
    `pre-publish set optionalDependencies { "${PLATFORM_PKG}": "${rootPkg.version}" } in the staged root`,
    JSON.stringify(published.optionalDependencies),
  )

  // 5 ------------------------------------------------------------------------------------------
  step('5. root package contents (npm pack --dry-run --json)')
  if (existsSync(join(STAGE, BINARY))) console.log(`  (the staged root holds ${BINARY}, as after napi artifacts in the release job: files must exclude it)`)
  const dry = must('npm pack --dry-run --json (root)', 'npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: STAGE })
  const rootFiles = parsePackJson(dry.stdout).files.map((f) => f.path)
  console.log(`  root package files: ${rootFiles.join(', ')}`)
  check(!rootFiles.some((f) => f.endsWith('.node')), 'root package contains no .node file')
  const allowed = [/^package\.json$/, /^README\.md$/i, /^LICENSE$/, /^index\.js$/, /^index\.d\.ts$/, /^binding\.d\.ts$/, /^dist\/.+\.(js|d\.ts)$/]
  const unexpected = rootFiles.filter((f) => !allowed.some((re) => re.test(f)))
  check(unexpected.length === 0, 'root package holds only JS, .d.ts, README and LICENSE', `unexpected: ${unexpected.join(', ')}`)
  for (const f of ['index.js', 'index.d.ts', 'dist/index.js', 'dist/index.d.ts', 'binding.d.ts', 'LICENSE', 'README.md']) {
    check(rootFiles.includes(f), `root package includes ${f}`)
  }

  // 6 ------------------------------------------------------------------------------------------
  step('6. pack both, install offline into a fresh directory, smoke and type tests')
  mkdirSync(TARBALLS, { recursive: true })
  const rootPack = parsePackJson(must('npm pack (root)', 'npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', TARBALLS], { cwd: STAGE }).stdout)
  const platPack = parsePackJson(must(`npm pack (${PLATFORM_PKG})`, 'npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', TARBALLS], { cwd: join(STAGE, 'npm', KEY) }).stdout)
  const rootTgz = join(TARBALLS, rootPack.filename)
  const platTgz = join(TARBALLS, platPack.filename)
  measures.rootTgz = statSync(rootTgz).size
  measures.platTgz = statSync(platTgz).size
  measures.rootUnpacked = rootPack.unpackedSize
  measures.platUnpacked = platPack.unpackedSize
  const platFiles = platPack.files.map((f) => f.path).sort()
  check(JSON.stringify(platFiles) === JSON.stringify(['README.md', BINARY, 'package.json'].sort()),
    `${PLATFORM_PKG} tarball holds package.json, README.md, ${BINARY}`, platFiles.join(', '))
  pass(`tarballs: ${rootPack.filename} ${kib(measures.rootTgz)}, ${platPack.filename} ${kib(measures.platTgz)}`)

  const full = join(INSTALL, 'full')
  mkdirSync(full)
  writeFileSync(join(full, 'package.json'), JSON.stringify({ name: 'netpoll-pack-smoke', version: '0.0.0', private: true }, null, 2))
  const inst = must('npm install --offline <root.tgz> <platform.tgz> (fresh directory, empty cache)', 'npm', [
    'install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', rootTgz, platTgz,
  ], { cwd: full, env: { npm_config_cache: join(INSTALL, 'npm-cache-full') } })
  measures.installMs = inst.ms
  const installedRoot = readJson(join(full, 'node_modules', rootPkg.name, 'package.json'))
  check(
    installedRoot.optionalDependencies?.[PLATFORM_PKG] === rootPkg.version,
    `the installed netpoll declares ${PLATFORM_PKG}@${rootPkg.version} as an optional dependency`,
    JSON.stringify(installedRoot.optionalDependencies),
  )
  for (const f of ['smoke.cjs', ...TYPE_TESTS]) cpSync(join(FIXTURES, f), join(full, f))
  // Once per engine (NETPOLL_MODE picks the default of configure({ mode })).
  for (const mode of ['inline', 'threaded']) {
    console.log(`  smoke.cjs with NETPOLL_MODE=${mode}:`)
    const smoke = run(process.execPath, ['smoke.cjs'], {
      cwd: full,
      timeout: 120_000,
      env: { NETPOLL_MODE: mode, NETPOLL_PACK_PLATFORM: KEY, NETPOLL_PACK_PLATFORM_DIR: join(full, 'node_modules', PLATFORM_PKG) },
    })
    process.stdout.write(smoke.stdout.replace(/^SMOKE_RESULT .*\n?/m, '').replace(/^/gm, '    ').trimEnd() + '\n')
    const sr = /^SMOKE_RESULT (.*)$/m.exec(smoke.stdout)
    if (sr) {
      const r = JSON.parse(sr[1])
      for (const p of r.passed) results.passed.push(`smoke (${mode}): ${p}`)
      for (const s of r.skipped) results.skipped.push(`smoke (${mode}): ${s}`)
      for (const f of r.failed) results.failed.push(`smoke (${mode}): ${f}`)
    }
    if (smoke.signal === 'SIGTERM') fail(`smoke.cjs (${mode}) exited by itself within 120 s`, 'killed at the timeout: a handle keeps the process alive')
    check(smoke.code === 0 && !!sr, `smoke.cjs (${mode}) in the installed package passed`, tail(smoke.stderr))
  }

  writeFileSync(join(full, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'commonjs', moduleResolution: 'node', strict: true, noEmit: true,
      esModuleInterop: true, skipLibCheck: false, types: ['node'],
      typeRoots: [join(REPO, 'node_modules', '@types')],
    },
    files: TYPE_TESTS,
  }, null, 2))
  const tsc = run(join(BIN, 'tsc'), ['-p', 'tsconfig.json'], { cwd: full })
  check(tsc.code === 0, `tsc --noEmit ${TYPE_TESTS.join(' ')} against the installed netpoll/index.d.ts (${(tsc.ms / 1000).toFixed(1)}s)`, tail(tsc.stdout + tsc.stderr))
  typeCoverage(full)

  // 7 ------------------------------------------------------------------------------------------
  step('7. root tarball alone: the clear error')
  const alone = join(INSTALL, 'alone')
  mkdirSync(alone)
  writeFileSync(join(alone, 'package.json'), JSON.stringify({ name: 'netpoll-pack-alone', version: '0.0.0', private: true }, null, 2))
  // The root's optional dependency cannot be fetched offline; npm skips it, as it does on a
  // platform without a binary or with --omit=optional.
  must('npm install --offline <root.tgz> alone (empty cache)', 'npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', rootTgz], {
    cwd: alone,
    env: { npm_config_cache: join(INSTALL, 'npm-cache-alone') },
  })
  check(!existsSync(join(alone, 'node_modules', PLATFORM_PKG)), `${PLATFORM_PKG} is not installed there`)
  cpSync(join(FIXTURES, 'unsupported.cjs'), join(alone, 'unsupported.cjs'))
  const un = run(process.execPath, ['unsupported.cjs'], { cwd: alone, timeout: 60_000, env: { NETPOLL_PACK_PLATFORM: KEY } })
  process.stdout.write(un.stdout.replace(/^/gm, '    ').trimEnd() + '\n')
  check(un.code === 0, 'require("netpoll") without the platform package throws ERR_UNSUPPORTED_PLATFORM naming the package and how to build from source', tail(un.stderr))
}

/**
 * Fails when the type tests do not use a public export of the installed package, or a property of
 * an exported option interface / object type. Unused members of exported classes are listed
 * as a reminder (not a failure).
 */
function typeCoverage(dir) {
  const ts = require(join(REPO, 'node_modules', 'typescript'))
  const files = TYPE_TESTS.map((f) => join(dir, f))
  const program = ts.createProgram(files, {
    strict: true, noEmit: true, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10,
    target: ts.ScriptTarget.ES2022, types: ['node'], typeRoots: [join(REPO, 'node_modules', '@types')],
  })
  const checker = program.getTypeChecker()
  const sources = files.map((f) => program.getSourceFile(f))
  const used = new Set()
  let moduleSymbol
  const visit = (node) => {
    if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) used.add(node.text)
    if (ts.isStringLiteral(node)) used.add(node.text)
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && node.moduleSpecifier.text === 'netpoll') {
      moduleSymbol = checker.getSymbolAtLocation(node.moduleSpecifier)
    }
    ts.forEachChild(node, visit)
  }
  for (const source of sources) visit(source)
  if (!moduleSymbol) return fail('the type tests import from "netpoll"')
  const fromLib = (sym) => {
    const decl = sym.valueDeclaration ?? sym.declarations?.[0]
    const f = decl?.getSourceFile().fileName ?? ''
    return f.includes('/typescript/lib/') || f.includes('/@types/node/')
  }
  const exports = checker.getExportsOfModule(moduleSymbol)
  const missing = []
  const missingProps = []
  const unusedMembers = []
  for (const exp of exports) {
    const name = exp.getName()
    if (!used.has(name)) missing.push(name)
    const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp
    if (sym.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) {
      const type = checker.getDeclaredTypeOfSymbol(sym)
      if (type.flags & ts.TypeFlags.Object && !(sym.flags & ts.SymbolFlags.Class)) {
        for (const p of checker.getPropertiesOfType(type)) {
          if (fromLib(p)) continue // inherited from Error and other lib types: not ours to cover
          if (!used.has(p.getName())) missingProps.push(`${name}.${p.getName()}`)
        }
      }
    }
    if (sym.flags & ts.SymbolFlags.Class) {
      const instance = checker.getDeclaredTypeOfSymbol(sym)
      const statics = checker.getTypeOfSymbolAtLocation(sym, sources[0])
      const members = [...checker.getPropertiesOfType(instance), ...checker.getPropertiesOfType(statics).filter((p) => p.getName() !== 'prototype')]
      for (const m of members) {
        if (fromLib(m) || m.getName().startsWith('#')) continue
        if (ts.getDeclarationModifierFlagsFromSymbol(m) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue
        if (!used.has(m.getName())) unusedMembers.push(`${name}.${m.getName()}`)
      }
    }
  }
  console.log(`  public exports of the installed package: ${exports.map((e) => e.getName()).sort().join(', ')}`)
  check(missing.length === 0, 'the type tests use every public export', `not used in scripts/pack-fixtures/types*.ts: ${missing.join(', ')} — add a use there`)
  check(missingProps.length === 0, 'the type tests use every property of every exported option/object type', `not used: ${missingProps.join(', ')}`)
  if (unusedMembers.length) console.log(`  note: class members the type tests do not use yet: ${unusedMembers.join(', ')}`)
}

function summary() {
  const mb = (n) => (n === undefined ? 'n/a' : kib(n))
  console.log('\n[test:pack] measurements')
  console.log(`  ${BINARY} (release):            ${mb(measures.nodeBytes)}`)
  console.log(`  root tarball (${rootPkg.name}):              ${mb(measures.rootTgz)}, unpacked ${mb(measures.rootUnpacked)}`)
  console.log(`  platform tarball (${PLATFORM_PKG}): ${mb(measures.platTgz)}, unpacked ${mb(measures.platUnpacked)}`)
  console.log(`  npm install --offline of both into a fresh dir: ${measures.installMs === undefined ? 'n/a' : `${(measures.installMs / 1000).toFixed(2)} s`}`)
  console.log(`  total: ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  if (results.skipped.length) {
    console.log('\n[test:pack] SKIPPED checks (not run, so not passed):')
    for (const s of results.skipped) console.log(`  - ${s}`)
  }
  if (results.failed.length) {
    console.log('\n[test:pack] FAILED checks:')
    for (const f of results.failed) console.log(`  - ${f}`)
  }
  if (KEEP) console.log(`\nkept: ${WORK}\n      ${INSTALL}`)
  else {
    rmSync(WORK, { recursive: true, force: true })
    rmSync(INSTALL, { recursive: true, force: true })
  }
  console.log(`\ntest:pack: ${results.passed.length} passed, ${results.failed.length} failed, ${results.skipped.length} skipped`)
}

try {
  await main()
} catch (e) {
  if (!(e instanceof Abort)) fail('test:pack ran to the end', e?.stack ?? String(e))
} finally {
  summary()
}
process.exitCode = results.failed.length === 0 ? 0 : 1

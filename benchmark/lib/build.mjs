// Builds what the benchmark runs: the native load generator (cargo), the addon and dist/ when
// their sources are newer (npm run build), and the Go netpoll echo server when `go` exists.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28, ...opts })
  if (r.error) throw r.error
  return r
}

/** Builds `netpoll-bench` (release) and returns the path of the executable. */
export function buildLoadgen(log) {
  log('building the load generator (cargo build --release -p netpoll_bench)')
  const r = run('cargo', ['build', '--release', '-p', 'netpoll_bench', '--message-format=json-render-diagnostics'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  if (r.status !== 0) throw new Error('cargo build of netpoll_bench failed')
  for (const line of r.stdout.split('\n')) {
    if (!line.includes('"executable"')) continue
    const msg = JSON.parse(line)
    if (msg.target?.name === 'netpoll-bench' && msg.executable) return msg.executable
  }
  throw new Error('cargo did not report the netpoll-bench executable')
}

function newest(dir) {
  let t = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, fs.statSync(path.join(e.parentPath ?? e.path, e.name)).mtimeMs)
  }
  return t
}

/** Runs `npm run build` when the addon or dist/ is missing or older than its sources. */
export function buildAddonIfNeeded(log) {
  const addon = fs.readdirSync(root).find((f) => /^netpoll\..+\.node$/.test(f))
  const dist = path.join(root, 'dist', 'index.js')
  const sources = Math.max(...['crates/netpoll_core/src', 'crates/netpoll_napi/src', 'lib'].map((d) => newest(path.join(root, d))))
  const built = addon && fs.existsSync(dist)
    ? Math.min(fs.statSync(path.join(root, addon)).mtimeMs, newest(path.join(root, 'dist')))
    : 0
  if (built >= sources) return
  log('building the addon and dist/ (npm run build)')
  const r = run('npm', ['run', 'build'], { stdio: ['ignore', 2, 2] }) // keep stdout for results
  if (r.status !== 0) throw new Error('npm run build failed')
}

/** Builds benchmark/go-netpoll when `go` is on PATH; returns the binary, or null (with why). */
export function buildGoServer(log) {
  const probe = spawnSync('go', ['version'], { encoding: 'utf8' })
  if (probe.error || probe.status !== 0) return { binary: null, why: 'no go toolchain on PATH' }
  log('building the Go netpoll echo server (go build in benchmark/go-netpoll)')
  const binary = path.join(os.tmpdir(), `netpoll-bench-go-echo-${process.pid}`)
  const r = run('go', ['build', '-o', binary, '.'], { cwd: path.join(root, 'benchmark', 'go-netpoll') })
  if (r.status !== 0) return { binary: null, why: `go build failed:\n${r.stderr}` }
  process.on('exit', () => fs.rmSync(binary, { force: true }))
  return { binary, why: null }
}

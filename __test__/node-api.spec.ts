// The loader refuses a Node whose Node-API version is older than the one the binding is built
// for, with ERR_UNSUPPORTED_NODE naming both versions, instead of loading the addon and dying
// later on a missing symbol. Each case is a child process on the built package whose
// `process.versions.napi` is redefined before netpoll is required.
import test, { type ExecutionContext } from 'ava'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(__dirname, '..')
const PKG = JSON.stringify(join(ROOT, 'index.js'))

/** The N-API version of the `napiN` feature in the binding's Cargo.toml. */
function cargoNapiVersion(): number {
  const toml = readFileSync(join(ROOT, 'crates', 'netpoll_napi', 'Cargo.toml'), 'utf8')
  const m = /^napi\s*=.*features\s*=\s*\[[^\]]*"napi(\d+)"/m.exec(toml)
  if (!m) throw new Error('no napiN feature on the napi dependency in crates/netpoll_napi/Cargo.toml')
  return Number(m[1])
}

interface Outcome {
  loaded?: string
  code?: string
  name?: string
  message?: string
}

/**
 * Requires netpoll in a child whose process.versions.napi is `napi` (undefined: removed), and
 * returns what happened; the child itself must exit normally (no crash).
 */
function requireWithNapi(t: ExecutionContext, napi: string | undefined, env: NodeJS.ProcessEnv = {}): Outcome {
  const fake =
    napi === undefined
      ? `delete process.versions.napi`
      : `Object.defineProperty(process.versions, 'napi', { value: ${JSON.stringify(napi)}, enumerable: true, configurable: true })`
  const script = `
    ${fake}
    let out
    try {
      out = { loaded: require(${PKG}).nativeVersion() }
    } catch (e) {
      out = { code: e.code, name: e.name, message: e.message }
    }
    console.log(JSON.stringify(out))`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } })
  t.is(r.status, 0, `child exited with ${r.status} (signal ${r.signal}): ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Outcome
}

test('a Node with an N-API version older than the binding needs is refused with ERR_UNSUPPORTED_NODE', (t) => {
  const needed = cargoNapiVersion()
  const old = String(needed - 1)
  const r = requireWithNapi(t, old)
  t.is(r.code, 'ERR_UNSUPPORTED_NODE', JSON.stringify(r))
  t.is(r.name, 'UnsupportedNodeError')
  t.true(r.message?.includes(`Node-API (N-API) version ${needed} or later`), r.message)
  t.true(r.message?.includes(`N-API ${old}.`), r.message)
  t.true(r.message?.includes(process.version), r.message)
  t.regex(r.message ?? '', /20, 22, 24 or 26/)
})

test('a Node that reports no N-API version is refused too', (t) => {
  const r = requireWithNapi(t, undefined)
  t.is(r.code, 'ERR_UNSUPPORTED_NODE', JSON.stringify(r))
  t.regex(r.message ?? '', /process\.versions\.napi is not set/)
})

test('the check comes before an explicitly chosen binary (NETPOLL_NATIVE_PATH) is loaded', (t) => {
  const path = require(join(ROOT, 'index.js')).nativeBinaryPath as string
  const r = requireWithNapi(t, '1', { NETPOLL_NATIVE_PATH: path })
  t.is(r.code, 'ERR_UNSUPPORTED_NODE', JSON.stringify(r))
})

test('exactly the N-API version the binding is built for loads, and so does this Node', (t) => {
  const exact = requireWithNapi(t, String(cargoNapiVersion()))
  t.is(typeof exact.loaded, 'string', JSON.stringify(exact))
  const own = requireWithNapi(t, process.versions.napi)
  t.is(own.loaded, exact.loaded)
})

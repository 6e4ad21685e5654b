// Runs scenarios: for each round, every server in turn (A B C A B C …) under the native load
// generator, and keeps each run's JSON line and the per-metric medians.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { KINDS, startServer, track } from './servers.mjs'

/** Extra time a load-generator run may take beyond warm-up + duration (setup, idle, bursts). */
const SLACK_MS = 180_000

/**
 * Runs `scenarios` and returns [{ scenario, servers, runs: {kind: [json…]}, medians: {kind: {…}} }].
 * options: { loadgen, goBinary, rounds, warmup, duration, mode, reuse, progress(text) }.
 * `reuse` keeps one server per kind/transport/protocol for the whole suite (smoke runs).
 */
export async function runSuite(scenarios, options) {
  const total = scenarios.reduce((n, s) => n + available(s, options).length * options.rounds, 0)
  const cache = new Map()
  const results = []
  let done = 0
  try {
    for (const scenario of scenarios) {
      const servers = available(scenario, options)
      const runs = Object.fromEntries(servers.map((k) => [k, []]))
      for (let round = 1; round <= options.rounds; round++) {
        for (const kind of servers) {
          options.progress(`[${++done}/${total}] ${scenario.id} · ${KINDS[kind].label} · round ${round}/${options.rounds}`)
          runs[kind].push(await runOnce(scenario, kind, options, cache))
        }
      }
      const medians = Object.fromEntries(servers.map((k) => [k, medianOf(runs[k])]))
      results.push({ scenario, servers, runs, medians })
    }
  } finally {
    await Promise.all([...cache.values()].map((s) => stopServer(s)))
  }
  return results
}

function available(scenario, options) {
  return scenario.servers.filter((k) => k !== 'go' || options.goBinary)
}

async function runOnce(scenario, kind, options, cache) {
  const extra = scenario.perKind?.(kind, options) ?? {} // { serverArgs, loadgenArgs } (TLS)
  const key = `${kind}/${scenario.transport}/${scenario.protocol}/${extra.serverArgs?.join(' ') ?? ''}`
  let server = options.reuse ? cache.get(key) : null
  if (!server) {
    server = await startServer(kind, scenario.transport, scenario.protocol, { ...options, serverArgs: extra.serverArgs, argv: scenario.argv?.[kind] })
    if (options.reuse) cache.set(key, server)
  }
  try {
    const statsBefore = server.stats.length
    const timing = scenario.timed === false ? [] : ['--warmup', String(options.warmup), '--duration', String(options.duration)]
    const args = [...scenario.args, ...(extra.loadgenArgs ?? []), '--target', server.target, '--server-pid', String(server.pid), ...timing]
    const result = await loadgen(options.loadgen, args, (options.warmup + options.duration) * 1000 + SLACK_MS)
    const stats = server.stats.slice(statsBefore)
    if (scenario.args[0] === 'idle' && stats.length >= 2) {
      result.heap_per_conn = (stats[1].heapUsed - stats[0].heapUsed) / result.connections
    }
    return result
  } finally {
    if (!options.reuse) await stopServer(server)
  }
}

async function stopServer(server) {
  await server.stop()
  if (server.target.startsWith('unix://')) fs.rmSync(server.target.slice(7), { force: true })
}

/** Runs the load generator; resolves to its JSON report, rejects on a non-zero exit. */
function loadgen(binary, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = track(spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] }))
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('exit', (code, sig) => {
      clearTimeout(timer)
      const cmd = `netpoll-bench ${args.join(' ')}`
      if (code !== 0) {
        const why = code === 3 ? 'WRONG BYTES ECHOED' : `exit ${code ?? sig}`
        return reject(new Error(`${cmd}: ${why}\n${err}`))
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()))
      } catch {
        reject(new Error(`${cmd}: no JSON report\n${out}\n${err}`))
      }
    })
  })
}

/** The median of every numeric field over `runs` (the middle run, or the mean of the two). */
export function medianOf(runs) {
  const m = {}
  for (const key of Object.keys(runs[0] ?? {})) {
    const xs = runs.map((r) => r[key]).filter((x) => typeof x === 'number').sort((a, b) => a - b)
    if (xs.length === 0) continue
    const mid = xs.length >> 1
    m[key] = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2
  }
  return m
}

// What the results were measured on: date, CPU, OS, Node and Go versions, load average.
import { spawnSync } from 'node:child_process'
import os from 'node:os'

/** A description of this machine now. */
export function machine() {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' })
  return {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model.trim() ?? 'unknown',
    memory_gb: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()}`,
    node: process.versions.node,
    go: go.status === 0 ? go.stdout.trim().replace(/^go version /, '') : null,
    loadavg_start: os.loadavg().map((x) => +x.toFixed(2)),
  }
}

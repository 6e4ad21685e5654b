import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import * as net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EXAMPLES, spawnLine, stop } from './helpers'

const LINE = /^requests=(\d+) ok=(\d+) failed=(\d+) qps=(\d+) p99_us=(\d+)$/

/** Runs an example client; returns its exit code and the fields of its final line. */
function runClient(client: string, connect: string, extra: string[]) {
  const r = spawnSync(
    process.execPath,
    [join(EXAMPLES, client), '--connect', connect, '--requests', '3000', '--concurrency', '32', '--size', '256', ...extra],
    { encoding: 'utf8', timeout: 50_000 },
  )
  const lines = r.stdout.trim().split('\n')
  const m = LINE.exec(lines[lines.length - 1])
  return { status: r.status, lines: lines.length, m, stderr: r.stderr }
}

for (const server of ['echo-server.js', 'net-echo-server.js']) {
  for (const network of ['tcp', 'unix']) {
    test(`rpc-client and net-rpc-client against ${server} over ${network}, pooled and with --mux`, async (t) => {
      const listen = network === 'tcp' ? 'tcp://127.0.0.1:0' : `unix://${join(mkdtempSync(join(tmpdir(), 'netpoll-')), 'echo.sock')}`
      const { child, line } = await spawnLine([join(EXAMPLES, server), '--listen', listen])
      const connect = `${network}://${line.split(' ')[1]}`
      try {
        for (const client of ['rpc-client.js', 'net-rpc-client.js']) {
          for (const extra of [['--pool-size', '8'], ['--mux', '2']]) {
            const r = runClient(client, connect, extra)
            const what = `${client} ${extra.join(' ')}`
            t.is(r.status, 0, `${what}: ${r.stderr}`)
            t.is(r.lines, 1, what)
            t.truthy(r.m, what)
            t.deepEqual(r.m?.slice(1, 4), ['3000', '3000', '0'], what)
            t.true(Number(r.m?.[4]) > 0 && Number(r.m?.[5]) > 0, what)
          }
        }
      } finally {
        await stop(child)
      }
    })
  }
}

test('rpc-client exits 1 and counts failures when the server is gone', async (t) => {
  const probe = net.createServer()
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()))
  const port = (probe.address() as net.AddressInfo).port
  await new Promise((r) => probe.close(r))
  for (const extra of [[], ['--mux', '2']]) {
    const r = spawnSync(process.execPath, [join(EXAMPLES, 'rpc-client.js'), '--connect', `tcp://127.0.0.1:${port}`, '--requests', '10', ...extra], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    t.not(r.status, 0)
    if (extra.length === 0) t.regex(r.stdout, /^requests=10 ok=0 failed=10 qps=\d+ p99_us=\d+\n$/)
    else t.regex(r.stderr, /ECONNREFUSED/) // the mux connections cannot even be dialed
  }
})

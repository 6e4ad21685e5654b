// The example servers with --tls-cert/--tls-key (examples/echo-server.js on netpoll's TLS,
// examples/net-echo-server.js on Node's `tls`), started as child processes and spoken to with
// Node's `tls.connect`: framed echo at record-size boundaries, raw echo of 1 MiB with a
// digest, the "listening" line, and --tls-ca + --tls-request-cert requiring a client
// certificate. The netpoll one runs in whichever engine NETPOLL_MODE selects (inherited).
import test from 'ava'
import { ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tls from 'node:tls'
import { EXAMPLES, spawnLine, stop } from '../client/helpers'
import { readExactly } from '../helpers'
import { certs } from './certs'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** The certificates as files for the servers' command lines (removed after the tests). */
const dir = mkdtempSync(join(tmpdir(), 'netpoll-tls-examples-'))
const file = (name: string, pem: string): string => {
  const f = join(dir, name)
  writeFileSync(f, pem)
  return f
}
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

async function startServer(example: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const c = certs()
  const { child, line } = await spawnLine([
    join(EXAMPLES, example), '--listen', 'tcp://127.0.0.1:0',
    '--tls-cert', file('server.pem', c.cert), '--tls-key', file('server.key', c.key), ...args,
  ])
  const m = /^listening 127\.0\.0\.1:(\d+)$/.exec(line)
  if (!m) {
    await stop(child)
    throw new Error(`unexpected first line ${JSON.stringify(line)}`)
  }
  return { child, port: Number(m[1]) }
}

function connect(port: number, extra: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: certs().ca, servername: 'localhost', ...extra }, () => resolve(s))
    s.once('error', reject)
  })
}

/** Resolves with the error that ends `s` or null when it closes cleanly (bounded). */
function ending(s: tls.TLSSocket, ms = 10_000): Promise<Error | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the connection was not closed in ${ms} ms`)), ms)
    let error: Error | null = null
    s.on('error', (e) => (error = e))
    s.on('data', () => {})
    s.once('close', () => {
      clearTimeout(timer)
      resolve(error)
    })
  })
}

for (const example of ['echo-server.js', 'net-echo-server.js']) {
  test.serial(`${example} --tls-cert/--tls-key: framed echo over TLS 1.3 at record boundaries`, async (t) => {
    t.timeout(30_000)
    const { child, port } = await startServer(example, ['--protocol', 'framed'])
    let s: tls.TLSSocket | null = null
    try {
      s = await connect(port)
      t.is(s.getProtocol(), 'TLSv1.3')
      t.true(s.authorized)
      // Payloads around one TLS record (16 KiB of plaintext) and several.
      for (const n of [1, 1024, 16380, 16384, 16385, 100_000]) {
        const body = randomBytes(n)
        const head = Buffer.alloc(4)
        head.writeUInt32BE(n)
        s.write(Buffer.concat([head, body]))
        const back = await readExactly(s, 4 + n)
        t.is(back.readUInt32BE(0), n)
        t.is(sha(back.subarray(4)), sha(body), `payload of ${n} bytes`)
      }
      // Pipelined: 50 frames in one write, answered in order.
      const frames = Array.from({ length: 50 }, (_, i) => randomBytes(100 + i))
      s.write(Buffer.concat(frames.flatMap((b) => [Buffer.from([0, 0, b.length >> 8, b.length & 255]), b])))
      const all = await readExactly(s, frames.reduce((n, b) => n + 4 + b.length, 0))
      t.is(sha(all), sha(Buffer.concat(frames.flatMap((b) => [Buffer.from([0, 0, b.length >> 8, b.length & 255]), b]))))
    } finally {
      s?.destroy()
      await stop(child)
    }
  })

  test.serial(`${example} --tls-cert/--tls-key --protocol raw: 1 MiB echoed over TLS with its digest`, async (t) => {
    t.timeout(30_000)
    const { child, port } = await startServer(example, ['--protocol', 'raw'])
    let s: tls.TLSSocket | null = null
    try {
      s = await connect(port)
      const data = randomBytes(1 << 20)
      const back = readExactly(s, data.length, 20_000)
      for (let i = 0; i < data.length; i += 7000) s.write(data.subarray(i, i + 7000))
      t.is(sha(await back), sha(data))
    } finally {
      s?.destroy()
      await stop(child)
    }
  })

  test.serial(`${example} --tls-ca --tls-request-cert: a client certificate from the CA is required`, async (t) => {
    t.timeout(30_000)
    const c = certs()
    const { child, port } = await startServer(example, ['--tls-ca', file('ca.pem', c.ca), '--tls-request-cert'])
    const open: tls.TLSSocket[] = []
    try {
      // With the certificate: served.
      const s = await connect(port, { cert: c.clientCert, key: c.clientKey })
      open.push(s)
      s.write(Buffer.from([0, 0, 0, 3, 1, 2, 3]))
      t.deepEqual(await readExactly(s, 7), Buffer.from([0, 0, 0, 3, 1, 2, 3]))
      // Without: the server ends the handshake (TLS 1.3 clients learn it at their first read).
      const failed = await connect(port).then(
        async (b) => {
          open.push(b)
          const end = ending(b)
          b.write(Buffer.from([0, 0, 0, 1, 9]))
          return end
        },
        (e: Error) => e,
      )
      t.truthy(failed, 'the connection without a certificate ended with an error')
      t.regex(String((failed as (Error & { code?: string }) | null)?.code), /CERTIFICATE|ECONNRESET|ALERT/)
    } finally {
      for (const s of open) s.destroy()
      await stop(child)
    }
  })
}

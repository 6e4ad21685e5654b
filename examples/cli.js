// The command line shared by echo-server and net-echo-server.
'use strict'

const USAGE = `options:
  --listen tcp://HOST:PORT | unix://PATH   where to listen (default tcp://127.0.0.1:7000)
  --protocol framed|raw|sink               framed: 4-byte big-endian length + payload (default);
                                           raw: echo every byte; sink: count and drop every byte,
                                           answering the count (8 bytes, big-endian) each time it
                                           crosses a multiple of 1 MiB
  --read-timeout MS                        close a connection (ERR_READ_TIMEOUT) whose next request
                                           is not whole MS ms after the server started waiting for
                                           it (the connection opened, or the previous request was
                                           taken), however many of its bytes trickled in meanwhile;
                                           framed: a request is a whole frame (length + payload),
                                           raw: any bytes, so MS ms of silence (default none)
  --idle-timeout MS                        close a connection after MS ms without a byte read or
                                           written (default none)
  --max-frame BYTES                        largest frame accepted (default 16 MiB)
  --mode inline|threaded|auto  --pollers N (echo-server only)
  --cork                                   (net-echo-server only) one write per read
  --tls-cert FILE --tls-key FILE           serve TLS with this certificate chain and key (PEM)
  --tls-ca FILE                            CA certificates (PEM) that client certificates must chain to
  --tls-request-cert                       ask clients for a certificate (required: Node's default
                                           rejectUnauthorized)`

function parseArgs(argv) {
  const o = { listen: 'tcp://127.0.0.1:7000', protocol: 'framed', readTimeout: 0, idleTimeout: 0, maxFrame: 16 << 20, cork: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`)
      return argv[++i]
    }
    const num = () => {
      const n = Number(v())
      if (!Number.isInteger(n) || n < 0) fail(`${a} needs a non-negative integer`)
      return n
    }
    if (a === '--listen') o.listen = v()
    else if (a === '--protocol') o.protocol = v()
    else if (a === '--read-timeout') o.readTimeout = num()
    else if (a === '--idle-timeout') o.idleTimeout = num()
    else if (a === '--max-frame') o.maxFrame = num()
    else if (a === '--mode') o.mode = v()
    else if (a === '--pollers') o.pollers = num()
    else if (a === '--cork') o.cork = true
    else if (a === '--tls-cert') o.tlsCert = v()
    else if (a === '--tls-key') o.tlsKey = v()
    else if (a === '--tls-ca') o.tlsCa = v()
    else if (a === '--tls-request-cert') o.tlsRequestCert = true
    else if (a === '--help' || a === '-h') {
      console.log(USAGE)
      process.exit(0)
    } else fail(`unknown option ${a}`)
  }
  if (!['framed', 'raw', 'sink'].includes(o.protocol)) fail('--protocol is framed, raw or sink')
  const m = /^(tcp|tcp4|tcp6|unix):\/\/(.+)$/.exec(o.listen)
  if (!m) fail('--listen is tcp://HOST:PORT or unix://PATH')
  o.network = m[1]
  o.address = m[2]
  if (!o.tlsCert !== !o.tlsKey) fail('--tls-cert and --tls-key go together')
  if ((o.tlsCa || o.tlsRequestCert) && !o.tlsCert) fail('--tls-ca and --tls-request-cert need --tls-cert and --tls-key')
  return o
}

/**
 * The TLS server options of the command line, with Node's `tls` names (the same object suits
 * netpoll's `createListener(..., { tls })` and Node's `tls.createServer`), or undefined.
 */
function tlsOptions(o) {
  if (!o.tlsCert) return undefined
  const read = (file) => require('node:fs').readFileSync(file)
  return {
    cert: read(o.tlsCert),
    key: read(o.tlsKey),
    ...(o.tlsCa && { ca: read(o.tlsCa) }),
    ...(o.tlsRequestCert && { requestCert: true }),
  }
}

function fail(msg) {
  console.error(`${msg}\n${USAGE}`)
  process.exit(2)
}

/**
 * The memory probe of the example servers (`kill -USR2 PID`, with node's --expose-gc): full
 * collections 100 ms apart until the ArrayBuffer count stops falling (at most 30), then
 * `report()`. V8 frees unreachable ArrayBuffers' memory in the background and finishes at a
 * later collection (Node 20 still counted 100 MiB of dropped Buffers after two back-to-back
 * gc() calls), and the memory-reducing flavor also gives back the heap pages V8 12+ pools;
 * without both, RSS and ArrayBuffer figures show garbage as if it were held.
 */
function onMemoryProbe(report) {
  process.on('SIGUSR2', () => {
    if (!globalThis.gc) return report()
    let left = 30
    let last = Infinity
    let steady = 0
    const step = () => {
      // A plain gc() is a full Mark-Compact on every V8; with an options object, V8 11 (Node
      // 20) runs a Scavenge whatever `type` says, which never frees old-space garbage: dropped
      // batch Buffers promoted before their connection closed stayed counted until the next
      // Mark-Compact, which an idle server with little JS allocation may not run for a long
      // time. The memory-reducing call then gives back the pages V8 12+ pools.
      globalThis.gc()
      globalThis.gc({ type: 'major', execution: 'sync', flavor: 'last-resort' })
      const now = process.memoryUsage().arrayBuffers
      steady = now < last ? 0 : steady + 1
      last = now
      if (--left === 0 || steady === 4) return report()
      setTimeout(step, 100)
    }
    step()
  })
}

/** The sink protocol answers its count each time it crosses a multiple of this many bytes. */
const SINK_ACK = 2 ** 20

/**
 * A sink's count after `n` more bytes (`count` before): when it crosses a multiple of
 * SINK_ACK, `answer(buf)` is called with the new count as 8 bytes, big-endian.
 */
function sinkCount(count, n, answer) {
  const now = count + n
  if (Math.floor(now / SINK_ACK) !== Math.floor(count / SINK_ACK)) {
    const out = Buffer.allocUnsafe(8)
    out.writeBigUInt64BE(BigInt(now))
    answer(out)
  }
  return now
}

module.exports = { parseArgs, onMemoryProbe, sinkCount, tlsOptions }

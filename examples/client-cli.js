// The command line and load loop shared by rpc-client (netpoll) and net-rpc-client (Node's
// net): the same requests, checks and final line, so the two can be compared side by side.
'use strict'

const USAGE = `options:
  --connect tcp://HOST:PORT | unix://PATH   server to call (default tcp://127.0.0.1:7000)
  --requests N       requests in all (default 100000)
  --concurrency N    requests in flight at once (default 64)
  --size BYTES       payload size (default 1024)
  --pool-size N      connections of the pool (default: --concurrency)
  --mux K            multiplex all requests over K connections, request ids in the payload
  --mode inline|threaded|auto  --pollers N   (rpc-client only) the netpoll engine
Wire: each request is a frame (4-byte big-endian length + payload); every echoed payload is
checked. Prints one line: requests=N ok=N failed=N qps=Q p99_us=L; exits 0 only if ok=N.`

function parseClientArgs(argv) {
  const o = { connect: 'tcp://127.0.0.1:7000', requests: 100_000, concurrency: 64, size: 1024, poolSize: 0, mux: 0 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`)
      return argv[++i]
    }
    const num = (min) => {
      const n = Number(v())
      if (!Number.isInteger(n) || n < min) fail(`${a} needs an integer >= ${min}`)
      return n
    }
    if (a === '--connect') o.connect = v()
    else if (a === '--requests') o.requests = num(1)
    else if (a === '--concurrency') o.concurrency = num(1)
    else if (a === '--size') o.size = num(0)
    else if (a === '--pool-size') o.poolSize = num(1)
    else if (a === '--mux') o.mux = num(1)
    else if (a === '--mode') o.mode = v()
    else if (a === '--pollers') o.pollers = num(1)
    else if (a === '--help' || a === '-h') {
      console.log(USAGE)
      process.exit(0)
    } else fail(`unknown option ${a}`)
  }
  const m = /^(tcp|tcp4|tcp6|unix):\/\/(.+)$/.exec(o.connect)
  if (!m) fail('--connect is tcp://HOST:PORT or unix://PATH')
  o.network = m[1]
  o.address = m[2]
  if (o.poolSize === 0) o.poolSize = o.concurrency
  return o
}

function fail(msg) {
  console.error(`${msg}\n${USAGE}`)
  process.exit(2)
}

/**
 * Runs `o.requests` requests, `o.concurrency` at a time. `call(frame, payload)` sends one
 * request — `frame` is the whole framed request (length + payload), `payload` a view of its
 * payload — and resolves with the echoed payload. Prints the final line and sets the exit
 * code; resolves when done.
 */
async function runLoad(o, call) {
  const template = Buffer.alloc(o.size)
  for (let i = 0; i < o.size; i++) template[i] = (i * 31 + 7) & 0xff
  const latencies = new Float64Array(o.requests)
  let next = 0
  let ok = 0
  let failed = 0
  let firstError = null
  const worker = async () => {
    while (next < o.requests) {
      const seq = next++
      const frame = Buffer.allocUnsafe(4 + o.size)
      frame.writeUInt32BE(o.size, 0)
      template.copy(frame, 4)
      if (o.size >= 4) frame.writeUInt32BE(seq, 4) // every payload differs: a mix-up is caught
      const payload = frame.subarray(4)
      const start = process.hrtime.bigint()
      try {
        const back = await call(frame, payload)
        latencies[seq] = Number(process.hrtime.bigint() - start) / 1000
        if (back.equals(payload)) ok++
        else {
          failed++
          firstError ??= new Error(`request ${seq}: wrong payload echoed`)
        }
      } catch (e) {
        latencies[seq] = Number(process.hrtime.bigint() - start) / 1000
        failed++
        firstError ??= e
      }
    }
  }
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.requests) }, worker))
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  latencies.sort()
  const p99 = latencies[Math.min(o.requests - 1, Math.ceil(o.requests * 0.99) - 1)]
  if (firstError) console.error(`first failure: ${firstError.code ?? ''} ${firstError.message}`)
  console.log(`requests=${o.requests} ok=${ok} failed=${failed} qps=${Math.round(o.requests / seconds)} p99_us=${Math.round(p99)}`)
  process.exitCode = ok === o.requests ? 0 : 1
}

module.exports = { parseClientArgs, runLoad }

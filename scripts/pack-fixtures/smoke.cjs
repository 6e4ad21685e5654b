'use strict'
// Smoke test of the INSTALLED package. scripts/test-pack.mjs copies this file into a fresh
// directory where only the packed tarballs of netpoll and netpoll-<platform> were installed,
// and runs it there with NETPOLL_PACK_PLATFORM=<platform key> and
// NETPOLL_PACK_PLATFORM_DIR=<that dir>/node_modules/netpoll-<platform>.
//
// Every check prints `ok`, `FAIL` or `SKIP`; the last line (SMOKE_RESULT {...}) tells
// test-pack.mjs which ran. A skipped check did NOT pass: it was not run.
//
// The LinkBuffer and server/Dialer checks were written before those APIs landed, behind a
// guard. Both APIs are exported now, so the flags are true: a missing API is a FAILURE, not a
// skip. (Set a flag to false only while an API is deliberately absent; the check then SKIPs.)
const REQUIRE_LINKBUFFER = true // `LinkBuffer` is exported
const REQUIRE_SERVER = true // `createListener`, `EventLoop` and `dial` are exported

const assert = require('node:assert/strict')
const { realpathSync, readdirSync } = require('node:fs')
const { join, sep } = require('node:path')
const { randomBytes } = require('node:crypto')

const KEY = process.env.NETPOLL_PACK_PLATFORM
const PLATFORM_DIR = realpathSync(process.env.NETPOLL_PACK_PLATFORM_DIR)
const result = { passed: [], failed: [], skipped: [] }

async function test(name, fn) {
  try {
    await fn()
    result.passed.push(name)
    console.log(`ok    ${name}`)
  } catch (e) {
    result.failed.push(name)
    console.log(`FAIL  ${name}\n      ${String(e && e.stack ? e.stack : e).split('\n').join('\n      ')}`)
  }
}
function skip(name, why) {
  result.skipped.push(`${name}: ${why}`)
  console.log(`SKIP  ${name}: ${why}`)
}
/** Rejects when `promise` does not settle within `ms`, so a hang becomes a failure. */
function within(ms, what, promise) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

async function main() {
  let netpoll
  await test('require("netpoll") from the installed package', () => {
    netpoll = require('netpoll')
  })
  if (!netpoll) return

  await test(`the binary was loaded from node_modules/netpoll-${KEY}`, () => {
    // 1) What the loader says it loaded.
    assert.equal(typeof netpoll.nativeBinaryPath, 'string', 'netpoll.nativeBinaryPath is exported')
    const said = realpathSync(netpoll.nativeBinaryPath)
    assert.ok(said.startsWith(PLATFORM_DIR + sep), `nativeBinaryPath ${said} is under ${PLATFORM_DIR}`)
    // 2) What Node actually loaded, independently of the loader: required .node files are
    //    cached in require.cache under their resolved file names.
    const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node'))
    assert.equal(loaded.length, 1, `exactly one .node loaded: ${loaded.join(', ')}`)
    assert.equal(realpathSync(loaded[0]), said, 'require.cache agrees with nativeBinaryPath')
    assert.equal(realpathSync(loaded[0]), realpathSync(join(PLATFORM_DIR, `netpoll.${KEY}.node`)))
    // 3) The root package ships no binary of its own.
    const rootDir = join(process.cwd(), 'node_modules', 'netpoll')
    const stray = readdirSync(rootDir).filter((f) => f.endsWith('.node'))
    assert.deepEqual(stray, [], 'node_modules/netpoll holds no .node file')
  })

  await test('nativeVersion() equals the versions of netpoll and its platform package', () => {
    const version = require('netpoll/package.json').version
    assert.equal(typeof netpoll.nativeVersion, 'function', 'netpoll.nativeVersion is exported')
    assert.equal(netpoll.nativeVersion(), version)
    assert.equal(require(`netpoll-${KEY}/package.json`).version, version)
  })

  await test('SUPPORTED_PLATFORMS and UnsupportedPlatformError are exported', () => {
    assert.ok(KEY in netpoll.SUPPORTED_PLATFORMS, `${KEY} in SUPPORTED_PLATFORMS`)
    assert.equal(Object.keys(netpoll.SUPPORTED_PLATFORMS).length, 5)
    const e = new netpoll.UnsupportedPlatformError('x')
    assert.ok(e instanceof Error)
    assert.equal(e.code, 'ERR_UNSUPPORTED_PLATFORM')
  })

  // ---- LinkBuffer (guarded: REQUIRE_LINKBUFFER) --------------------------------------------
  if (typeof netpoll.LinkBuffer === 'function') {
    await test('LinkBuffer round trip (write, flush, read back the same bytes)', async () => {
      const buf = new netpoll.LinkBuffer()
      const payload = randomBytes(3000)
      buf.writeBinary(payload)
      buf.writeString('tail')
      if (typeof buf.flush === 'function') await buf.flush()
      const len = () => (typeof buf.len === 'function' ? buf.len() : buf.len)
      assert.equal(len(), payload.length + 4)
      const head = Buffer.from(await buf.next(payload.length))
      assert.ok(head.equals(payload), 'bytes read back equal the bytes written')
      assert.equal(await buf.readString(4), 'tail')
      assert.equal(len(), 0)
      if (typeof buf.release === 'function') buf.release()
    })
  } else if (REQUIRE_LINKBUFFER) {
    await test('LinkBuffer is exported', () => assert.fail('netpoll.LinkBuffer is not a function'))
  } else {
    skip('LinkBuffer round trip', 'netpoll.LinkBuffer is not exported yet')
  }

  // ---- server + Dialer (guarded: REQUIRE_SERVER) -------------------------------------------
  const hasServer =
    typeof netpoll.createListener === 'function' &&
    typeof netpoll.EventLoop === 'function' &&
    typeof netpoll.dial === 'function'
  if (hasServer) {
    await test('server + Dialer round trip (length-prefixed echo over loopback TCP)', serverRoundTrip)
  } else if (REQUIRE_SERVER) {
    await test('createListener, EventLoop and dial are exported', () =>
      assert.fail(`createListener: ${typeof netpoll.createListener}, EventLoop: ${typeof netpoll.EventLoop}, dial: ${typeof netpoll.dial}`))
  } else {
    skip('server + Dialer round trip', 'createListener / EventLoop / dial are not exported yet')
  }

  async function serverRoundTrip() {
    const { createListener, EventLoop, dial } = netpoll
    const ln = await createListener('tcp', '127.0.0.1:0')
    const loop = new EventLoop(async (conn) => {
      const r = conn.reader
      const n = (await r.next(4)).readUInt32BE(0)
      const p = await r.next(n)
      const out = Buffer.alloc(4 + n)
      out.writeUInt32BE(n, 0)
      p.copy(out, 4)
      conn.writer.writeBinary(out)
      await conn.writer.flush()
    })
    const served = loop.serve(ln)
    // Listener#toString() is `host:port` (`[v6]:port`); accept a plain string address too.
    const address = typeof ln.address === 'string' ? ln.address : String(ln)
    const c = await within(5000, `dial ${address}`, dial('tcp', address))
    try {
      for (const size of [1, 1000, 300 * 1024]) {
        const payload = randomBytes(size)
        const frame = Buffer.alloc(4 + size)
        frame.writeUInt32BE(size, 0)
        payload.copy(frame, 4)
        c.writer.writeBinary(frame)
        await within(5000, 'client flush', c.writer.flush())
        const n = (await within(5000, 'response header', c.reader.next(4))).readUInt32BE(0)
        assert.equal(n, size, 'echoed length')
        const got = Buffer.from(await within(5000, 'response body', c.reader.next(n)))
        assert.ok(got.equals(payload), `echoed ${size} bytes equal the request`)
      }
    } finally {
      await within(5000, 'loop.shutdown', loop.shutdown({ timeout: 1000 }))
      c.close()
      await within(5000, 'loop.serve settles after shutdown', Promise.resolve(served).catch(() => {}))
    }
  }
}

main()
  .catch((e) => {
    result.failed.push(`smoke.cjs ran to the end: ${e && e.message}`)
    console.log(`FAIL  smoke.cjs: ${e && e.stack}`)
  })
  .finally(() => {
    console.log(`SMOKE_RESULT ${JSON.stringify(result)}`)
    // No process.exit(): the process must exit by itself once the checks are done
    // (test-pack.mjs fails it when it does not within its timeout).
    process.exitCode = result.failed.length === 0 ? 0 : 1
  })

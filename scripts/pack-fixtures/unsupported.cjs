'use strict'
// Run by scripts/test-pack.mjs in a fresh directory where ONLY the root tarball of netpoll was
// installed (no netpoll-<platform> package, no local build): require('netpoll') must throw the
// documented error, naming the package it expected and how to build from source.
const assert = require('node:assert/strict')

const KEY = process.env.NETPOLL_PACK_PLATFORM
let error
try {
  require('netpoll')
} catch (e) {
  error = e
}
assert.ok(error, 'require("netpoll") throws when the platform package is missing')
console.log(`require("netpoll") threw ${error.name} [${error.code}]:\n  ${error.message}`)
assert.ok(error instanceof Error, 'it is an Error')
assert.equal(error.code, 'ERR_UNSUPPORTED_PLATFORM')
assert.equal(error.name, 'UnsupportedPlatformError')
assert.match(error.message, new RegExp(`\\bnetpoll-${KEY}\\b`), 'the message names the expected package')
assert.match(error.message, /build from source/i, 'the message says how to build from source')
assert.match(error.message, /npm run build/, 'the message gives the build command')
assert.ok(error.cause, 'the underlying resolution error is kept as `cause`')
console.log('ok    the error names the package and how to build from source')

// Platforms without a published binary (the loader's other branch), through the installed
// loader module: the same error code, the package it would be, and what to do.
// (By absolute path: an `exports` map in package.json must not hide it from this test.)
const { loadNativeBinding } = require(require('node:path').join(process.cwd(), 'node_modules', 'netpoll', 'dist', 'core', 'loader.js'))
for (const [key, advice] of [
  ['win32-x64', /Windows is not supported/],
  ['linux-arm64-musl', /build from source/i],
  ['freebsd-x64', /build from source/i],
]) {
  let e
  try {
    loadNativeBinding(__dirname, key)
  } catch (err) {
    e = err
  }
  assert.ok(e, `${key}: throws`)
  assert.equal(e.code, 'ERR_UNSUPPORTED_PLATFORM', `${key}: code`)
  assert.match(e.message, new RegExp(`\\bnetpoll-${key}\\b`), `${key}: names the package it would be`)
  assert.match(e.message, advice, `${key}: says what to do`)
  console.log(`ok    ${key}: ERR_UNSUPPORTED_PLATFORM, names netpoll-${key}, ${advice.source}`)
}

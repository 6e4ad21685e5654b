// Type test of the PUBLISHED declarations. scripts/test-pack.mjs copies this file into a fresh
// directory where the packed tarballs were installed and runs `tsc --noEmit` on it, so it is
// checked against node_modules/netpoll/index.d.ts exactly as users get it.
//
// It must use every public export and every property of every exported option type:
// test-pack.mjs fails and names what is missing otherwise. When you export something new from
// lib/index.ts, add a section below: call it with every option, assign results to their
// expected types with `expectType`, and mark misuse with `// @ts-expect-error`.
import {
  SUPPORTED_PLATFORMS,
  UnsupportedPlatformError,
  nativeBinaryPath,
  nativeVersion,
} from 'netpoll'
import * as netpoll from 'netpoll'

/** Compiles only if `value` is assignable to `T`. */
function expectType<T>(value: T): T {
  return value
}
/** Compiles only if `A` and `B` are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
function expectEqual<A, B>(_proof: Equal<A, B>): void {}

// ---- loader: platforms, errors, the loaded binary -------------------------------------------
expectType<Readonly<Record<string, string>>>(SUPPORTED_PLATFORMS)
expectType<string | undefined>(SUPPORTED_PLATFORMS['linux-x64-gnu'])
// @ts-expect-error the table is read-only
SUPPORTED_PLATFORMS['win32-x64'] = 'x86_64-pc-windows-msvc'

const unsupported = new UnsupportedPlatformError('no binary', { cause: new Error('missing') })
expectType<Error>(unsupported)
expectEqual<typeof unsupported.code, 'ERR_UNSUPPORTED_PLATFORM'>(true)
expectType<string>(unsupported.message)
// @ts-expect-error code is read-only
unsupported.code = 'ERR_OTHER'
new UnsupportedPlatformError('message only')
function handle(e: unknown): string | undefined {
  return e instanceof UnsupportedPlatformError ? e.code : undefined
}
handle(unsupported)

expectType<string>(nativeBinaryPath)
expectType<string>(nativeVersion())
// @ts-expect-error nativeBinaryPath is a constant
netpoll.nativeBinaryPath = '/elsewhere'

// ---- LinkBuffer (add when exported) ----------------------------------------------------------
// const buf = new LinkBuffer()
// buf.writeBinary(Buffer.from('x')); buf.writeString('y'); buf.writeByte(1); ...
// expectType<Buffer>(buf.next(1)); expectType<string>(buf.readString(1)); buf.release() ...

// ---- configure / poolStats (add when exported) -----------------------------------------------
// configure({ pollers: 2, bufferSize: 8192, loadBalance: 'round-robin', mode: 'auto' })
// configure({ loadBalance: 'fastest' }) with @ts-expect-error: unknown policy

// ---- server: createListener, EventLoop, Connection (add when exported) -----------------------
// const ln = await createListener('tcp', '127.0.0.1:0')
// const loop = new EventLoop(async (conn) => { ... }, { onPrepare, onConnect, onDisconnect,
//   readTimeout: 1000, writeTimeout: 1000, idleTimeout: 60_000 })
// await loop.serve(ln); await loop.shutdown({ timeout: 5000 })

// ---- client: dial, Dialer (add when exported) ------------------------------------------------
// const conn = await dial('tcp', '127.0.0.1:9000', { timeout: 1000, signal: AbortSignal.timeout(1000) })
// conn.reader; conn.writer; conn.isActive(); conn.close(); conn.addCloseCallback(() => {}) ...

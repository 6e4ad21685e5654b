/**
 * The raw native binding, loaded once.
 * @internal
 */
import { join } from 'node:path'
import { loadNativeBinding } from './loader'

const loaded = loadNativeBinding(join(__dirname, '..', '..'))

/** The generated binding of `crates/netpoll_napi`. */
export const native = loaded.binding

/**
 * Absolute path of the native addon file this process loaded: `netpoll.<platform>.node` in the
 * package directory for a local build, otherwise the file of the platform package
 * `netpoll-<platform>` under `node_modules`. For diagnostics and install checks.
 */
export const nativeBinaryPath: string = loaded.path

/**
 * Version of the loaded native addon (the Rust crate version). It equals the version of the
 * `netpoll` package when the JS and the binary come from the same release.
 */
export function nativeVersion(): string {
  return native.nativeVersion()
}

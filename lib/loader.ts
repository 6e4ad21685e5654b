/**
 * Finds and loads the native addon: first a local build in the package root (what
 * `npm run build` writes, for development), then the prebuilt platform package
 * `netpoll-<platform>`. Anything else throws an `Error` with code `ERR_UNSUPPORTED_PLATFORM`.
 * @internal
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type * as Binding from '../binding'

/** The platforms we publish binaries for: key → Rust target triple. */
export const SUPPORTED_PLATFORMS: Readonly<Record<string, string>> = {
  'linux-x64-gnu': 'x86_64-unknown-linux-gnu',
  'linux-arm64-gnu': 'aarch64-unknown-linux-gnu',
  'linux-x64-musl': 'x86_64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
}

/** The error thrown when no binary exists or loads for this platform. */
export class UnsupportedPlatformError extends Error {
  /** Always `ERR_UNSUPPORTED_PLATFORM`. */
  readonly code = 'ERR_UNSUPPORTED_PLATFORM'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'UnsupportedPlatformError'
  }
}

function isMusl(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
  return !report?.header?.glibcVersionRuntime
}

/** The platform key (`linux-x64-gnu`, `darwin-arm64`, …) of a platform/arch pair. */
export function platformKey(platform: string = process.platform, arch: string = process.arch): string {
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  return `${platform}-${arch}`
}

function supportedList(): string {
  return Object.keys(SUPPORTED_PLATFORMS).join(', ')
}

/**
 * Loads the addon for `key` from `root` (the package directory), or throws
 * `ERR_UNSUPPORTED_PLATFORM` naming the expected package and how to build from source.
 */
export function loadBinding(root: string, key: string = platformKey()): typeof Binding {
  const packageName = `netpoll-${key}`
  if (!(key in SUPPORTED_PLATFORMS)) {
    throw new UnsupportedPlatformError(
      `netpoll supports Linux and macOS (${supportedList()}); there is no binary for ${key}.`,
    )
  }
  const local = join(root, `netpoll.${key}.node`)
  const errors: unknown[] = []
  if (existsSync(local)) {
    try {
      return require(local)
    } catch (e) {
      errors.push(e)
    }
  }
  try {
    return require(packageName)
  } catch (e) {
    errors.push(e)
  }
  throw new UnsupportedPlatformError(
    `netpoll could not load its native binary for ${key}: expected the package ${packageName} ` +
      `(installed with netpoll as an optional dependency) or a local build at ${local}. ` +
      `Reinstall without --no-optional, or build from source with Rust: npm run build. ` +
      `Supported platforms: ${supportedList()}.`,
    { cause: errors[errors.length - 1] },
  )
}

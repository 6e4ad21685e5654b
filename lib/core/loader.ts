/**
 * Finds and loads the native addon: first a local build in the package root (what
 * `npm run build` writes, for development), then the prebuilt platform package
 * `netpoll-<platform>`. Anything else throws an `Error` with code `ERR_UNSUPPORTED_PLATFORM`.
 * Before loading any binary it checks that the running Node offers the Node-API version the
 * binding is built for, and throws `ERR_UNSUPPORTED_NODE` if not (instead of the process dying
 * on a missing symbol later).
 * The environment variable `NETPOLL_NATIVE_PATH` (a path to a `.node` file) overrides both, for
 * instrumented builds such as the AddressSanitizer one of `npm run test:sanitize`.
 * @internal
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type * as Binding from '../../binding'

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

/**
 * The Node-API (N-API) version the binding is built against: the `napiN` feature of `napi` in
 * crates/netpoll_napi/Cargo.toml (a test keeps the two equal). Every supported Node line
 * (20, 22, 24, 26) offers at least 9.
 */
export const REQUIRED_NAPI_VERSION = 8

/** The error thrown when the running Node is too old for the binding. */
export class UnsupportedNodeError extends Error {
  /** Always `ERR_UNSUPPORTED_NODE`. */
  readonly code = 'ERR_UNSUPPORTED_NODE'
  constructor(message: string) {
    super(message)
    this.name = 'UnsupportedNodeError'
  }
}

/**
 * Throws `ERR_UNSUPPORTED_NODE` when `napi` (the running Node's `process.versions.napi`) is
 * older than REQUIRED_NAPI_VERSION or absent, naming both versions.
 */
export function checkNodeApi(napi: string | undefined = process.versions.napi, node: string = process.version): void {
  const running = Number(napi)
  if (napi !== undefined && Number.isInteger(running) && running >= REQUIRED_NAPI_VERSION) return
  throw new UnsupportedNodeError(
    `netpoll needs Node-API (N-API) version ${REQUIRED_NAPI_VERSION} or later, but this Node ${node} ` +
      `offers ${napi === undefined ? 'no Node-API version (process.versions.napi is not set)' : `N-API ${napi}`}. ` +
      `Run netpoll on a supported Node line: 20, 22, 24 or 26.`,
  )
}

/** The repository to clone to build from source. */
const REPOSITORY = 'https://github.com/netpoll-node/netpoll'

function isMusl(): boolean {
  // Reading ldd is cheap and exact on the common distributions; the process report is the
  // fallback where ldd is absent or unreadable (distroless images).
  // The report costs ~3 MB of RSS for the rest of the process: only where ldd can't tell.
  try {
    return readFileSync('/usr/bin/ldd', 'latin1').includes('musl')
  } catch {
    // fall through to the report
  }
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

function buildFromSource(key: string): string {
  return (
    `To build from source (needs Rust, https://rustup.rs, and a C toolchain): ` +
    `git clone ${REPOSITORY} && cd netpoll && npm install && npm run build, ` +
    `then install that directory (npm install /path/to/netpoll); ` +
    `the build writes netpoll.${key}.node, which the loader uses before any platform package.`
  )
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e)
}

/** The addon and the file it was loaded from. */
export interface LoadedBinding {
  /** The raw binding. */
  readonly binding: typeof Binding
  /** Absolute path of the `.node` file that was loaded. */
  readonly path: string
  /**
   * `'local'` for a build in the package directory, `'package'` for the platform package,
   * `'env'` for the file named by `NETPOLL_NATIVE_PATH`.
   */
  readonly source: 'local' | 'package' | 'env'
}

/**
 * Loads the addon for `key` from `root` (the package directory), or throws
 * `ERR_UNSUPPORTED_PLATFORM` naming the expected package and how to build from source
 * (`ERR_UNSUPPORTED_NODE` first when the running Node's Node-API version is too old).
 * Returns the binding together with the path it came from. When `NETPOLL_NATIVE_PATH` is set,
 * that file is loaded instead (relative paths resolve against the working directory).
 */
export function loadNativeBinding(root: string, key: string = platformKey()): LoadedBinding {
  checkNodeApi()
  const override = process.env.NETPOLL_NATIVE_PATH
  if (override) {
    // Explicitly chosen binary: load exactly it, and let a failure surface as it is.
    const path = resolve(override)
    return { binding: require(path), path, source: 'env' }
  }
  const packageName = `netpoll-${key}`
  const local = join(root, `netpoll.${key}.node`)
  const failures: string[] = []
  let cause: unknown
  // A local build comes first, on any platform: it is how an unsupported one builds from source.
  if (existsSync(local)) {
    try {
      return { binding: require(local), path: local, source: 'local' }
    } catch (e) {
      cause = e
      failures.push(`The local build ${local} failed to load: ${messageOf(e)}.`)
    }
  }
  if (!(key in SUPPORTED_PLATFORMS)) {
    throw new UnsupportedPlatformError(
      `netpoll has no prebuilt binary for ${key} (it would be the package ${packageName}, which is not ` +
        `published). netpoll supports Linux and macOS; prebuilt binaries exist for ${supportedList()}. ` +
        (key.startsWith('win32-') ? 'Windows is not supported.' : `${failures.join(' ')} ${buildFromSource(key)}`.trim()),
      { cause },
    )
  }
  let resolved: string | undefined
  try {
    resolved = require.resolve(packageName)
  } catch (e) {
    cause ??= e
    failures.push(
      `The package ${packageName} is not installed. npm installs it with netpoll as an optional ` +
        `dependency; it is missing when optional dependencies were omitted (--omit=optional, ` +
        `--no-optional), or node_modules or the lockfile came from another platform. ` +
        `Reinstall netpoll on this machine with optional dependencies.`,
    )
  }
  if (resolved !== undefined) {
    try {
      return { binding: require(resolved), path: resolved, source: 'package' }
    } catch (e) {
      cause = e
      failures.push(`The package ${packageName} is installed but its binary ${resolved} failed to load: ${messageOf(e)}.`)
    }
  }
  throw new UnsupportedPlatformError(
    `netpoll could not load its native binary for ${key}: expected the package ${packageName} ` +
      `(or a local build at ${local}). ${failures.join(' ')} ${buildFromSource(key)} ` +
      `Prebuilt binaries exist for ${supportedList()}.`,
    { cause },
  )
}

/**
 * Loads the addon for `key` from `root` (the package directory), or throws
 * `ERR_UNSUPPORTED_PLATFORM` naming the expected package and how to build from source.
 */
export function loadBinding(root: string, key: string = platformKey()): typeof Binding {
  return loadNativeBinding(root, key).binding
}

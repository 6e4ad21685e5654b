/**
 * Library-wide configuration, read when the engine starts (at the first listener or dial).
 */
import { availableParallelism } from 'node:os'

/** Which engine runs the sockets. */
export type EngineMode = 'inline' | 'threaded' | 'auto'

/**
 * How new connections are spread over shards (threaded engine with more than one poller).
 * Dials always follow it. Accepted TCP connections on Linux are spread by the kernel
 * (`SO_REUSEPORT`: one listening socket per shard, picked by a hash of the peer's address);
 * elsewhere, and for Unix sockets, shard 0 accepts and hands each connection to the shard
 * this policy picks.
 */
export type LoadBalance = 'round-robin' | 'random' | 'least-connections'

/** Options of {@link configure}. Every field is optional. */
export interface ConfigOptions {
  /**
   * `inline`: one shard whose poll fd is watched by Node's own event loop; reads and writes
   * run on the JS thread with no thread hop (latency equal to `net`). `threaded`: `pollers`
   * reactor threads do the I/O off the JS thread and hand over batches. `auto` (default):
   * `inline` on machines with at most 2 cores, else `threaded`. The environment variable
   * `NETPOLL_MODE` sets the default.
   */
  mode?: EngineMode
  /**
   * Reactor threads of the threaded engine. Default: cores − 1, at least 1, at most 4; the
   * environment variable `NETPOLL_POLLERS` sets the default.
   */
  pollers?: number
  /** Placement of new connections over shards (see {@link LoadBalance}). Default `round-robin`. */
  loadBalance?: LoadBalance
  /**
   * Read backpressure: above this many unconsumed input bytes on a connection, the shard
   * stops reading it until the handler consumes below {@link ConfigOptions.lowWaterMark}.
   * Default 4 MiB. (A read waiting for more bytes than this raises it for that read.) It
   * also bounds the input each shard has read and JS has not taken yet, so a JS thread
   * that falls behind holds the peers (TCP flow control) instead of growing memory.
   */
  highWaterMark?: number
  /** See {@link ConfigOptions.highWaterMark}. Default 1 MiB. */
  lowWaterMark?: number
  /**
   * Most output bytes queued on one connection (written, not yet taken by the kernel);
   * beyond it writes fail with `ERR_OUTPUT_LIMIT` and the connection is closed. Default 64 MiB.
   */
  maxOutput?: number
  /**
   * The largest single read a handler may ask for (`reader.next(n)` and the others, or the
   * bytes `until` may scan): a larger one rejects with `ERR_FRAME_TOO_LARGE` at once, before
   * any byte is buffered for it. A peer that declares a huge length is refused instead of
   * being buffered. Default 64 MiB.
   */
  maxFrame?: number
}

/** The effective configuration (see {@link ConfigOptions} for each field). */
export interface Config {
  mode: 'inline' | 'threaded'
  pollers: number
  loadBalance: LoadBalance
  highWaterMark: number
  lowWaterMark: number
  maxOutput: number
  maxFrame: number
}

/**
 * `auto`, by measurement (netpoll-bench on a 2-core VM, each engine against `net` in its own
 * run, netpoll ÷ net, inline vs threaded): inline wins every workload there — 1 KiB ping-pong
 * p50 1.01× vs 1.52×, 1 KiB ×100 connections 1.83× vs 1.49× QPS, ×1000 1.77× vs 1.54×,
 * pipelined 128 B ×16 7.4× vs 4.6× — because a reactor thread competes with the JS thread
 * for the second core and each batch costs a cross-thread wake-up. With more cores the
 * reactor threads have cores of their own (DESIGN.md §3).
 */
function resolveMode(mode: EngineMode): 'inline' | 'threaded' {
  if (mode !== 'auto') return mode
  return availableParallelism() <= 2 ? 'inline' : 'threaded'
}

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    const err = new RangeError(`${name} must be a positive integer, got ${String(v)}`) as RangeError & {
      code: string
    }
    err.code = 'ERR_OUT_OF_RANGE'
    throw err
  }
  return v
}

/** `NETPOLL_POLLERS` if set (tests run the threaded engine with several shards), else cores − 1 in 1..4. */
function defaultPollers(): number {
  const env = process.env.NETPOLL_POLLERS
  if (env !== undefined && env !== '') return positiveInt('NETPOLL_POLLERS', Number(env))
  return Math.min(4, Math.max(1, availableParallelism() - 1))
}

let current: Config = {
  mode: resolveMode((process.env.NETPOLL_MODE as EngineMode | undefined) ?? 'auto'),
  pollers: defaultPollers(),
  loadBalance: 'round-robin',
  highWaterMark: 4 * 1024 * 1024,
  lowWaterMark: 1024 * 1024,
  maxOutput: 64 * 1024 * 1024,
  maxFrame: 64 * 1024 * 1024,
}
let frozen = false

/**
 * Sets library-wide options. Call it before the first listener or dial: the engine starts
 * then and its options are fixed (a later call throws `ERR_ENGINE_STARTED`).
 */
export function configure(options: ConfigOptions): void {
  if (frozen) {
    const err = new Error('configure() must be called before the first listener or dial') as Error & {
      code: string
    }
    err.code = 'ERR_ENGINE_STARTED'
    throw err
  }
  const next = { ...current }
  if (options.mode !== undefined) {
    if (!['inline', 'threaded', 'auto'].includes(options.mode)) {
      throw new TypeError(`mode must be 'inline', 'threaded' or 'auto', got ${String(options.mode)}`)
    }
    next.mode = resolveMode(options.mode)
  }
  if (options.pollers !== undefined) next.pollers = positiveInt('pollers', options.pollers)
  if (options.loadBalance !== undefined) {
    if (!['round-robin', 'random', 'least-connections'].includes(options.loadBalance)) {
      throw new TypeError(`unknown loadBalance ${String(options.loadBalance)}`)
    }
    next.loadBalance = options.loadBalance
  }
  if (options.highWaterMark !== undefined) next.highWaterMark = positiveInt('highWaterMark', options.highWaterMark)
  if (options.lowWaterMark !== undefined) next.lowWaterMark = positiveInt('lowWaterMark', options.lowWaterMark)
  if (options.maxOutput !== undefined) next.maxOutput = positiveInt('maxOutput', options.maxOutput)
  if (options.maxFrame !== undefined) next.maxFrame = positiveInt('maxFrame', options.maxFrame)
  if (next.lowWaterMark > next.highWaterMark) {
    throw new RangeError('lowWaterMark must not exceed highWaterMark')
  }
  current = next
}

/** The configuration, frozen from now on. @internal */
export function freezeConfig(): Config {
  frozen = true
  return current
}

/** The configuration as it stands (for display). */
export function getConfig(): Readonly<Config> {
  return { ...current }
}

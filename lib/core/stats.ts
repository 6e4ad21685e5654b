/** Library-wide statistics. */
import { engineStarted, getEngine } from './engine'

/** Counters of the engine, summed over its shards. */
export interface EngineStats {
  /** Open connections. */
  connections: number
  /** Registered listeners. */
  listeners: number
  /** Timers armed. */
  timers: number
  /** Bytes read. */
  bytesIn: number
  /** Bytes written. */
  bytesOut: number
  /** Bytes queued for output, not yet taken by the kernel. */
  bytesQueued: number
  /** Events delivered to JS. */
  events: number
  /** Connections accepted. */
  accepted: number
  /** Times accepting paused for lack of file descriptors (EMFILE/ENFILE), then retried. */
  acceptBackoffs: number
  /** Open connections of each shard, by shard index (placement, see `loadBalance`). */
  connectionsPerShard: number[]
  /**
   * Connections watched by their own poll handle on Node's loop instead of their shard's
   * poll (inline engine: the busy connections of a nearly idle shard, to spare the nested
   * poll per request).
   */
  directConnections: number
  /**
   * Panics caught in the native addon since it loaded, each turned into a JS Error or a
   * connection closed with `ERR_INTERNAL` — never a crash. Zero unless there is a bug.
   */
  panics: number
}

/** The engine's counters (all zero before the first listener or dial). */
export function stats(): EngineStats {
  if (!engineStarted()) {
    return { connections: 0, listeners: 0, timers: 0, bytesIn: 0, bytesOut: 0, bytesQueued: 0, events: 0, accepted: 0, acceptBackoffs: 0, connectionsPerShard: [], directConnections: 0, panics: 0 }
  }
  return getEngine().stats()
}

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
}

/** The engine's counters (all zero before the first listener or dial). */
export function stats(): EngineStats {
  if (!engineStarted()) {
    return { connections: 0, listeners: 0, timers: 0, bytesIn: 0, bytesOut: 0, bytesQueued: 0, events: 0, accepted: 0 }
  }
  return getEngine().stats()
}

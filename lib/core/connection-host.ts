/**
 * The contracts around a connection that do not depend on the `Connection` class: its
 * addresses and counters (public types), what the engine provides to it (`ConnectionHost`),
 * and what a bridge that takes over its input implements (`ConnectionSink`).
 */
import type { Config } from './config'
import type { NetpollError } from './errors'
import type { TlsState } from './tls'

/** An address of a socket end. */
export interface NetAddress {
  /** IP address (`127.0.0.1`, `::1`) or Unix socket path. */
  address: string
  /** Port (TCP only). */
  port?: number
  /** `IPv4`, `IPv6` or `unix`. */
  family: string
}

/** Counters of one connection, from {@link Connection.stats}. */
export interface ConnectionStats {
  /** Bytes received from the peer. */
  bytesIn: number
  /** Bytes handed over by `flush()` so far (written, or queued for the kernel). */
  bytesOut: number
  /** Bytes received and not yet consumed by a read. */
  bytesBuffered: number
  /** Bytes written or flushed and not yet taken by the kernel. */
  bytesQueued: number
}

/**
 * Takes a bridged connection's events instead of its `Reader` and handler (the
 * `lib/net` Socket implements it): the bytes of each batch as delivered (views of the
 * batch's JS-owned memory, never rewritten), the peer's FIN, and the close.
 * @internal
 */
export interface ConnectionSink {
  /** Bytes of a batch, in order. */
  deliver(buf: Buffer): void
  /** The peer finished sending (FIN). */
  deliverEnd(): void
  /** The connection closed (`error` null: cleanly, both directions ended or closed locally). */
  connectionClosed(error: NetpollError | null): void
}

/**
 * What a connection needs from the engine that routes its events (the engine implements it):
 * the native calls for one connection, and the batched write.
 * @internal
 */
export interface ConnectionHost<C> {
  readonly config: Config
  /** Queues `conn`'s flushed output for the engine's next batched write. */
  markDirty(conn: C): void
  /** Writes every queued connection's output now. */
  flushDirty(): void
  /** Closes the native connection (`abort`: drop queued output). */
  closeNative(conn: C, abort: boolean): void
  /** The connection closed: the engine stops routing to it. */
  forget(conn: C): void
  /** Stops (`true`) or resumes reading from the socket. */
  pauseRead(conn: C, paused: boolean): void
  /** Closes with RST (`SO_LINGER` 0), dropping queued output. */
  resetNative(conn: C): void
  /** Half-closes: FIN after the output written so far (see `Connection.shutdownWrite`). */
  shutdownWrite(conn: C): void
  /** TCP_NODELAY (`undefined`: leave as is) and keepalive (`ms` idle; 0 off, negative: leave as is). */
  setSocketOptions(conn: C, noDelay: boolean | undefined, keepAliveMs: number): void
  /** Arms (`ms` > 0) or cancels timer `kind` (read, write, idle). */
  setTimer(conn: C, kind: number, ms: number): void
  /** The socket's two ends. */
  addresses(conn: C): { local: NetAddress | null; remote: NetAddress | null }
  /** The TLS state of a TLS connection (`null` for a plain one). */
  tlsInfo(conn: C): TlsState | null
  /** Something that holds the process opened (+1) or let go (−1). */
  retain(delta: number): void
}

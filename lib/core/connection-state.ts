/**
 * The compact per-connection state of a `Connection`: its yes/no state as bits of one number,
 * the callbacks its owner shares between all its connections, and the state that only some
 * connections ever need, made on first need. A server of many idle connections pays for each
 * connection's fields; these keep them few.
 * @internal
 */
import type { ConnectionSink, NetAddress } from './connection-host'
import type { NetpollError } from './errors'
import type { ReadDeadline } from './read-deadline'
import type { TlsState } from './tls'

/** The peer has not closed, reset or failed: usable (`isActive`). */
export const ACTIVE = 1
/** Closed (the close path ran). */
export const CLOSED = 2
/** The peer's FIN was read. */
export const READ_CLOSED = 4
/** This side was half-closed (`shutdownWrite`). */
export const WRITE_SHUT = 8
/** A handler is running. */
export const RUNNING = 16
/** Reading is paused (read backpressure). */
export const READ_PAUSED = 32
/** Holds the process while open (counted in the engine; see `unref()`). */
export const REFED = 64
/** A dialed connection: closed when the peer finished, even without a handler. */
export const CLOSE_ON_PEER_CLOSE = 128
/** Half-open allowed (`allowHalfOpen`). */
export const ALLOW_HALF_OPEN = 256
/** The engine holds this connection for its next batched write. */
export const WRITE_QUEUED = 512

/**
 * Callbacks an owner (an `EventLoop`) gives to every connection it serves: one object per
 * owner, shared, instead of three fields per connection.
 */
export interface ConnectionHooks<C> {
  /** Called when the peer finished sending (server: onDisconnect). */
  readonly onPeerClosed: ((conn: C) => void) | null
  /**
   * Called when a handler throws or rejects (`handler` true), or when the connection is
   * closed for an error of its own that the server reports (a read timeout passed with no
   * awaited read to reject: `handler` false).
   */
  readonly onHandlerError: ((error: unknown, conn: C, handler: boolean) => void) | null
  /** Called when the connection closes, before the close callbacks (the server's count). */
  readonly onClosed: ((conn: C, error: NetpollError | null) => void) | null
}

/** A socket's two ends (`null`: unknown, e.g. closed before first asked). */
export interface SocketEnds {
  local: NetAddress | null
  remote: NetAddress | null
}

/** The ends of a connection closed before they were asked: shared, frozen. */
export const NO_ENDS: SocketEnds = Object.freeze({ local: null, remote: null })

/** The state of a connection that most connections never need, made on first need. */
export class ConnectionExtras<C> {
  /** The error the connection closed with (the bridge reports it when it takes over late). */
  closeError: NetpollError | null = null
  /** The read deadline, made when a read timeout is first set. */
  deadline: ReadDeadline | null = null
  closeCallbacks: ((conn: C, error: NetpollError | null) => void)[] | null = null
  addrs: SocketEnds | null = null
  /** `tls`, once asked (`undefined`: not yet). */
  tlsState: TlsState | null | undefined = undefined
  /** The bridge that takes this connection's bytes, FIN and close (lib/net). */
  sink: ConnectionSink | null = null
}

/**
 * Runs a closed connection's close callbacks in order; one that throws does not stop the
 * others (its error is rethrown from a microtask, as an uncaught exception).
 */
export function runCloseCallbacks<C>(
  callbacks: ((conn: C, error: NetpollError | null) => void)[],
  conn: C,
  error: NetpollError | null,
): void {
  for (const cb of callbacks) {
    try {
      cb(conn, error)
    } catch (err) {
      queueMicrotask(() => {
        throw err
      })
    }
  }
}

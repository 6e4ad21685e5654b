/**
 * Errors of the bridge in `net`'s terms: the core's codes that `net` spells differently are
 * translated; OS errors (`ECONNRESET`, `EPIPE`, `ECONNREFUSED`, `ETIMEDOUT`, …) keep their
 * `code/errno/syscall/address/port`.
 * @internal
 */
import { codeError, NetpollError } from '../core/errors'

/** A connection error as a net socket reports it (`undefined`: the socket was destroyed). */
export function streamError(e: NetpollError | undefined): NetpollError {
  if (e === undefined || e.code === 'ERR_CONN_CLOSED') {
    return codeError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed')
  }
  return e
}

/** net's EPIPE for a write after the peer ended and half-open is off. */
export function endedByPeer(): NetpollError {
  return codeError('EPIPE', 'This socket has been ended by the other party')
}

/** net's error for writes and `end()` still waiting for a connect when the socket is destroyed. */
export function closedBeforeConnection(): NetpollError {
  return codeError('ERR_SOCKET_CLOSED_BEFORE_CONNECTION', 'Socket closed before the connection was established')
}

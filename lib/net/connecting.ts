/**
 * How a {@link Socket} connects: `net`'s argument forms and options, over the core's dialer.
 * @internal
 */
import { isIP } from 'node:net'
import { dial } from '../client/dialer'
import type { Connection } from '../core/connection'
import type { Network } from '../core/listener'
import type { NetpollError } from '../core/errors'
import type { TlsClientOptions } from '../core/tls'

/** Options of `new Socket()` (and of the sockets `connect()` and the server create). */
export interface SocketOptions {
  /**
   * When the peer ends its side, keep ours writable until `end()` (default false: the
   * socket ends its side too, as `net` does).
   */
  allowHalfOpen?: boolean
  /** Bytes buffered on the readable side before reading from the kernel stops. Default 64 KiB. */
  readableHighWaterMark?: number
  /** Bytes queued for writing above which `write()` returns false. Default 16 KiB. */
  writableHighWaterMark?: number
}

/**
 * What {@link startConnect} needs of the socket it connects (the `Socket` class implements it;
 * named here so that this module does not depend on the class). @internal
 */
export interface ConnectingSocket {
  connecting: boolean
  conn: Connection | null
  cancelConnect: AbortController | null
  readonly destroyed: boolean
  setTimeout(ms: number): unknown
  setNoDelay(noDelay?: boolean): unknown
  setKeepAlive(enable?: boolean, initialDelay?: number): unknown
  once(event: string, listener: (...args: unknown[]) => void): unknown
  emit(event: string, ...args: unknown[]): boolean
  destroy(error?: Error): unknown
  attach(conn: Connection): void
  startReading(paused: boolean): void
}

/** Options of {@link connect} (`net.connect`'s names). */
export interface ConnectOptions extends SocketOptions {
  /** TCP port to connect to. */
  port?: number | string
  /** Host name or IP. Default `'localhost'`. */
  host?: string
  /** Unix socket path (instead of `port`/`host`). */
  path?: string
  /** Calls `setTimeout(timeout)` on the socket (an inactivity `'timeout'`, not a connect limit). */
  timeout?: number
  /** Local IP to bind before connecting. */
  localAddress?: string
  /** Local port to bind before connecting (with `localAddress`). */
  localPort?: number
  /** IP family: 4, 6 or 0 (either). */
  family?: number
  /** `TCP_NODELAY`. Default true (bridge sockets). */
  noDelay?: boolean
  /** TCP keepalive. Default false. */
  keepAlive?: boolean
  /** Keepalive idle time in ms (0: the OS default). */
  keepAliveInitialDelay?: number
  /** Aborting it destroys the socket with an `AbortError`. */
  signal?: AbortSignal
  /**
   * Connect with TLS (Node's `tls.connect` options, `servername` defaulting to `host`):
   * `connect()` returns a `TLSSocket`, which emits `'secureConnect'` after `'connect'`, both
   * once the handshake completed; a failed handshake is an `'error'` with Node's code.
   */
  tls?: TlsClientOptions
}

export function invalidArg(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_VALUE' })
}

/** `net`'s argument forms → options and the `'connect'` listener. */
export function normalizeConnectArgs(args: unknown[]): [ConnectOptions, (() => void) | undefined] {
  const last = args[args.length - 1]
  const cb = typeof last === 'function' ? (last as () => void) : undefined
  const first = args[0]
  if (first !== null && typeof first === 'object') return [{ ...(first as ConnectOptions) }, cb]
  if (typeof first === 'string' && !/^\d+$/.test(first)) return [{ path: first }, cb]
  const host = typeof args[1] === 'string' ? args[1] : undefined
  return [{ port: first as number | string, host }, cb]
}

/** The network and address the dialer takes for `o`. */
function target(o: ConnectOptions): { network: Network; address: string } {
  if (o.path !== undefined) return { network: 'unix', address: o.path }
  const port = Number(o.port)
  if (o.port === undefined || o.port === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw Object.assign(new RangeError(`Port should be >= 0 and < 65536. Received ${String(o.port)}.`), {
      code: 'ERR_SOCKET_BAD_PORT',
    })
  }
  const host = o.host || 'localhost'
  const network: Network = o.family === 4 ? 'tcp4' : o.family === 6 ? 'tcp6' : 'tcp'
  return { network, address: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}` }
}

/** net's AbortError for an aborted `signal`. */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR', cause: signal.reason })
}

/** Starts the connect of `socket` (see `Socket.connect`). @internal */
export function startConnect<S extends ConnectingSocket>(socket: S, o: ConnectOptions, cb?: () => void): S {
  if (socket.connecting || socket.conn !== null) throw Object.assign(new Error('Socket is already connected'), { code: 'ERR_SOCKET_CONNECTED' })
  const { network, address } = target(o)
  if (o.timeout) socket.setTimeout(o.timeout)
  if (cb) socket.once('connect', cb)
  if (o.noDelay === false) socket.setNoDelay(false)
  if (o.keepAlive) socket.setKeepAlive(true, o.keepAliveInitialDelay ?? 0)
  const signal = o.signal
  if (signal !== undefined) {
    if (signal.aborted) {
      process.nextTick(() => socket.destroy(abortError(signal)))
      return socket
    }
    const onAbort = (): void => void socket.destroy(abortError(signal))
    signal.addEventListener('abort', onAbort, { once: true })
    socket.once('close', () => signal.removeEventListener('abort', onAbort))
  }
  socket.connecting = true
  // Destroying the socket while it connects cancels the dial (no socket left behind).
  const cancel = new AbortController()
  socket.cancelConnect = cancel
  let local = o.localAddress
  if (local !== undefined && o.localPort) local = isIP(local) === 6 ? `[${local}]:${o.localPort}` : `${local}:${o.localPort}`
  // Half-open at the core: the socket decides what the peer's FIN means (it may come
  // before the socket takes the connection over).
  dial(network, address, { localAddress: local, allowHalfOpen: true, signal: cancel.signal, tls: o.tls }).then(
    (conn: Connection) => {
      socket.cancelConnect = null
      socket.attach(conn)
      if (socket.destroyed) return
      socket.emit('connect')
      if (o.tls) socket.emit('secureConnect')
      socket.emit('ready')
      socket.startReading(false)
    },
    (e: NetpollError) => {
      socket.cancelConnect = null
      socket.connecting = false
      socket.destroy(e)
    },
  )
  return socket
}


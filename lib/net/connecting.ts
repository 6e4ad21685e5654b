/**
 * How a {@link Socket} connects: `net`'s argument forms and options, over the core's dialer.
 * @internal
 */
import { ADDRCONFIG, lookup as dnsLookup, LookupAddress } from 'node:dns'
import { getDefaultAutoSelectFamily, isIP, LookupFunction } from 'node:net'
import { dial } from '../client/dialer'
import type { Connection } from '../core/connection'
import type { Network } from '../core/listener'
import { checkMs, NetpollError } from '../core/errors'
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

/** netpoll's own options of a connection (`connect()`'s and the server's). */
export interface ConnectionTimeouts {
  /**
   * netpoll's own: the shard closes the connection after this many ms without a byte read or
   * written (0 = never, the default); the socket is destroyed with `ERR_IDLE_TIMEOUT`. Unlike
   * `setTimeout()`, a real close, timed in the shard without a JS timer.
   */
  idleTimeout?: number
  /**
   * netpoll's own: when written output makes no progress for this many ms (the peer stopped
   * reading), the connection is closed and the socket destroyed with `ERR_WRITE_TIMEOUT`
   * (0 = never, the default). A slow but steady reader is never cut.
   */
  writeTimeout?: number
}

/** Throws a RangeError for a bad `idleTimeout`/`writeTimeout` (before anything connects). @internal */
export function checkConnectionOptions(o: ConnectionTimeouts): void {
  if (o.idleTimeout !== undefined) checkMs(o.idleTimeout)
  if (o.writeTimeout !== undefined) checkMs(o.writeTimeout)
}

/** Applies netpoll's own timeouts of `o` to a new connection. @internal */
export function applyConnectionOptions(conn: Connection, o: ConnectionTimeouts): void {
  if (o.idleTimeout) conn.setIdleTimeout(o.idleTimeout)
  if (o.writeTimeout) conn.setWriteTimeout(o.writeTimeout)
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
export interface ConnectOptions extends SocketOptions, ConnectionTimeouts {
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
  /** Resolves a host name (`dns.lookup`'s signature). Default `dns.lookup`. */
  lookup?: LookupFunction
  /** `getaddrinfo` flags for the lookup (`dns.ADDRCONFIG` by default when `family` is unset). */
  hints?: number
  /**
   * As `net`: false resolves one address only. Otherwise (Node's default) every address is
   * resolved and tried in order, one after the other (not raced as `net`'s Happy Eyeballs).
   */
  autoSelectFamily?: boolean
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

/** What {@link startConnect} dials: a socket path, or a host (name or IP) and port. */
interface Target {
  network: Network
  host: string
  port: number
}

/** The network and host/port (or path) to connect to for `o`. */
function target(o: ConnectOptions): Target {
  if (o.path !== undefined) return { network: 'unix', host: o.path, port: 0 }
  const port = Number(o.port)
  if (o.port === undefined || o.port === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw Object.assign(new RangeError(`Port should be >= 0 and < 65536. Received ${String(o.port)}.`), {
      code: 'ERR_SOCKET_BAD_PORT',
    })
  }
  if (o.lookup !== undefined && typeof o.lookup !== 'function') {
    throw Object.assign(new TypeError('The "options.lookup" property must be of type function.'), { code: 'ERR_INVALID_ARG_TYPE' })
  }
  const network: Network = o.family === 4 ? 'tcp4' : o.family === 6 ? 'tcp6' : 'tcp'
  return { network, host: o.host || 'localhost', port }
}

/** The dialer's address for an IP (or path). */
function dialAddress(t: Target, ip: string): string {
  if (t.network === 'unix') return ip
  return isIP(ip) === 6 ? `[${ip}]:${t.port}` : `${ip}:${t.port}`
}

/**
 * Resolves a host name as `net` does, emitting `'lookup'` (err, address, family, host) for
 * each address found (every address when the family is unset and `autoSelectFamily` is on,
 * as by default; one otherwise), or once with the error. `done` gets the IPs to try in
 * order, or nothing when the lookup failed (the socket is destroyed) or the socket stopped
 * connecting meanwhile.
 */
function resolve(socket: ConnectingSocket, t: Target, o: ConnectOptions, done: (ips: string[]) => void): void {
  const family = o.family === 4 || o.family === 6 ? o.family : 0
  const all = family === 0 && o.localAddress === undefined && (o.autoSelectFamily ?? getDefaultAutoSelectFamily())
  const hints = o.hints ?? (family === 0 ? ADDRCONFIG : 0)
  const lookup = o.lookup ?? (dnsLookup as LookupFunction)
  lookup(t.host, { family, hints, all }, (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], fam?: number) => {
    if (!socket.connecting) return
    if (err) {
      socket.emit('lookup', err, undefined, undefined, t.host)
      process.nextTick(() => socket.destroy(err))
      return
    }
    const found = Array.isArray(address) ? address : [{ address, family: fam ?? isIP(address) }]
    for (const a of found) socket.emit('lookup', null, a.address, a.family, t.host)
    done(found.map((a) => a.address))
  })
}

/** net's AbortError for an aborted `signal`. */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR', cause: signal.reason })
}

/** Starts the connect of `socket` (see `Socket.connect`). @internal */
export function startConnect<S extends ConnectingSocket>(socket: S, o: ConnectOptions, cb?: () => void): S {
  if (socket.connecting || socket.conn !== null) throw Object.assign(new Error('Socket is already connected'), { code: 'ERR_SOCKET_CONNECTED' })
  const t = target(o)
  checkConnectionOptions(o)
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
  const start = (ips: string[]): void => void dialInOrder(socket, t, o, ips, local, cancel.signal)
  if (t.network === 'unix' || isIP(t.host) !== 0) start([t.host])
  else resolve(socket, t, o, start)
  return socket
}

/** Dials `ips` in order; the socket takes the first connection made, or the first error. */
async function dialInOrder(socket: ConnectingSocket, t: Target, o: ConnectOptions, ips: string[], local: string | undefined, signal: AbortSignal): Promise<void> {
  let first: unknown = null
  let conn: Connection | null = null
  for (const ip of ips) {
    try {
      // Half-open at the core: the socket decides what the peer's FIN means (it may come
      // before the socket takes the connection over).
      // TLS: the name checked (and sent as SNI) is the host given, not the address dialled.
      const tls = o.tls && { ...o.tls, servername: o.tls.servername ?? t.host }
      conn = await dial(t.network, dialAddress(t, ip), { localAddress: local, allowHalfOpen: true, signal, tls })
      break
    } catch (e) {
      first ??= e
      if ((e as NetpollError).code === 'ABORT_ERR' || signal.aborted) break
      // A failed handshake is the server's answer: the next address would give the same.
      if (o.tls && (e as NetpollError).syscall !== 'connect') break
    }
  }
  socket.cancelConnect = null
  if (conn !== null) {
    applyConnectionOptions(conn, o)
    socket.attach(conn)
    if (socket.destroyed) return
    socket.emit('connect')
    if (o.tls) socket.emit('secureConnect')
    socket.emit('ready')
    socket.startReading(false)
    return
  }
  socket.connecting = false
  // A lookup function may answer with no address at all.
  first ??= Object.assign(new Error(`getaddrinfo ENOTFOUND ${t.host}`), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: t.host })
  socket.destroy(first as Error)
}

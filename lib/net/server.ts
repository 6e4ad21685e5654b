/**
 * {@link Server}: a `net.Server`-compatible server whose `'connection'` hands out
 * {@link Socket}s over netpoll connections.
 */
import { lookup } from 'node:dns/promises'
import { EventEmitter } from 'node:events'
import { chmodSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import type { Connection } from '../core/connection'
import type { NetpollError } from '../core/errors'
import { Listener, Network } from '../core/listener'
import type { SecureContext } from '../core/secure-context'
import type { SecureContextOptions, TlsIdentity, TlsServerOptions } from '../core/secure-context'
import { applyConnectionOptions, checkConnectionOptions, ConnectionTimeouts } from './connecting'
import { Socket, SocketOptions } from './socket'
import { acceptedSocket, addContext, listenerTls, serverTls, ServerTls, setSecureContext } from './tls-server'

/** Options of {@link createServer} (`net.createServer`'s names). */
export interface ServerOptions extends SocketOptions, ConnectionTimeouts {
  /** Accepted sockets start paused: no byte is read until `resume()`/`read()`. Default false. */
  pauseOnConnect?: boolean
  /** `TCP_NODELAY` on accepted sockets. Default true (unlike `net`: stacks that wrap a socket never set it). */
  noDelay?: boolean
  /** TCP keepalive on accepted sockets. Default false. */
  keepAlive?: boolean
  /** Keepalive idle time in ms (0: the OS default). */
  keepAliveInitialDelay?: number
  /**
   * Serve TLS (Node's `tls.createServer`): the shards run the handshakes; each completed one
   * is a `'secureConnection'` with a `TLSSocket` (no `'connection'`), a failed one a
   * `'tlsClientError'`. Settings or a shared `SecureContext` (see `createSecureContext`).
   */
  tls?: TlsServerOptions | SecureContext
}

/** Options of {@link Server.listen}. */
export interface ListenOptions {
  /** TCP port (0 or omitted: any free port). */
  port?: number | string
  /** Host or IP to bind. Default: every interface (`::`, dual-stack, or `0.0.0.0`). */
  host?: string
  /** Unix socket path (instead of `port`/`host`). */
  path?: string
  /** Kernel accept-queue length. Default 511, as `net`. */
  backlog?: number
  /** For `::`: IPv6 only (no IPv4-mapped). Default false. */
  ipv6Only?: boolean
  /**
   * Accepted for `net` compatibility and always in effect: a netpoll server never shares its
   * listening socket with cluster workers (each `listen()` binds its own).
   */
  exclusive?: boolean
  /** Aborting it closes the server, as `server.close()` (already aborted: closed before `'listening'`). */
  signal?: AbortSignal
  /**
   * Unix socket: readable by every user, as `net` (Node 20 adds `a+r` to the file's mode;
   * from libuv 1.51, Node 22 on, the mode becomes exactly `a=r`, or `a=rw` with `writableAll`).
   */
  readableAll?: boolean
  /** Unix socket: writable by every user (connecting needs it), as `net`: see `readableAll`. */
  writableAll?: boolean
}

/** An address as `server.address()` returns it for TCP. */
export interface ServerAddress {
  /** IP address bound (`'::'` for every interface, dual-stack). */
  address: string
  /** `'IPv4'` or `'IPv6'`. */
  family: string
  /** Port bound (the one the OS chose for port 0). */
  port: number
}

type ConnectionListener = (socket: Socket) => void

/** Whether this Node's libuv sets a pipe's mode to exactly the bits asked for (1.51 on), or adds them. */
const UV_CHMOD_EXACT = ((): boolean => {
  const [major, minor] = process.versions.uv.split('.').map(Number)
  return major > 1 || minor >= 51
})()

/** `listen({ readableAll, writableAll })` on a Unix socket file, as this Node's `net` does it. */
function chmodAll(path: string, readable: boolean, writable: boolean): void {
  const bits = (readable ? 0o444 : 0) | (writable ? 0o222 : 0)
  chmodSync(path, UV_CHMOD_EXACT ? bits : (statSync(path).mode & 0o777) | bits)
}

function onSocketClose(this: Socket): void {
  ;(this.owner as Server | null)?.socketClosed(this)
}

/**
 * A server shaped like `net.Server`. Events: `'listening'`, `'connection'` (a
 * {@link Socket}), `'error'` (`EADDRINUSE`, `EACCES`, … with `code/errno/syscall: 'listen'/
 * address/port`), `'drop'` (a connection over `maxConnections`), `'close'` (after `close()`,
 * once every connection has closed).
 */
export class Server extends EventEmitter {
  /** Connections beyond this many are closed at once (`'drop'`). Default: no limit. */
  maxConnections: number | undefined = undefined
  private readonly options: ServerOptions
  private listener: Listener | null = null
  private readonly sockets = new Set<Socket>()
  private closing = false
  private refed = true
  private readonly tls: ServerTls | null
  /** Counts `close()` calls: a host lookup that resolves after one does not bind. */
  private closes = 0

  /**
   * Creates a server; `connectionListener` is added for `'connection'` (`'secureConnection'`
   * with `tls`).
   */
  constructor(options: ServerOptions = {}, connectionListener?: ConnectionListener) {
    super()
    checkConnectionOptions(options)
    this.options = { ...options }
    this.tls = serverTls(options.tls)
    if (connectionListener) this.on(this.tls ? 'secureConnection' : 'connection', connectionListener)
  }

  /** TLS servers: replaces the certificates and settings for new handshakes (Node's name). */
  setSecureContext(options: SecureContextOptions): void {
    setSecureContext(this.tls, options)
  }

  /** TLS servers: serves `context`'s certificates to clients sending `hostname` as SNI. */
  addContext(hostname: string, context: SecureContext | TlsIdentity): void {
    addContext(this.tls, hostname, context)
  }

  /** Whether the server is listening. */
  get listening(): boolean {
    return this.listener !== null
  }

  /**
   * Starts listening, like `net.Server.listen()`: `(port[, host][, backlog][, cb])`,
   * `(path[, backlog][, cb])` or `(options[, cb])`. `'listening'` follows (and `cb`), or
   * `'error'`.
   */
  listen(options: ListenOptions, cb?: () => void): this
  listen(port?: number, host?: string, backlog?: number, cb?: () => void): this
  listen(port: number, host: string, cb?: () => void): this
  listen(port: number, cb?: () => void): this
  listen(path: string, backlog?: number, cb?: () => void): this
  listen(...args: unknown[]): this {
    const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined
    let o: ListenOptions
    if (args[0] !== null && typeof args[0] === 'object') o = { ...(args[0] as ListenOptions) }
    else if (typeof args[0] === 'string' && !/^\d+$/.test(args[0])) o = { path: args[0], backlog: args[1] as number }
    else {
      const host = typeof args[1] === 'string' ? args[1] : undefined
      const backlog = typeof args[1] === 'number' ? args[1] : (args[2] as number | undefined)
      o = { port: args[0] as number | undefined, host, backlog }
    }
    if (this.listener !== null) {
      throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' })
    }
    if (cb) this.once('listening', cb)
    this.closing = false
    this.closeOnAbort(o.signal)
    const host = o.host
    if (o.path === undefined && host !== undefined && host !== '' && isIP(host) === 0) {
      const closes = this.closes
      lookup(host).then(
        (a) => closes === this.closes && this.bind({ ...o, host: a.address }),
        (e: NodeJS.ErrnoException) => closes === this.closes && this.emit('error', e),
      )
    } else {
      this.bind(o)
    }
    return this
  }

  /** `listen({ signal })`: aborting closes the server (as `net`, on the next tick if already aborted). */
  private closeOnAbort(signal: AbortSignal | undefined): void {
    if (signal === undefined) return
    if (typeof signal !== 'object' || !('aborted' in signal)) {
      throw Object.assign(new TypeError('The "options.signal" property must be an instance of AbortSignal.'), { code: 'ERR_INVALID_ARG_TYPE' })
    }
    const onAbort = (): void => void this.close()
    if (signal.aborted) {
      process.nextTick(onAbort)
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    this.once('close', () => signal.removeEventListener('abort', onAbort))
  }

  private bind(o: ListenOptions): void {
    let network: Network = 'unix'
    let address = o.path ?? ''
    if (o.path === undefined) {
      const port = Number(o.port ?? 0)
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw Object.assign(new RangeError(`options.port should be >= 0 and < 65536. Received ${String(o.port)}.`), {
          code: 'ERR_SOCKET_BAD_PORT',
        })
      }
      const host = o.host ?? ''
      network = isIP(host) === 6 ? 'tcp6' : isIP(host) === 4 ? 'tcp4' : 'tcp'
      address = network === 'tcp6' ? `[${host}]:${port}` : `${host}:${port}`
    }
    let listener: Listener | null = null
    try {
      listener = new Listener(network, address, { backlog: o.backlog ?? 511, ipv6Only: o.ipv6Only, tls: listenerTls(this.tls) })
      if (o.path !== undefined && (o.readableAll || o.writableAll)) chmodAll(o.path, o.readableAll === true, o.writableAll === true)
    } catch (e) {
      listener?.close()
      const err = e as NetpollError
      if (err.syscall === 'bind') err.syscall = 'listen' // net reports the listen
      process.nextTick(() => this.emit('error', err))
      return
    }
    this.listener = listener
    if (!this.refed) listener.unref()
    listener.onError = (e) => this.emit('error', e)
    if (this.tls) listener.onTlsClientError = (e) => this.emit('tlsClientError', e, null)
    listener.attach((conn) => this.accept(conn))
    // Not if the server was closed meanwhile (an aborted signal closes it first, as in net).
    process.nextTick(() => this.listener === listener && this.emit('listening'))
  }

  private accept(conn: Connection): void {
    if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) {
      const l = conn.localAddress
      const r = conn.remoteAddress
      conn.close()
      this.emit('drop', {
        localAddress: l?.address,
        localPort: l?.port,
        localFamily: l?.family,
        remoteAddress: r?.address,
        remotePort: r?.port,
        remoteFamily: r?.family,
      })
      return
    }
    const o = this.options
    const { socket: s, event } = acceptedSocket(this.tls, o)
    const socket = s as Socket & { server: Server }
    socket.server = this // as net sets it (node:http replaces it with its own server)
    socket.owner = this
    if (o.noDelay === false) socket.setNoDelay(false)
    if (o.keepAlive) socket.setKeepAlive(true, o.keepAliveInitialDelay ?? 0)
    applyConnectionOptions(conn, o)
    socket.attach(conn)
    socket.startReading(o.pauseOnConnect === true)
    this.sockets.add(socket)
    socket.on('close', onSocketClose)
    this.emit(event, socket)
  }

  /** @internal A socket of this server closed. */
  socketClosed(socket: Socket): void {
    this.sockets.delete(socket)
    if (this.closing && this.sockets.size === 0 && this.listener === null) this.emitClose()
  }

  private emitClose(): void {
    this.closing = false
    process.nextTick(() => this.emit('close'))
  }

  /** The bound address: `{ address, family, port }`, the socket path, or null when not listening. */
  address(): ServerAddress | string | null {
    const l = this.listener
    if (l === null) return null
    const a = l.address
    if (a.port === undefined) return a.address
    return { address: a.address, family: a.family, port: a.port }
  }

  /**
   * Stops accepting; `'close'` follows once every connection has closed (existing ones are
   * not closed: end or destroy them, e.g. with node:http's `closeIdleConnections()`).
   * `cb` runs on `'close'`, with `ERR_SERVER_NOT_RUNNING` if the server was not listening.
   */
  close(cb?: (error?: Error) => void): this {
    if (cb) {
      if (this.listener === null) {
        this.once('close', () => cb(Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' })))
      } else this.once('close', cb)
    }
    this.closing = true
    this.closes++
    const l = this.listener
    this.listener = null
    l?.close()
    if (this.sockets.size === 0) this.emitClose()
    return this
  }

  /**
   * Lets the process exit while the server listens, as `net.Server.unref()` (its open
   * sockets still hold the process: unref them too). Applies to a later `listen()` too.
   * Idempotent; returns the server.
   */
  unref(): this {
    this.refed = false
    this.listener?.unref()
    return this
  }

  /** Undoes {@link Server.unref}: the listening server keeps the process alive again (the default). */
  ref(): this {
    this.refed = true
    this.listener?.ref()
    return this
  }

  /** Calls `cb(null, count)` with the number of open connections. */
  getConnections(cb: (error: Error | null, count: number) => void): this {
    const n = this.sockets.size
    process.nextTick(cb, null, n)
    return this
  }
}

/**
 * Creates a {@link Server} like `net.createServer([options][, connectionListener])`.
 * Accepted sockets have `TCP_NODELAY` on unless `noDelay: false`.
 */
export function createServer(options?: ServerOptions | ConnectionListener, connectionListener?: ConnectionListener): Server {
  if (typeof options === 'function') return new Server({}, options)
  return new Server(options ?? {}, connectionListener)
}

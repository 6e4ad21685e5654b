/**
 * The client side (netpoll's `Dialer`): non-blocking connects run on a shard, with a
 * timeout that holds for every network (Unix sockets included) and an AbortSignal.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { Connection } from '../core/connection'
import { ALLOW_HALF_OPEN, CLOSE_ON_PEER_CLOSE } from '../core/connection-state'
import { getEngine } from '../core/engine'
import { codeError, NetpollError } from '../core/errors'
import type { Network } from '../core/listener'
import type { TlsClientOptions } from '../core/tls'

/** Options of {@link dial} and {@link Dialer}. */
export interface DialOptions {
  /**
   * Give up after this many ms with `ETIMEDOUT` (0 = the OS's own limit). Default 0.
   *
   * It holds for Unix sockets too: a Unix listener whose backlog is full refuses a
   * non-blocking connect at once (`EAGAIN`, Linux), so the dial keeps trying (after 5 ms,
   * backing off to every 50 ms) until it connects or the timeout passes. With no timeout it
   * keeps trying as long as a blocking connect would wait: until it connects, the listener
   * goes away (`ECONNREFUSED`, `ENOENT`) or `signal` aborts it.
   */
  timeout?: number
  /**
   * Aborting it cancels the dial with `ABORT_ERR`; no connection appears afterwards. The
   * native connect is closed at once (in both engine modes), so a cancelled dial keeps
   * neither a socket nor the process alive.
   */
  signal?: AbortSignal
  /**
   * Local address to bind before connecting (`ip` or `ip:port`). When it cannot be bound,
   * the error has `syscall: 'bind'` and this address and port (`EADDRNOTAVAIL`,
   * `EADDRINUSE`, `EACCES`).
   */
  localAddress?: string
  /**
   * Half-open, as `net`'s `allowHalfOpen`: when the peer finishes sending (FIN), the
   * connection stays open and writable until it is closed or half-closed with
   * `shutdownWrite()`. Default false: it is closed then (buffered input stays readable).
   */
  allowHalfOpen?: boolean
  /** TCP_NODELAY (TCP only). Default true. */
  noDelay?: boolean
  /**
   * Dial TLS: the shard runs the handshake (rustls) and the connection is handed over once
   * it completed (a failed handshake rejects the dial with Node's code, e.g.
   * `ERR_TLS_CERT_ALTNAME_INVALID`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`). `servername`
   * defaults to the host in `address`; `ca` to Node's `tls.rootCertificates`. Dials with the
   * same options (a `Dialer`'s, a pool's, or equal ones) share a session cache, so a second
   * dial to the same server name resumes the first one's session.
   */
  tls?: TlsClientOptions
  /** TCP keepalive: `false` (default) or the idle time in ms before probes start. */
  keepAlive?: number | false
}

function splitHostPort(address: string): { host: string; port: string } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]*):(\d+)$/.exec(address)
  if (!m) throw codeError('ERR_INVALID_ADDRESS', `expected host:port, got '${address}'`)
  return { host: m[1], port: m[2] }
}

async function resolveTargets(network: Network, address: string): Promise<string[]> {
  if (network === 'unix') return [address]
  const { host, port } = splitHostPort(address)
  const family = network === 'tcp4' ? 4 : network === 'tcp6' ? 6 : 0
  if (host === '' || isIP(host)) return [host.includes(':') ? `[${host}]:${port}` : `${host || 'localhost'}:${port}`]
  const found = await lookup(host, { all: true, family }).catch((e: NodeJS.ErrnoException) => {
    throw Object.assign(codeError(e.code ?? 'ENOTFOUND', `getaddrinfo ${e.code ?? 'ENOTFOUND'} ${host}`), {
      syscall: 'getaddrinfo',
      address: host,
    })
  })
  return found.map((a) => (a.family === 6 ? `[${a.address}]:${port}` : `${a.address}:${port}`))
}

function abortError(): NetpollError {
  const e = codeError('ABORT_ERR', 'the dial was aborted')
  e.name = 'AbortError'
  return e
}

/** `ip` → `ip:0` (any port), `v6` → `[v6]:0`; `ip:port` and `[v6]:port` unchanged. */
function withPort(local: string | undefined): string | undefined {
  if (local === undefined || /^\[.*\]:\d+$/.test(local) || /^[^:]*:\d+$/.test(local)) return local
  return isIP(local) === 6 ? `[${local}]:0` : `${local}:0`
}

/** Adds the dialed address (and port, TCP) to a connect error that lacks them. */
function withTarget(e: NetpollError, network: Network, target: string): NetpollError {
  if (e.address !== undefined) return e
  if (network === 'unix') {
    e.address = target
    e.message = `${e.message} ${target}`
    return e
  }
  const { host, port } = splitHostPort(target)
  e.address = host
  e.port = Number(port)
  e.message = `${e.message} ${target}`
  return e
}

function dialOne(network: Network, target: string, options: DialOptions, host: string): Promise<Connection> {
  return new Promise<Connection>((resolve, reject) => {
    const signal = options.signal
    let cancel: (() => void) | null = null
    const onAbort = (): void => {
      reject(abortError())
      cancel?.()
    }
    const done = (): void => signal?.removeEventListener('abort', onAbort)
    // The signal may have been aborted while the address was being resolved.
    if (signal?.aborted) {
      reject(abortError())
      return
    }
    try {
      cancel = getEngine().dial(network, target, withPort(options.localAddress), options.timeout ?? 0, {
        conn: null,
        cancelled: false,
        resolve: (conn) => {
          done()
          conn.setFlag(CLOSE_ON_PEER_CLOSE, true)
          conn.setFlag(ALLOW_HALF_OPEN, options.allowHalfOpen === true)
          if (network !== 'unix') {
            const ka = options.keepAlive
            getEngine().setSocketOptions(conn, options.noDelay ?? true, ka === undefined || ka === false ? 0 : ka)
          }
          resolve(conn)
        },
        reject: (e) => {
          done()
          reject(withTarget(e, network, target))
        },
      }, options.tls && { options: options.tls, host })
    } catch (e) {
      reject(e)
      return
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Connects to `address` (`host:port`, `[v6]:port`, or a socket path for `unix`). Host names
 * are resolved and every address is tried in order; if all fail, the first error is
 * reported. Errors: `ECONNREFUSED`, `ETIMEDOUT`, `ENOENT` (missing socket file), `EACCES`,
 * `ABORT_ERR`, `ENOTFOUND`, each with `address`/`port` where they apply (the dialed ones;
 * for a `localAddress` that cannot be bound, `syscall: 'bind'` and the local ones).
 */
export async function dial(network: Network, address: string, options: DialOptions = {}): Promise<Connection> {
  if (!['tcp', 'tcp4', 'tcp6', 'unix'].includes(network)) {
    throw codeError('ERR_INVALID_ADDRESS', `network must be tcp, tcp4, tcp6 or unix, got '${network}'`)
  }
  if (options.signal?.aborted) throw abortError()
  const targets = await resolveTargets(network, address)
  // The TLS servername by default: the host as given (Node's `tls.connect` default).
  const host = network === 'unix' || !options.tls ? '' : splitHostPort(address).host || 'localhost'
  let first: unknown = null
  for (const target of targets) {
    try {
      return await dialOne(network, target, options, host)
    } catch (e) {
      if ((e as NetpollError).code === 'ABORT_ERR') throw e
      first ??= e
    }
  }
  throw first
}

/** A dialer with default options (netpoll's `NewDialer`). */
export class Dialer {
  /** Creates a dialer whose dials use `options` unless overridden. */
  constructor(private readonly options: DialOptions = {}) {}

  /** Connects like {@link dial}, with this dialer's options and `timeout` ms if given. */
  dialConnection(network: Network, address: string, timeout?: number): Promise<Connection> {
    return dial(network, address, timeout === undefined ? this.options : { ...this.options, timeout })
  }
}

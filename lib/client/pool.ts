/**
 * A client connection pool that uses liveness (`isActive()`) to never hand out a connection
 * whose peer is gone: the reason netpoll exists for RPC clients.
 *
 * # Model
 * Connections are kept per address (`network` + `address`). Each address has a LIFO list of
 * idle connections (the most recently returned is reused first, so the others can expire), a
 * count of open connections (idle, in use and being dialed) bounded by `maxConnections`, and
 * a FIFO queue of `get()` calls waiting for a free slot. A connection leaves the pool's
 * accounting when it closes, whoever closes it: close a connection instead of `put()`ting it
 * back when its state is unknown (e.g. after a request failed), and its slot is freed.
 *
 * # Process lifetime
 * As Node's `http.Agent` does with its free sockets, idle connections are unref'd
 * (`Connection.unref()`): a pool holding only idle connections lets the process exit. A
 * connection handed out by `get()` is ref'd again and holds the process until it is put back
 * or closed, like any open connection; a dial under way holds it too.
 */
import type { Connection } from '../core/connection'
import type { TlsClientOptions } from '../core/tls'
import { dial, DialOptions } from './dialer'
import { codeError, NetpollError } from '../core/errors'
import type { Network } from '../core/listener'

/** Options of a {@link ConnectionPool}. Counts are per pool unless they say per address. */
export interface PoolOptions {
  /** Most idle connections kept in the whole pool; more are closed on `put()`. Default 256. */
  maxIdle?: number
  /** Most idle connections kept per address; more are closed on `put()`. Default 64. */
  maxIdlePerAddress?: number
  /**
   * How long, in ms, a connection may stay idle in the pool before the eviction closes it
   * (0 = no limit). Default 60000.
   */
  idleTimeout?: number
  /**
   * Idle connections per address that the eviction keeps even when they expired (dead ones
   * are always closed). It does not dial ahead. Default 0.
   */
  minIdle?: number
  /**
   * Most open connections per address (idle + in use + being dialed); `get()` waits in a
   * FIFO queue when the limit is reached. Default 0 (no limit).
   */
  maxConnections?: number
  /**
   * How long, in ms, `get()` may wait in the queue for a free slot before it rejects with
   * `ERR_POOL_TIMEOUT` (0 = no limit). Dials are bounded by `dial.timeout`. Default 0.
   */
  getTimeout?: number
  /** How often, in ms, the eviction closes expired and dead idle connections. Default 1000. */
  evictInterval?: number
  /** Options of every dial the pool makes (`timeout`, `noDelay`, `keepAlive`, …). */
  dial?: DialOptions
  /**
   * TLS for every dial the pool makes (the same as `dial.tls`, which it overrides). Dials to
   * the same server name resume each other's sessions unless `sessionReuse: false`.
   */
  tls?: TlsClientOptions
}

/** Options of one {@link ConnectionPool.get}. */
export interface PoolGetOptions {
  /** Overrides the pool's `getTimeout` (ms) for this call. */
  timeout?: number
  /** Aborting it rejects this `get()` with `ABORT_ERR` (while waiting or dialing). */
  signal?: AbortSignal
}

/** Counters of a {@link ConnectionPool} (all addresses together). */
export interface ConnectionPoolStats {
  /** Connections idle in the pool. */
  idle: number
  /** Connections handed out by `get()` and not returned or closed yet. */
  inUse: number
  /** Dials under way. */
  dialing: number
  /** `get()` calls waiting for a free slot. */
  waiting: number
  /** Connections dialed since the pool was created. */
  dialed: number
  /** Dials that failed. */
  dialFailed: number
  /** `get()` calls served by an idle connection. */
  reused: number
  /** Idle connections the pool closed: dead, expired, over a limit, or at `close()`. */
  evicted: number
  /** `get()` calls that rejected with `ERR_POOL_TIMEOUT`. */
  timedOut: number
}

interface Idle {
  conn: Connection
  deadline: number
}

interface Waiter {
  resolve(conn: Connection | null): void
  reject(error: Error): void
}

/** The connections of one address. */
interface Peer {
  key: string
  network: Network
  address: string
  idle: Idle[]
  /** Idle, in use and dialing. */
  open: number
  waiters: Waiter[]
}

function option(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${String(value)}`)
  }
  return value
}

function abortError(): NetpollError {
  const e = codeError('ABORT_ERR', 'the pool get was aborted')
  e.name = 'AbortError'
  return e
}

/**
 * A pool of client connections, per address. `get()` returns an idle connection that is
 * still active (dead ones are closed and skipped) or dials a new one; `put()` returns it.
 * The pool never keeps the process alive by itself: its idle connections and its eviction
 * timer are unref'd; only connections handed out and dials under way hold the process.
 */
export class ConnectionPool {
  private readonly maxIdle: number
  private readonly maxIdlePerAddress: number
  private readonly idleTimeout: number
  private readonly minIdle: number
  private readonly maxConnections: number
  private readonly getTimeout: number
  private readonly evictInterval: number
  private readonly dialOptions: DialOptions
  private readonly peers = new Map<string, Peer>()
  /** Every open connection the pool dialed, with its address. */
  private readonly owned = new Map<Connection, Peer>()
  private readonly inUse = new Set<Connection>()
  private counters = { dialing: 0, waiting: 0, idle: 0, dialed: 0, dialFailed: 0, reused: 0, evicted: 0, timedOut: 0 }
  private timer: NodeJS.Timeout | null = null
  private closed = false

  /** Creates an empty pool; nothing is dialed until `get()`. */
  constructor(options: PoolOptions = {}) {
    this.maxIdle = option(options.maxIdle, 256, 'maxIdle')
    this.maxIdlePerAddress = option(options.maxIdlePerAddress, 64, 'maxIdlePerAddress')
    this.idleTimeout = option(options.idleTimeout, 60_000, 'idleTimeout')
    this.minIdle = option(options.minIdle, 0, 'minIdle')
    this.maxConnections = option(options.maxConnections, 0, 'maxConnections')
    this.getTimeout = option(options.getTimeout, 0, 'getTimeout')
    this.evictInterval = Math.max(1, option(options.evictInterval, 1000, 'evictInterval'))
    this.dialOptions = options.tls ? { ...options.dial, tls: options.tls } : (options.dial ?? {})
  }

  /**
   * A connection to `address` (as for {@link dial}): the most recently returned idle one that
   * is still active, else a new dial. When `maxConnections` are open, waits in FIFO order for
   * one to be returned or closed. Rejects with the dial's error, `ERR_POOL_TIMEOUT` (waited
   * longer than the get timeout), `ABORT_ERR` or `ERR_POOL_CLOSED`. The connection is ref'd:
   * it holds the process until it is put back or closed.
   */
  async get(network: Network, address: string, options: PoolGetOptions = {}): Promise<Connection> {
    if (this.closed) throw codeError('ERR_POOL_CLOSED', 'the pool is closed')
    if (options.signal?.aborted) throw abortError()
    const peer = this.peer(network, address)
    const idle = this.takeIdle(peer)
    if (idle) return idle
    if (peer.waiters.length > 0 || (this.maxConnections > 0 && peer.open >= this.maxConnections)) {
      const handed = await this.wait(peer, options)
      if (handed) return handed
      // Else a slot was freed and passed to this call.
    } else {
      peer.open++
    }
    return this.dial(peer, options.signal)
  }

  /**
   * Returns a connection obtained from `get()`, idle (and unref'd: it no longer holds the
   * process) until `idleTimeout` passes. It is closed instead when it is no longer active,
   * still holds unread input, the pool is closed or an idle limit is reached. A `get()`
   * waiting for this address receives it directly (ref'd).
   */
  put(conn: Connection): void {
    const peer = this.owned.get(conn)
    if (peer === undefined && !conn.isActive()) {
      conn.close() // closed since get(): already out of the accounting
      return
    }
    if (peer === undefined || !this.inUse.has(conn)) {
      throw codeError('ERR_POOL_FOREIGN', 'put() takes a connection handed out by get() of this pool and not returned yet')
    }
    this.inUse.delete(conn)
    if (this.closed || !conn.isActive() || conn.reader.len() > 0) {
      conn.close()
      return
    }
    const waiter = peer.waiters.shift()
    if (waiter) {
      this.counters.waiting--
      this.inUse.add(conn)
      waiter.resolve(conn.ref())
      return
    }
    if (peer.idle.length >= this.maxIdlePerAddress || this.counters.idle >= this.maxIdle) {
      this.counters.evicted++
      conn.close()
      return
    }
    conn.unref()
    peer.idle.push({ conn, deadline: this.idleTimeout > 0 ? Date.now() + this.idleTimeout : Infinity })
    this.counters.idle++
    this.startEviction()
  }

  /** The pool's counters, all addresses together. */
  stats(): ConnectionPoolStats {
    const c = this.counters
    return {
      idle: c.idle,
      inUse: this.inUse.size,
      dialing: c.dialing,
      waiting: c.waiting,
      dialed: c.dialed,
      dialFailed: c.dialFailed,
      reused: c.reused,
      evicted: c.evicted,
      timedOut: c.timedOut,
    }
  }

  /**
   * Closes the pool: idle connections are closed, waiting `get()`s and later ones reject with
   * `ERR_POOL_CLOSED`, connections in use are closed when `put()` back (or by their owner),
   * and dials under way are closed when they complete. Calling it again does nothing.
   */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.stopEviction()
    const e = codeError('ERR_POOL_CLOSED', 'the pool is closed')
    for (const peer of this.peers.values()) {
      for (const w of peer.waiters.splice(0)) w.reject(e)
      for (const { conn } of peer.idle.splice(0)) {
        this.counters.evicted++
        conn.close()
      }
    }
    this.counters.waiting = 0
    this.counters.idle = 0
  }

  private peer(network: Network, address: string): Peer {
    const key = `${network}|${address}`
    let peer = this.peers.get(key)
    if (peer === undefined) {
      peer = { key, network, address, idle: [], open: 0, waiters: [] }
      this.peers.set(key, peer)
    }
    return peer
  }

  /** Pops idle connections (newest first) until an active one; closes the dead ones. */
  private takeIdle(peer: Peer): Connection | null {
    for (let item = peer.idle.pop(); item; item = peer.idle.pop()) {
      this.counters.idle--
      if (item.conn.isActive()) {
        this.counters.reused++
        this.inUse.add(item.conn)
        return item.conn.ref()
      }
      this.counters.evicted++
      item.conn.close()
    }
    return null
  }

  /** Waits for a connection handed over by `put()` or, when `null`, a free slot passed to it. */
  private wait(peer: Peer, options: PoolGetOptions): Promise<Connection | null> {
    const ms = options.timeout === undefined ? this.getTimeout : option(options.timeout, 0, 'timeout')
    const signal = options.signal
    return new Promise<Connection | null>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null
      const leave = (): void => {
        const i = peer.waiters.indexOf(waiter)
        if (i >= 0) {
          peer.waiters.splice(i, 1)
          this.counters.waiting--
        }
        settle()
      }
      const settle = (): void => {
        if (timer) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = (): void => {
        leave()
        reject(abortError())
      }
      const waiter: Waiter = {
        resolve: (conn) => {
          settle()
          resolve(conn)
        },
        reject: (e) => {
          settle()
          reject(e)
        },
      }
      peer.waiters.push(waiter)
      this.counters.waiting++
      if (ms > 0) {
        timer = setTimeout(() => {
          leave()
          this.counters.timedOut++
          reject(codeError('ERR_POOL_TIMEOUT', `no connection to ${peer.address} was free within ${ms} ms`))
        }, ms)
        timer.unref()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Dials into a slot already counted in `peer.open`. */
  private async dial(peer: Peer, signal: AbortSignal | undefined): Promise<Connection> {
    this.counters.dialing++
    let conn: Connection
    try {
      conn = await dial(peer.network, peer.address, signal ? { ...this.dialOptions, signal } : this.dialOptions)
    } catch (e) {
      this.counters.dialing--
      this.counters.dialFailed++
      this.slotFreed(peer)
      throw e
    }
    this.counters.dialing--
    this.counters.dialed++
    this.owned.set(conn, peer)
    conn.addCloseCallback(() => this.forget(conn, peer))
    if (this.closed) {
      conn.close()
      throw codeError('ERR_POOL_CLOSED', 'the pool is closed')
    }
    this.inUse.add(conn)
    return conn
  }

  /** A connection of the pool closed (by anyone): drop it from the accounting. */
  private forget(conn: Connection, peer: Peer): void {
    this.owned.delete(conn)
    this.inUse.delete(conn)
    const i = peer.idle.findIndex((item) => item.conn === conn)
    if (i >= 0) {
      peer.idle.splice(i, 1)
      this.counters.idle--
    }
    this.slotFreed(peer)
  }

  /** A slot is free: it passes to the first waiter (which dials), else the count drops. */
  private slotFreed(peer: Peer): void {
    const waiter = peer.waiters.shift()
    if (waiter) {
      this.counters.waiting--
      waiter.resolve(null)
      return
    }
    peer.open--
    if (peer.open === 0 && peer.idle.length === 0) this.peers.delete(peer.key)
  }

  private startEviction(): void {
    if (this.timer !== null) return
    this.timer = setInterval(() => this.evict(), this.evictInterval)
    this.timer.unref()
  }

  private stopEviction(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** Closes dead idle connections and expired ones beyond `minIdle` (the oldest first). */
  private evict(): void {
    const now = Date.now()
    for (const peer of [...this.peers.values()]) {
      let expiredToClose = Math.max(0, peer.idle.length - this.minIdle)
      const doomed: Connection[] = []
      peer.idle = peer.idle.filter((item) => {
        const dead = !item.conn.isActive()
        const expired = !dead && expiredToClose > 0 && item.deadline <= now
        if (expired) expiredToClose--
        if (dead || expired) doomed.push(item.conn)
        return !dead && !expired
      })
      this.counters.idle -= doomed.length
      this.counters.evicted += doomed.length
      for (const conn of doomed) conn.close()
    }
    if (this.counters.idle === 0) this.stopEviction()
  }
}

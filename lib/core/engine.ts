/**
 * The engine: owns the native engine, routes each batch of shard events to connections,
 * listeners and dials, sends all flushed output in one native call per shard per batch, and
 * keeps the process alive exactly while something user-visible holds it: a ref'd listener or
 * connection (see their `ref()`/`unref()`), or a dial under way.
 * @internal
 */
import { Config, freezeConfig } from './config'
import { Connection } from './connection'
import { WRITE_QUEUED } from './connection-state'
import type { ConnectionHost, NetAddress } from './connection-host'
import { codeError, ErrorFields, internalError, native, netError, NetpollError } from './errors'
import { native as binding } from './native'
import type { SecureContext, ServerContext, SNICallback } from './secure-context'
import { runSniCallback } from './sni'
import { nativeClientTls, TlsClientOptions, TlsState, tlsState } from './tls'

const DATA = 1
const ACCEPTED = 2
const CONNECTED = 3
const FLUSHED = 4
const READ_CLOSED = 5
const TIMEOUT = 6
const CLOSED = 7
const LISTENER_ERROR = 8
const TLS_CLIENT_ERROR = 9
const SNI_REQUEST = 10
const RECORD = 5
const SHARD_SPAN = 2 ** 24
/**
 * A connection's flushed Buffers totalling at most this many bytes go to the native side as
 * one copy: copying a few KiB costs less than handing each Buffer across (every Buffer in
 * the array is a property read and a type check in the binding; pipelined small responses
 * spent more there than in the copy).
 */
const COALESCE_MAX = 16 * 1024

/** Receives the connections accepted on a listener. */
export interface AcceptTarget {
  accepted(conn: Connection): void
  failed(error: NetpollError): void
  /** A TLS handshake of an accepted socket failed (Node's `tlsClientError`). */
  tlsClientError(error: NetpollError): void
  /** The listener's `SNICallback`, if it has one. */
  sniCallback?: SNICallback
}

/** A dial waiting for its connect result. */
export interface PendingDial {
  resolve(conn: Connection): void
  reject(error: NetpollError): void
  conn: Connection | null
  cancelled: boolean
}

function key(shard: number, index: number): number {
  return shard * SHARD_SPAN + index
}

type NativeEngine = InstanceType<typeof binding.NativeEngine>

export class Engine implements ConnectionHost<Connection> {
  readonly config: Config
  private readonly native: NativeEngine
  /**
   * The open connections, per shard, at their slot index (the native slab's indices are dense
   * and reused): one pointer per connection, where a Map entry cost several times that.
   */
  private readonly conns: (Connection | undefined)[][] = []
  private readonly listeners = new Map<number, AcceptTarget>()
  private readonly dials = new Map<number, PendingDial>()
  /** Connections with flushed output waiting for the batched write (each once: `WRITE_QUEUED`). */
  private dirty: Connection[] = []
  private flushQueued = false
  /** Handlers of a batch are running: their output is written when the batch is done. */
  private dispatching = false
  private readonly flushTask = (): void => this.flushDirty()
  /** The `[index, generation, count → status, seq]` array of writeBatch, reused (null while in use). */
  private spareMeta: Uint32Array | null = new Uint32Array(256)
  private touched: Connection[] = []
  private live = 0
  private nextTag = 1
  readonly shards: number

  constructor() {
    this.config = freezeConfig()
    this.native = native(
      () =>
        new binding.NativeEngine(
          {
            mode: this.config.mode,
            pollers: this.config.pollers,
            maxOutput: this.config.maxOutput,
            // Input in flight to JS is bounded like one connection's buffered input, so a
            // reader never holds much more than twice the high-water mark.
            maxPendingInput: this.config.highWaterMark,
            loadBalance: this.config.loadBalance,
          },
          ((shard: number, data: Buffer, base: number, records: Uint32Array, length: number, errors?: ErrorFields[]) =>
            this.onBatch(shard, data, base, records, length, errors)) as (...args: unknown[]) => unknown,
        ),
    )
    this.shards = this.native.shards()
    for (let i = 0; i < this.shards; i++) this.conns.push([])
  }

  /**
   * Something user-visible that holds the process opened (+1) or closed (−1): ref the engine
   * while any is open. Listeners and connections count only while ref'd (their `unref()`
   * gives their count back); a dial counts until it settles.
   */
  retain(delta: number): void {
    const before = this.live
    this.live += delta
    if (before === 0 && this.live > 0) this.native.setRef(true)
    else if (before > 0 && this.live === 0) this.native.setRef(false)
  }

  /**
   * A batch of shard `shard`: the first `length` entries of `records` (an array the native
   * side reuses: read it now), whose bytes are `data[base + offset ..]` (JS-owned, never
   * written again, so views of it may be kept).
   */
  private onBatch(
    shard: number,
    data: Buffer,
    base: number,
    records: Uint32Array,
    length: number,
    errors: ErrorFields[] | undefined,
  ): void {
    const err = (i: number): NetpollError | null => (i === 0 || !errors ? null : netError(errors[i - 1]))
    for (let r = 0; r < length; r += RECORD) {
      const kind = records[r]
      const index = records[r + 1]
      const gen = records[r + 2]
      const a = records[r + 3]
      const b = records[r + 4]
      if (kind === ACCEPTED) {
        this.accepted(shard, index, gen, b === 0 ? shard : b - 1, a)
        continue
      }
      if (kind === CONNECTED) {
        this.connected(shard, index, gen, b, err(a))
        continue
      }
      if (kind >= LISTENER_ERROR) {
        // Listener records (one comparison on the data path for both kinds).
        if (kind === LISTENER_ERROR) this.listeners.get(key(shard, index))?.failed(err(a) as NetpollError)
        else if (kind === TLS_CLIENT_ERROR) this.listeners.get(key(b === 0 ? shard : b - 1, index))?.tlsClientError(err(a) as NetpollError)
        else if (kind === SNI_REQUEST) {
          // The server name is the next record's (`SniName`) bytes.
          const at = base + records[r + RECORD + 3]
          const name = data.toString('utf8', at, at + records[r + RECORD + 4])
          this.sniRequest(shard, index, gen, this.listeners.get(key(b === 0 ? shard : b - 1, a)), name)
          r += RECORD
        }
        continue
      }
      const conn = this.conns[shard][index]
      if (conn === undefined || conn.generation !== gen) continue // closed since: stale
      switch (kind) {
        case DATA: {
          // Consecutive reads of one connection in this batch are adjacent in `data`: they
          // become one view, so a read across them is not a copy.
          let end = a + b
          while (
            r + RECORD < length &&
            records[r + RECORD] === DATA &&
            records[r + RECORD + 1] === index &&
            records[r + RECORD + 2] === gen &&
            records[r + RECORD + 3] === end
          ) {
            r += RECORD
            end += records[r + 4]
          }
          conn.data(data.subarray(base + a, base + end))
          this.touched.push(conn)
          break
        }
        case FLUSHED:
          conn.flushed(b)
          break
        case READ_CLOSED:
          conn.peerClosed()
          break
        case TIMEOUT:
          conn.timeout(a)
          break
        case CLOSED:
          conn.finish(err(a))
          break
      }
    }
    const touched = this.touched
    this.touched = []
    this.dispatching = true
    try {
      for (const conn of touched) conn.dispatch()
    } finally {
      this.dispatching = false
    }
    // What the handlers wrote synchronously leaves now, one native call per shard, with no
    // tick in between; output of continuations that resume later goes on the next tick.
    if (this.dirty.length > 0) this.flushDirty()
  }

  /**
   * A handshake on `shard` waits for `target`'s SNI callback (a listener closed since gets
   * the connection refused, unreported).
   */
  private sniRequest(shard: number, index: number, gen: number, target: AcceptTarget | undefined, servername: string): void {
    const answer = (ctx: SecureContext['native'] | undefined, refuse: boolean): boolean =>
      native(() => this.native.sniAnswer(shard, index, gen, ctx, refuse))
    if (target?.sniCallback === undefined) answer(undefined, true)
    else runSniCallback(target.sniCallback, servername, answer, (e) => target.tlsClientError(e))
  }

  /** A connection on `shard`, accepted by listener `listenerId` of `listenerShard`. */
  private accepted(shard: number, index: number, gen: number, listenerShard: number, listenerId: number): void {
    const target = this.listeners.get(key(listenerShard, listenerId))
    const conn = this.register(shard, index, gen)
    if (target === undefined) {
      conn.close()
      return
    }
    target.accepted(conn)
  }

  private connected(shard: number, index: number, gen: number, tag: number, error: NetpollError | null): void {
    const dialKey = tag !== 0 ? tag : key(shard, index)
    const dial = this.dials.get(dialKey)
    if (dial === undefined) return
    this.dials.delete(dialKey)
    if (!dial.cancelled) this.retain(-1) // a cancelled dial let go of the engine already
    if (error) {
      dial.conn?.finish(error) // inline: the connection registered at dial time is gone
      if (!dial.cancelled) dial.reject(error)
      return
    }
    const conn = dial.conn ?? this.register(shard, index, gen)
    if (dial.cancelled) {
      conn.close()
      return
    }
    dial.resolve(conn)
  }

  private register(shard: number, index: number, gen: number): Connection {
    const conn = new Connection(this, shard, index, gen)
    this.conns[shard][index] = conn
    this.retain(1)
    return conn
  }

  /** A connection closed: stop routing to it, and give back its count if it held one. */
  forget(conn: Connection): void {
    const slots = this.conns[conn.shard]
    if (slots[conn.index] === conn) {
      slots[conn.index] = undefined
      if (conn.hasRef()) this.retain(-1)
    }
  }

  /** Calls `fn` for every open connection (a shutdown's walk; not on any data path). */
  forEachConnection(fn: (conn: Connection) => void): void {
    for (const slots of this.conns) for (const conn of slots) if (conn !== undefined) fn(conn)
  }

  /**
   * Output of `conn` waits for the batched write. Written by a handler while a batch is being
   * dispatched, it leaves at the end of the batch; otherwise on the next tick: after every
   * Promise continuation queued by now has run (Node runs the tick queue once the microtask
   * queue is empty), so all the handlers a batch woke — and every request they can serve from
   * input already buffered — share one writev per connection and one native call.
   */
  markDirty(conn: Connection): void {
    if (conn.hasFlag(WRITE_QUEUED)) return
    conn.setFlag(WRITE_QUEUED, true)
    this.dirty.push(conn)
    if (!this.flushQueued && !this.dispatching) {
      this.flushQueued = true
      process.nextTick(this.flushTask)
    }
  }

  /** Writes every dirty connection's output: one native call per shard. */
  flushDirty(): void {
    this.flushQueued = false
    const dirty = this.dirty
    if (dirty.length === 0) return
    this.dirty = []
    for (const conn of dirty) conn.setFlag(WRITE_QUEUED, false)
    if (this.shards === 1) {
      this.writeShard(0, dirty)
      return
    }
    const byShard: Connection[][] = []
    for (const conn of dirty) (byShard[conn.shard] ??= []).push(conn)
    byShard.forEach((list, shard) => this.writeShard(shard, list))
  }

  /** One writeBatch of the connections of `shard` in `list` that have output waiting. */
  private writeShard(shard: number, list: Connection[]): void {
    let count = 0
    for (const conn of list) if (!conn.isClosed && conn.writer.submitted.length > 0) list[count++] = conn
    if (count === 0) return
    // A close callback run below may flush (re-enter): the array is taken out while in use.
    let meta = this.spareMeta
    this.spareMeta = null
    if (meta === null || meta.length < count * 4) meta = new Uint32Array(Math.max(256, count * 8))
    const bufs: Buffer[] = []
    for (let i = 0; i < count; i++) {
      const conn = list[i]
      const w = conn.writer
      meta[i * 4] = conn.index
      meta[i * 4 + 1] = conn.generation
      meta[i * 4 + 3] = w.currentSeq
      const out = w.takeSubmitted()
      let total = 0
      for (const b of out) total += b.length
      if (out.length > 1 && total <= COALESCE_MAX) {
        bufs.push(Buffer.concat(out, total))
        meta[i * 4 + 2] = 1
      } else {
        for (const b of out) bufs.push(b)
        meta[i * 4 + 2] = out.length
      }
    }
    let errors: ErrorFields[] | null
    try {
      errors = this.native.writeBatch(shard, meta, count, bufs) as ErrorFields[] | null
    } catch (e) {
      // An internal failure (a Rust panic turned into an Error): these connections' state
      // is unknown, so they are closed with the error; every other one keeps going.
      this.spareMeta = meta
      const error = internalError(e)
      for (let i = 0; i < count; i++) list[i].fail(error)
      return
    }
    // Statuses (0 written, 1 queued, 2 + k failed with errors[k]) are read before any
    // callback can run.
    let failed: number[] | null = null
    for (let i = 0; i < count; i++) {
      const s = meta[i * 4 + 2]
      if (s === 0) list[i].flushed(0)
      else if (s > 1) (failed ??= []).push(i, s - 2)
    }
    this.spareMeta = meta
    if (failed !== null && errors) {
      for (let j = 0; j < failed.length; j += 2) list[failed[j]].finish(netError(errors[failed[j + 1]]))
    }
  }

  /**
   * Starts a listener; returns its bound address and registers `target` for its connections.
   * The listener counts in {@link Engine.retain} itself (while ref'd).
   */
  listen(
    network: string,
    address: string,
    backlog: number,
    ipv6Only: boolean,
    target: AcceptTarget,
    tls?: ServerContext,
  ): { address: NetAddress; ids: number[] } {
    const sni = tls?.sniCallback !== undefined
    const info = native(() => this.native.listen(network, address, backlog, ipv6Only, tls?.context.native, tls?.handshakeTimeout, sni))
    for (let i = 0; i < info.ids.length; i += 2) this.listeners.set(key(info.ids[i], info.ids[i + 1]), target)
    const addr: NetAddress = { address: info.address, family: info.family }
    if (info.port !== undefined && info.port !== null) addr.port = info.port
    return { address: addr, ids: info.ids }
  }

  /** Stops a listener started by {@link Engine.listen}. */
  unlisten(ids: number[]): void {
    for (let i = 0; i < ids.length; i += 2) {
      this.listeners.delete(key(ids[i], ids[i + 1]))
      this.native.unlisten(ids[i], ids[i + 1])
    }
  }

  /** Starts a dial to a resolved address; `pending` settles with the connect result. */
  dial(
    network: string,
    address: string,
    localAddress: string | undefined,
    timeoutMs: number,
    pending: PendingDial,
    tls?: { options: TlsClientOptions; host: string },
  ): () => void {
    const shard = this.shards > 1 ? this.native.pickShard() : 0
    const tag = this.nextTag++
    if (this.nextTag >= 2 ** 31) this.nextTag = 1
    const t = tls === undefined ? undefined : nativeClientTls(tls.options, tls.host)
    const ids = native(() => this.native.dial(shard, network, address, localAddress, timeoutMs, tag, t))
    let dialKey = tag
    if (ids.length === 2) {
      // Inline: the connection exists already; its connect result names it by id.
      dialKey = key(shard, ids[0])
      // It counts for itself (register) until it closes, as the dial does until it settles.
      pending.conn = this.register(shard, ids[0], ids[1])
    }
    this.dials.set(dialKey, pending)
    this.retain(1)
    return () => {
      if (pending.cancelled || this.dials.get(dialKey) !== pending) return // settled already
      pending.cancelled = true
      this.retain(-1)
      if (pending.conn) {
        // Inline: closing the connection closes the connecting socket; nothing is reported.
        this.dials.delete(dialKey)
        pending.conn.fail(codeError('ABORT_ERR', 'the dial was aborted'))
        return
      }
      // Threaded: the reactor closes the socket if it is still connecting. Either way one
      // `connected` record follows (ABORT_ERR, or the result that crossed the cancel), and
      // `connected` drops the entry, closing a connection that made it.
      native(() => this.native.cancelDial(shard, tag))
    }
  }

  closeNative(conn: Connection, abort: boolean): void {
    this.native.close(conn.shard, conn.index, conn.generation, abort)
  }

  resetNative(conn: Connection): void {
    this.native.reset(conn.shard, conn.index, conn.generation)
  }

  pauseRead(conn: Connection, paused: boolean): void {
    this.native.pauseRead(conn.shard, conn.index, conn.generation, paused)
  }

  shutdownWrite(conn: Connection): void {
    native(() => this.native.shutdownWrite(conn.shard, conn.index, conn.generation))
  }

  setTimer(conn: Connection, kind: number, ms: number): void {
    this.native.setTimer(conn.shard, conn.index, conn.generation, kind, ms)
  }

  setSocketOptions(conn: Connection, noDelay: boolean | undefined, keepAliveMs: number): void {
    this.native.setSocketOptions(conn.shard, conn.index, conn.generation, noDelay, keepAliveMs)
  }

  tlsInfo(conn: Connection): TlsState | null {
    const s = this.native.tlsInfo(conn.shard, conn.index, conn.generation)
    return s ? tlsState(s) : null
  }

  addresses(conn: Connection): { local: NetAddress | null; remote: NetAddress | null } {
    const a = this.native.addresses(conn.shard, conn.index, conn.generation)
    if (!a) return { local: null, remote: null }
    const family = a.family ?? 'unix'
    const make = (address?: string | null, port?: number | null): NetAddress | null =>
      address === undefined || address === null ? null : port == null ? { address, family } : { address, port, family }
    return { local: make(a.localAddress, a.localPort), remote: make(a.remoteAddress, a.remotePort) }
  }

  /** Counters of the native engine. */
  stats(): ReturnType<NativeEngine['stats']> {
    return this.native.stats()
  }
}

let engine: Engine | null = null

/** The engine, started on first use with the configuration of `configure()`. */
export function getEngine(): Engine {
  if (engine === null) engine = new Engine()
  return engine
}

/** Whether the engine has started. */
export function engineStarted(): boolean {
  return engine !== null
}

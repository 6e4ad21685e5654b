/**
 * Multiplexing, as Kitex does on netpoll: many concurrent requests share one connection.
 *
 * - {@link ShardQueue} (netpoll's `mux.ShardQueue`): a many-producer writer. Frames enqueued
 *   during one tick are appended to the connection's writer in enqueue order and flushed
 *   once, so they leave in one batched write.
 * - {@link MuxClient}: request/response with request ids over a ShardQueue; each response
 *   is handed to its request as a {@link Reader} sliced off the connection (no copy).
 *
 * # Wire format
 * Every frame, both ways: a 4-byte big-endian length `L`, then a 4-byte big-endian request
 * id, then `L - 4` bytes of payload. The id counts as part of the framed payload, so a
 * server that echoes framed payloads verbatim (the examples' echo servers) answers each
 * request with its own id unchanged.
 */
import type { Connection } from '../core/connection'
import { codeError, NetpollError } from '../core/errors'
import type { Reader } from '../core/reader'

/**
 * A many-producer writer over one connection. `add()` never writes by itself: the frames
 * added until the current tick ends (the synchronous code and the microtasks it queues; the
 * flush runs from `process.nextTick`) go out together with one `writer.flush()`.
 */
export class ShardQueue {
  private frames: Uint8Array[] = []
  private batch: Promise<void> | null = null
  private settle: { resolve: () => void; reject: (e: Error) => void } | null = null

  /** A queue writing to `conn`. Other writes to `conn.writer` may interleave between batches. */
  constructor(private readonly conn: Connection) {}

  /**
   * Enqueues one frame, given as consecutive parts kept by reference (don't modify them
   * until the Promise settles). Frames keep their enqueue order. The Promise, shared by the
   * whole batch, resolves when the batch is handed to the kernel and rejects as
   * `writer.flush()` does (`ERR_CONN_CLOSED`, …); not awaiting it is safe.
   */
  add(...parts: Uint8Array[]): Promise<void> {
    if (!this.conn.isActive()) return Promise.reject(codeError('ERR_CONN_CLOSED', 'the connection is closed'))
    for (const p of parts) this.frames.push(p)
    if (this.batch === null) {
      this.batch = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }))
      this.batch.catch(() => {}) // producers may ignore it: never an unhandled rejection
      process.nextTick(() => this.flush())
    }
    return this.batch
  }

  /** Parts enqueued and not flushed yet. */
  get pending(): number {
    return this.frames.length
  }

  private flush(): void {
    const settle = this.settle as { resolve: () => void; reject: (e: Error) => void }
    const frames = this.frames
    this.frames = []
    this.batch = null
    this.settle = null
    try {
      for (const f of frames) this.conn.writer.writeBinary(f)
    } catch (e) {
      settle.reject(e as Error)
      return
    }
    this.conn.writer.flush().then(settle.resolve, settle.reject)
  }
}

/** Options of a {@link MuxClient}. */
export interface MuxClientOptions {
  /**
   * Largest response frame accepted, in bytes (the length field); a larger one closes the
   * connection with `ERR_FRAME_TOO_LARGE`. Default 16 MiB.
   */
  maxFrame?: number
}

interface Pending {
  resolve(body: Reader): void
  reject(error: Error): void
}

const HEADER = 8

/**
 * A multiplexed request/response client over one connection (see the module's wire format).
 * It owns the connection's input: it installs the handler that reads responses. Responses
 * are matched to requests by id, in whatever order they come; requests of one producer are
 * written in the order it made them. When the connection closes, for any reason, every
 * pending and later request rejects with `ERR_CONN_CLOSED` (its `cause` is the close error
 * when there is one).
 */
export class MuxClient {
  private readonly queue: ShardQueue
  private readonly pendingById = new Map<number, Pending>()
  private readonly maxFrame: number
  private nextId = 1
  private closedError: NetpollError | null = null

  /** Takes over `conn` (a dialed connection, not read by anyone else). */
  constructor(
    private readonly conn: Connection,
    options: MuxClientOptions = {},
  ) {
    this.maxFrame = options.maxFrame ?? 16 << 20
    this.queue = new ShardQueue(conn)
    conn.addCloseCallback((_c, error) => this.failAll(error))
    conn.setOnRequest(() => this.readResponse())
  }

  /**
   * Sends `payload` (kept by reference until written) as one request and resolves with the
   * response payload, a {@link Reader} over the received bytes (no copy): read it with
   * `body.next(body.len())`. Rejects with `ERR_CONN_CLOSED` when the connection closes first.
   */
  request(payload: Uint8Array): Promise<Reader> {
    if (this.closedError) return Promise.reject(this.closedError)
    if (!this.conn.isActive()) return Promise.reject(codeError('ERR_CONN_CLOSED', 'the connection is closing'))
    const id = this.allocateId()
    const header = Buffer.allocUnsafe(HEADER)
    header.writeUInt32BE(payload.length + 4, 0)
    header.writeUInt32BE(id, 4)
    return new Promise<Reader>((resolve, reject) => {
      this.pendingById.set(id, { resolve, reject })
      // A write fails only when the connection closes, and the close fails every pending
      // request: the batch's own outcome needs no handling here.
      void this.queue.add(header, payload)
    })
  }

  /** Requests sent and not answered yet. */
  get pending(): number {
    return this.pendingById.size
  }

  /** Whether the connection is usable (see `Connection.isActive`). */
  isActive(): boolean {
    return this.closedError === null && this.conn.isActive()
  }

  /** Closes the connection; pending requests reject with `ERR_CONN_CLOSED`. */
  close(): void {
    this.conn.close()
  }

  private allocateId(): number {
    let id = this.nextId
    while (this.pendingById.has(id)) id = id === 0xffffffff ? 1 : id + 1
    this.nextId = id === 0xffffffff ? 1 : id + 1
    return id
  }

  /**
   * Reads response frames and hands each payload to the request with its id: every frame
   * already buffered in one handler call (a batch of responses costs one dispatch, not one
   * per response).
   */
  private async readResponse(): Promise<void> {
    const r = this.conn.reader
    do {
      const head = await r.next(HEADER)
      const length = head.readUInt32BE(0)
      if (length < 4 || length > this.maxFrame) {
        const e = codeError('ERR_FRAME_TOO_LARGE', `response frame length ${length} is outside 4..${this.maxFrame}`)
        this.conn.fail(e)
        return
      }
      const id = head.readUInt32BE(4)
      const body = await r.slice(length - 4)
      const p = this.pendingById.get(id)
      if (p === undefined) continue // no request waits for this id: dropped
      this.pendingById.delete(id)
      p.resolve(body)
    } while (r.len() >= HEADER)
  }

  private failAll(cause: NetpollError | null): void {
    const e = codeError('ERR_CONN_CLOSED', 'the connection closed before the response arrived')
    if (cause) e.cause = cause
    this.closedError = e
    const pending = [...this.pendingById.values()]
    this.pendingById.clear()
    for (const p of pending) p.reject(e)
  }
}

// Type test of the PUBLISHED declarations: the core and client API here, the net bridge and TLS
// in types-bridge-tls.ts. scripts/test-pack.mjs copies both into a fresh directory where the
// packed tarballs were installed and runs `tsc --noEmit` on them (strict), so they are checked
// against node_modules/netpoll/index.d.ts exactly as users get it. Nothing here runs: the
// functions below are only type-checked.
//
// Together they must use every public export and every property of every exported option/object type:
// test-pack.mjs fails and names what is missing otherwise (and lists class members not used
// yet). When you export something new from lib/index.ts, add it to its section: call it with
// every option, pin results with `expectType`/`expectEqual`, and mark misuse with
// `// @ts-expect-error`.
import {
  type CloseCallback,
  type ConfigOptions,
  Connection,
  ConnectionPool,
  type ConnectionPoolStats,
  type ConnectionStats,
  Dialer,
  type DialOptions,
  type EngineMode,
  EventLoop,
  type EventLoopOptions,
  type EventLoopStats,
  LinkBuffer,
  Listener,
  type ListenerOptions,
  type LoadBalance,
  type MaybePromise,
  MuxClient,
  type MuxClientOptions,
  type NetAddress,
  type NetpollError,
  type Network,
  type NocopyReader,
  type NocopyWriter,
  type OnRequest,
  type PoolGetOptions,
  type PoolOptions,
  type PoolStats,
  Reader,
  ShardQueue,
  type ShutdownResult,
  SUPPORTED_PLATFORMS,
  UnsupportedPlatformError,
  Writer,
  configure,
  createListener,
  dial,
  getConfig,
  nativeBinaryPath,
  nativeVersion,
  poolStats,
  stats,
} from 'netpoll'
import * as netpoll from 'netpoll'

/** Compiles only if `value` is assignable to `T`. */
export function expectType<T>(value: T): T {
  return value
}
/** Compiles only if `A` and `B` are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
export function expectEqual<A, B>(_proof: Equal<A, B>): void {}

// ---- loader: platforms, errors, the loaded binary -------------------------------------------
export function loader(): void {
  expectType<Readonly<Record<string, string>>>(SUPPORTED_PLATFORMS)
  expectType<string | undefined>(SUPPORTED_PLATFORMS['linux-x64-gnu'])
  // @ts-expect-error the table is read-only
  SUPPORTED_PLATFORMS['win32-x64'] = 'x86_64-pc-windows-msvc'

  const unsupported = new UnsupportedPlatformError('no binary', { cause: new Error('missing') })
  expectType<Error>(unsupported)
  expectEqual<typeof unsupported.code, 'ERR_UNSUPPORTED_PLATFORM'>(true)
  // @ts-expect-error code is read-only
  unsupported.code = 'ERR_OTHER'
  new UnsupportedPlatformError('message only')

  expectType<string>(nativeBinaryPath)
  expectType<string>(nativeVersion())
  // @ts-expect-error nativeBinaryPath is a constant
  netpoll.nativeBinaryPath = '/elsewhere'
}

// ---- errors ----------------------------------------------------------------------------------
export function errors(e: unknown): string {
  const err = e as NetpollError
  expectType<Error>(err)
  expectType<string>(err.code)
  expectType<number | undefined>(err.errno)
  expectType<string | undefined>(err.syscall)
  expectType<string | undefined>(err.address)
  expectType<number | undefined>(err.port)
  return e instanceof UnsupportedPlatformError ? e.code : err.code
}

// ---- configure / getConfig / stats -------------------------------------------------------------
export function configuration(): void {
  const mode: EngineMode = 'auto'
  const loadBalance: LoadBalance = 'least-connections'
  const options: ConfigOptions = {
    mode,
    pollers: 2,
    loadBalance,
    highWaterMark: 4 << 20,
    lowWaterMark: 1 << 20,
    maxOutput: 64 << 20,
    maxFrame: 16 << 20,
  }
  configure(options)
  configure({})
  configure({ mode: 'inline' })
  configure({ mode: 'threaded', loadBalance: 'random' })
  // @ts-expect-error unknown engine mode
  configure({ mode: 'turbo' })
  // @ts-expect-error unknown load-balance policy
  configure({ loadBalance: 'fastest' })
  // @ts-expect-error pollers is a number
  configure({ pollers: '2' })

  const config = getConfig()
  expectType<'inline' | 'threaded'>(config.mode)
  expectType<number>(config.pollers)
  expectType<LoadBalance>(config.loadBalance)
  expectType<number>(config.highWaterMark + config.lowWaterMark + config.maxOutput + config.maxFrame)

  const s = stats()
  expectType<number>(s.connections + s.listeners + s.timers + s.bytesIn + s.bytesOut + s.bytesQueued + s.events + s.accepted)
  expectType<number>(s.acceptBackoffs + s.panics)
  expectType<number[]>(s.connectionsPerShard)
}

// ---- LinkBuffer and poolStats ------------------------------------------------------------------
export function linkBuffer(): void {
  const buf = new LinkBuffer()
  expectType<NocopyReader>(buf)
  expectType<NocopyWriter>(buf)
  const head: Buffer = buf.malloc(4)
  head.writeUInt32BE(5, 0)
  buf.writeBinary(Buffer.from('hello'))
  buf.writeBinary(new Uint8Array([1, 2]))
  buf.writeString('tail')
  buf.writeString('74616c', 'hex')
  buf.writeByte(0x0a)
  buf.writeDirect(Buffer.from('!'), 1)
  expectType<number>(buf.mallocLen())
  buf.mallocAck(buf.mallocLen())
  const other = new LinkBuffer()
  other.writeString('more')
  buf.append(other)
  buf.flush()
  expectType<number>(buf.len())
  expectType<boolean>(buf.isEmpty())
  expectType<Buffer>(buf.next(4))
  expectType<Buffer>(buf.peek(1))
  buf.skip(1)
  expectType<Buffer>(buf.until(0x0a))
  expectType<Buffer>(buf.until('\n'))
  expectType<string>(buf.readString(2))
  expectType<string>(buf.readString(2, 'latin1'))
  expectType<Buffer>(buf.readBinary(1))
  expectType<number>(buf.readByte())
  const part: LinkBuffer = buf.slice(0)
  part.release()
  buf.release()
  // @ts-expect-error writeBinary takes bytes, not a string
  buf.writeBinary('text')
  // @ts-expect-error append takes a LinkBuffer
  buf.append(Buffer.alloc(1))

  const p: PoolStats = poolStats()
  expectType<number>(p.bytesInUse + p.bytesCached + p.bytesHeld + p.bytesTrimmed + p.hits + p.misses)
}

/** Code written against the nocopy interfaces works for a LinkBuffer and a connection. */
async function readFrame(r: NocopyReader): Promise<Buffer> {
  const n = (await r.next(4)).readUInt32BE(0)
  expectType<number>(r.len())
  expectType<MaybePromise<Buffer>>(r.peek(0))
  await r.skip(0)
  expectType<MaybePromise<Buffer>>(r.until(0x0a))
  expectType<string>(await r.readString(0))
  expectType<Buffer>(await r.readBinary(0))
  expectType<number>(await r.readByte())
  expectType<NocopyReader>(await r.slice(0))
  const body = await r.next(n)
  r.release()
  return body
}
async function writeFrame(w: NocopyWriter, body: Uint8Array): Promise<void> {
  w.malloc(4).writeUInt32BE(body.length, 0)
  w.writeBinary(body)
  w.writeString('')
  w.writeByte(0)
  w.writeDirect(new Uint8Array(0), 0)
  w.mallocAck(w.mallocLen())
  await w.flush()
}
export async function nocopy(): Promise<void> {
  const buf = new LinkBuffer()
  await writeFrame(buf, Buffer.from('x'))
  expectType<Buffer>(await readFrame(buf))
  expectEqual<MaybePromise<number>, number | Promise<number>>(true)
}

// ---- server: createListener, Listener, EventLoop, Connection, Reader, Writer --------------------
export async function server(): Promise<void> {
  const network: Network = 'tcp'
  const listenerOptions: ListenerOptions = { backlog: 128, ipv6Only: false }
  const ln: Listener = await createListener(network, '127.0.0.1:0', listenerOptions)
  await createListener('unix', '/tmp/netpoll.sock')
  await createListener('tcp6', '[::1]:0', { ipv6Only: true })
  // @ts-expect-error unknown network
  await createListener('udp', '127.0.0.1:0')
  const addr: NetAddress = ln.address
  expectType<string>(addr.address)
  expectType<number | undefined>(addr.port)
  expectType<string>(addr.family)
  expectType<Network>(ln.network)
  expectType<string>(ln.toString())
  expectType<boolean>(ln.isClosed)
  expectType<Listener>(ln.unref().ref())

  const onRequest: OnRequest = async (conn) => {
    const r: Reader = conn.reader
    const w: Writer = conn.writer
    expectType<number>(r.len())
    const n = (await r.next(4)).readUInt32BE(0)
    expectType<Promise<Buffer>>(r.peek(n))
    await r.skip(0)
    expectType<Buffer>(await r.until(0x0a))
    expectType<string>(await r.readString(n))
    expectType<string>(await r.readString(n, 'base64'))
    expectType<Buffer>(await r.readBinary(n))
    expectType<number>(await r.readByte())
    expectType<Reader>(await r.slice(n))
    // The synchronous fast path: bytes already buffered, or null (then await next()/peek()).
    const len: number | null = r.tryPeekUInt32BE(0)
    r.tryPeekUInt32BE()
    if (len !== null) expectType<Buffer | null>(r.tryPeek(4 + len))
    expectType<Buffer | null>(r.tryNext(4))
    // @ts-expect-error tryNext returns synchronously (Buffer | null), not a Promise
    expectType<Promise<Buffer>>(r.tryNext(4))
    r.release()
    w.malloc(4).writeUInt32BE(n, 0)
    w.writeBinary(Buffer.alloc(n))
    w.writeString('ok')
    w.writeString('6f6b', 'hex')
    w.writeByte(0x0a)
    w.writeDirect(Buffer.from('!'), 0)
    expectType<number>(w.mallocLen())
    w.mallocAck(w.mallocLen())
    w.append(w)
    expectType<Promise<void>>(w.flush())
  }
  const onClose: CloseCallback = (conn, error) => {
    expectType<Connection>(conn)
    expectType<NetpollError | null>(error)
  }
  const options: EventLoopOptions = {
    onPrepare: (conn) => {
      conn.setReadTimeout(1000)
      conn.setWriteTimeout(1000)
      conn.setIdleTimeout(60_000)
      conn.addCloseCallback(onClose)
    },
    onConnect: async (conn) => {
      const cs: ConnectionStats = conn.stats()
      expectType<number>(cs.bytesIn + cs.bytesOut + cs.bytesBuffered + cs.bytesQueued)
      expectType<boolean>(conn.isActive())
      expectType<NetAddress | null>(conn.localAddress)
      expectType<NetAddress | null>(conn.remoteAddress)
      expectType<Connection>(conn.unref().ref())
      expectType<Promise<void>>(conn.shutdownWrite())
      expectType<boolean>(conn.writeEnded)
      // @ts-expect-error writeEnded is read-only
      conn.writeEnded = false
    },
    onDisconnect: (conn) => conn.close(),
    onError: (error, conn) => {
      expectType<unknown>(error)
      conn.setOnRequest(null)
    },
    readTimeout: 1000,
    writeTimeout: 1000,
    idleTimeout: 60_000,
    allowHalfOpen: true,
    noDelay: true,
    keepAlive: 30_000,
    maxConnections: 10_000,
  }
  const loop = new EventLoop(onRequest, options)
  new EventLoop(onRequest, { keepAlive: false })
  const ls: EventLoopStats = loop.stats()
  expectType<number>(ls.connections + ls.accepted + ls.closed + ls.closedWithError + ls.refused + ls.handlerErrors)
  new EventLoop((conn) => conn.setOnRequest(onRequest))
  // @ts-expect-error the handler is required
  new EventLoop()
  const served: Promise<void> = loop.serve(ln)
  expectType<number>(loop.connections)
  const result: ShutdownResult = await loop.shutdown({ timeout: 1000 })
  expectType<number>(result.forced)
  await loop.shutdown()
  await served
  ln.close()
}

// ---- client: dial, Dialer ------------------------------------------------------------------------
export async function client(): Promise<void> {
  const options: DialOptions = {
    timeout: 1000,
    signal: AbortSignal.timeout(1000),
    localAddress: '127.0.0.1',
    allowHalfOpen: true,
    noDelay: true,
    keepAlive: 30_000,
  }
  const conn: Connection = await dial('tcp', '127.0.0.1:9000', options)
  await dial('unix', '/tmp/netpoll.sock')
  await dial('tcp4', 'localhost:9000', { keepAlive: false })
  // @ts-expect-error keepAlive is false or a number of ms
  await dial('tcp', '127.0.0.1:9000', { keepAlive: true })
  const dialer = new Dialer(options)
  new Dialer()
  const c2: Connection = await dialer.dialConnection('tcp', '127.0.0.1:9000', 500)
  await dialer.dialConnection('tcp', '127.0.0.1:9000')
  conn.writer.writeString('ping')
  await conn.writer.flush()
  expectType<Buffer>(await conn.reader.next(4))
  await conn.shutdownWrite()
  // @ts-expect-error allowHalfOpen is a boolean
  await dial('tcp', '127.0.0.1:9000', { allowHalfOpen: 'yes' })
  conn.close()
  c2.close()
}

// ---- client: ConnectionPool -----------------------------------------------------------------------
export async function pool(): Promise<void> {
  const options: PoolOptions = {
    maxIdle: 256,
    maxIdlePerAddress: 64,
    idleTimeout: 60_000,
    minIdle: 1,
    maxConnections: 16,
    getTimeout: 1000,
    evictInterval: 1000,
    dial: { timeout: 1000, noDelay: true, keepAlive: 30_000 },
  }
  const p = new ConnectionPool(options)
  new ConnectionPool()
  const getOptions: PoolGetOptions = { timeout: 500, signal: AbortSignal.timeout(1000) }
  const conn: Connection = await p.get('tcp', '127.0.0.1:9000', getOptions)
  await p.get('unix', '/tmp/netpoll.sock')
  // @ts-expect-error unknown network
  await p.get('udp', '127.0.0.1:9000')
  p.put(conn)
  const s: ConnectionPoolStats = p.stats()
  expectType<number>(s.idle + s.inUse + s.dialing + s.waiting + s.dialed + s.dialFailed + s.reused + s.evicted + s.timedOut)
  // @ts-expect-error dial options are nested under `dial`
  new ConnectionPool({ timeout: 1000 })
  p.close()
}

// ---- client: multiplexing (ShardQueue, MuxClient) -------------------------------------------------
export async function mux(conn: Connection): Promise<void> {
  const queue = new ShardQueue(conn)
  const header = Buffer.alloc(4)
  expectType<Promise<void>>(queue.add(header, new Uint8Array(2)))
  await queue.add(Buffer.from('one part'))
  expectType<number>(queue.pending)
  // @ts-expect-error frames are bytes
  queue.add('text')

  const options: MuxClientOptions = { maxFrame: 1 << 20 }
  const client = new MuxClient(conn, options)
  new MuxClient(conn)
  const body: Reader = await client.request(Buffer.from('ping'))
  expectType<Buffer>(await body.next(body.len()))
  expectType<number>(client.pending)
  expectType<boolean>(client.isActive())
  client.close()
}

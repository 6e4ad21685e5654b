// Type test of the PUBLISHED declarations. scripts/test-pack.mjs copies this file into a fresh
// directory where the packed tarballs were installed and runs `tsc --noEmit` on it (strict), so
// it is checked against node_modules/netpoll/index.d.ts exactly as users get it. Nothing here
// runs: the functions below are only type-checked.
//
// It must use every public export and every property of every exported option/object type:
// test-pack.mjs fails and names what is missing otherwise (and lists class members not used
// yet). When you export something new from lib/index.ts, add it to its section: call it with
// every option, pin results with `expectType`/`expectEqual`, and mark misuse with
// `// @ts-expect-error`.
import { EventEmitter } from 'node:events'
import { Duplex } from 'node:stream'
import {
  type AddressInfo,
  type CloseCallback,
  type ConfigOptions,
  type ConnectOptions,
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
  type ListenOptions,
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
  type Pem,
  type TlsClientOptions,
  type TlsServerOptions,
  type TlsState,
  type SecureContextOptions,
  type SNICallback,
  type TlsIdentity,
  type PeerCertificate,
  SecureContext,
  createSecureContext,
  TLSSocket,
  Reader,
  Server,
  type ServerAddress,
  type ServerOptions,
  ShardQueue,
  type ShutdownResult,
  Socket,
  type SocketOptions,
  SUPPORTED_PLATFORMS,
  UnsupportedPlatformError,
  Writer,
  configure,
  connect,
  createConnection,
  createListener,
  createServer,
  dial,
  getConfig,
  nativeBinaryPath,
  nativeVersion,
  poolStats,
  stats,
} from 'netpoll'
import * as netpoll from 'netpoll'

/** Compiles only if `value` is assignable to `T`. */
function expectType<T>(value: T): T {
  return value
}
/** Compiles only if `A` and `B` are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
function expectEqual<A, B>(_proof: Equal<A, B>): void {}

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

// ---- net bridge: createServer / Server, connect / createConnection, Socket ---------------------
export function netServer(): void {
  const options: ServerOptions = {
    allowHalfOpen: false,
    readableHighWaterMark: 64 << 10,
    writableHighWaterMark: 16 << 10,
    pauseOnConnect: false,
    noDelay: true,
    keepAlive: true,
    keepAliveInitialDelay: 30_000,
    idleTimeout: 60_000,
    writeTimeout: 10_000,
  }
  const server: Server = createServer(options, (socket) => {
    expectType<Socket>(socket)
    socket.pipe(socket)
  })
  expectType<EventEmitter>(server)
  createServer((socket) => socket.end())
  createServer({ pauseOnConnect: true })
  createServer()
  new Server({ noDelay: false }, (socket) => socket.destroy())
  new Server()
  // @ts-expect-error keepAlive is a boolean here (net's name); the delay is keepAliveInitialDelay
  createServer({ keepAlive: 30_000 })

  // listen(): options, (port[, host][, backlog][, cb]), (path[, backlog][, cb])
  const listenOptions: ListenOptions = { port: 0, host: '127.0.0.1', backlog: 511, ipv6Only: false }
  expectType<Server>(server.listen(listenOptions, () => {}))
  server.listen({ path: '/tmp/netpoll-net.sock' })
  server.listen({ port: '8080', host: '::', ipv6Only: true })
  server.listen({ port: 0, exclusive: true, signal: AbortSignal.timeout(1000) })
  server.listen({ path: '/tmp/netpoll-net.sock', readableAll: true, writableAll: true })
  server.listen(0, '127.0.0.1', 128, () => {})
  server.listen(0, '127.0.0.1', () => {})
  server.listen(0, () => {})
  server.listen(0)
  server.listen()
  server.listen('/tmp/netpoll-net.sock', 128, () => {})
  server.listen('/tmp/netpoll-net.sock')
  // @ts-expect-error backlog is a number
  server.listen(0, '127.0.0.1', '128')
  // @ts-expect-error path is a string
  server.listen({ path: 8080 })

  expectType<boolean>(server.listening)
  const address = server.address()
  expectEqual<typeof address, ServerAddress | string | null>(true)
  if (address !== null && typeof address === 'object') {
    expectType<string>(address.address)
    expectType<string>(address.family)
    expectType<number>(address.port)
  }
  server.maxConnections = 1000
  expectType<number | undefined>(server.maxConnections)
  server.on('drop', (data: unknown) => data)
  server.on('connection', (socket: Socket) => socket.setTimeout(60_000))
  expectType<Server>(
    server.getConnections((error, count) => {
      expectType<Error | null>(error)
      expectType<number>(count)
    }),
  )
  // @ts-expect-error getConnections takes a callback (no Promise form)
  server.getConnections()
  expectType<Server>(server.unref().ref())
  expectType<Server>(server.close((error) => expectType<Error | undefined>(error)))
  server.close()
  // @ts-expect-error listening is read-only
  server.listening = true
}

export function netClient(): void {
  const socketOptions: SocketOptions = { allowHalfOpen: true, readableHighWaterMark: 64 << 10, writableHighWaterMark: 16 << 10 }
  const options: ConnectOptions = {
    port: 9000,
    host: 'localhost',
    timeout: 30_000,
    localAddress: '127.0.0.1',
    localPort: 0,
    family: 4,
    noDelay: true,
    keepAlive: true,
    keepAliveInitialDelay: 30_000,
    signal: AbortSignal.timeout(1000),
    lookup: (hostname, _options, callback) => callback(null, hostname === 'localhost' ? '127.0.0.1' : '::1', 4),
    hints: 0,
    autoSelectFamily: false,
    idleTimeout: 60_000,
    writeTimeout: 10_000,
    ...socketOptions,
  }
  // connect()/createConnection(): options, (port[, host][, cb]), (path[, cb])
  const socket: Socket = connect(options, () => {})
  expectType<number | undefined>(socket.timeout)
  socket.on('lookup', (error: Error | null, address: string, family: number, host: string) => [error, address, family, host])
  connect({ path: '/tmp/netpoll.sock', allowHalfOpen: false })
  connect({ port: '9000' })
  connect(9000, '127.0.0.1', () => {})
  connect(9000)
  connect('/tmp/netpoll.sock', () => {})
  expectType<Socket>(createConnection(options))
  createConnection(9000, 'localhost')
  createConnection('/tmp/netpoll.sock')
  expectEqual<typeof createConnection, typeof connect>(true)
  // @ts-expect-error family is a number (4, 6 or 0)
  connect({ port: 9000, family: 'IPv4' })
  // @ts-expect-error keepAlive is a boolean here (net's name); the delay is keepAliveInitialDelay
  connect({ port: 9000, keepAlive: 30_000 })
  // @ts-expect-error a port, a path or options
  connect()

  // new Socket() + socket.connect(), same forms
  const unconnected = new Socket(socketOptions)
  new Socket()
  expectType<Socket>(unconnected.connect(9000, 'localhost', () => {}))
  unconnected.connect({ port: 9000, signal: AbortSignal.timeout(1000) })
  unconnected.connect('/tmp/netpoll.sock')
  // @ts-expect-error unknown option
  new Socket({ fd: 3 })

  // The stream and net.Socket's surface
  expectType<Duplex>(socket)
  socket.on('data', (chunk: Buffer) => chunk)
  socket.on('close', (hadError: boolean) => hadError)
  expectType<boolean>(socket.write('ping'))
  socket.write(Buffer.from('ping'), (error) => error)
  expectType<boolean>(socket.connecting)
  expectType<boolean>(socket.pending)
  expectType<string>(socket.readyState)
  expectType<Socket>(socket.setTimeout(60_000, () => socket.destroy()).setNoDelay(false).setKeepAlive(true, 30_000))
  socket.setTimeout(0)
  socket.setNoDelay()
  socket.setKeepAlive()
  const local = socket.address()
  expectEqual<typeof local, AddressInfo | Record<string, never>>(true)
  const info: AddressInfo = { address: '127.0.0.1', family: 'IPv4', port: 9000 }
  expectType<AddressInfo | Record<string, never>>(info)
  expectType<string | undefined>(socket.remoteAddress)
  expectType<number | undefined>(socket.remotePort)
  expectType<string | undefined>(socket.remoteFamily)
  expectType<string | undefined>(socket.localAddress)
  expectType<number | undefined>(socket.localPort)
  expectType<string | undefined>(socket.localFamily)
  expectType<number>(socket.bytesRead + socket.bytesWritten + socket.bufferSize)
  expectType<Socket>(socket.unref().ref())
  socket.destroySoon()
  expectType<Socket>(socket.resetAndDestroy())
  socket.end()
  // @ts-expect-error setTimeout takes the ms first
  socket.setTimeout(() => {}, 1000)
  // @ts-expect-error readyState is read-only
  socket.readyState = 'open'
}

// ---- TLS: createListener / dial with { tls }, conn.tls ------------------------------------------
export async function tls(): Promise<void> {
  const pem: Pem = Buffer.from('-----BEGIN CERTIFICATE-----')
  const serverTls: TlsServerOptions = {
    cert: [pem as Buffer, 'CERT'],
    key: 'KEY',
    ca: pem,
    requestCert: true,
    rejectUnauthorized: false,
    ALPNProtocols: ['h2', Buffer.from('http/1.1')],
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: 'TLS_AES_128_GCM_SHA256',
    handshakeTimeout: 10_000,
  }
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: serverTls })
  ln.onTlsClientError = (e: NetpollError) => void e.code
  expectType<number>(ln.tlsClientErrors)
  // @ts-expect-error a TLS server needs its certificate
  await createListener('tcp', '127.0.0.1:0', { tls: { key: 'KEY' } })

  const clientTls: TlsClientOptions = {
    servername: 'example.internal',
    ca: ['CA'],
    cert: 'CERT',
    key: Buffer.from('KEY'),
    rejectUnauthorized: true,
    ALPNProtocols: ['h2'],
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: 'TLS_AES_256_GCM_SHA384',
    handshakeTimeout: 5_000,
  }
  const conn = await dial('tcp', '127.0.0.1:8443', { tls: clientTls })
  const state: TlsState | null = conn.tls
  if (state !== null) {
    expectType<string>(state.protocol)
    expectType<string>(state.cipher.name + state.cipher.standardName + state.cipher.version)
    expectType<string | false>(state.alpnProtocol)
    expectType<string | null>(state.servername)
    expectType<boolean>(state.authorized && state.sessionReused)
    expectType<string | null>(state.authorizationError)
    const cert = state.peerCertificate
    if (cert !== null) {
      expectType<Record<string, string> | undefined>(cert.subject ?? cert.issuer)
      expectType<string | undefined>(cert.valid_from ?? cert.valid_to ?? cert.serialNumber ?? cert.subjectaltname)
      expectType<string>(cert.fingerprint256)
      expectType<Buffer>(cert.raw)
    }
  }
  // @ts-expect-error only TLS 1.2 and 1.3 exist here
  expectType<TlsClientOptions>({ minVersion: 'TLSv1' })
  conn.close()
  ln.close()
}

// ---- TLS contexts, EventLoop / pool options, the bridge's TLSSocket ------------------------------
export async function tlsContexts(): Promise<void> {
  const alpha: TlsIdentity = { cert: 'CERT', key: 'KEY' }
  const options: SecureContextOptions = { cert: 'CERT', key: 'KEY', SNIContexts: { 'alpha.test': alpha }, sessionTimeout: 300, ticketKeys: Buffer.alloc(48) }
  const ctx: SecureContext = createSecureContext(options)
  ctx.setSecureContext({ ...ctx.options, cert: 'NEW', key: 'NEWKEY' })
  const ln = await createListener('tcp', '127.0.0.1:0', { tls: { secureContext: ctx, handshakeTimeout: 1000 } })
  expectType<SecureContext | null>(ln.secureContext)
  ln.setSecureContext(options)
  const loop = new EventLoop(() => {}, { tls: ctx })
  const served: { listener: Listener; served: Promise<void> } = await loop.listen('tcp', '127.0.0.1:0')
  loop.setSecureContext(options)
  void served
  new ConnectionPool({ tls: { servername: 'x', sessionReuse: false } }).close()
  const server = new Server({ tls: options }, (s) => void s)
  server.on('secureConnection', (s: TLSSocket) => {
    expectType<boolean>(s.encrypted && s.authorized && s.isSessionReused())
    expectType<string | null>(s.authorizationError ?? s.getProtocol())
    expectType<string | false | null>(s.alpnProtocol)
    expectType<string | false>(s.servername)
    const peer: PeerCertificate | Record<string, never> | null = s.getPeerCertificate()
    void peer
    void s.getCipher()?.standardName
  })
  server.addContext('beta.test', ctx)
  const pick: SNICallback = (servername, cb) => {
    expectType<string>(servername)
    if (servername === 'alpha.test') cb(null, ctx)
    else if (servername === 'bad.test') cb(new Error('unknown tenant'))
    else cb(null)
  }
  const sniLn = await createListener('tcp', '127.0.0.1:0', { tls: { cert: 'CERT', key: 'KEY', SNICallback: pick } })
  sniLn.close()
  new Server({ tls: { secureContext: ctx, SNICallback: pick } }).close()
  // @ts-expect-error the callback answers with one of our contexts
  expectType<SNICallback>((_name, cb) => cb(null, { context: {} }))
  const sock = connect({ port: 443, host: 'example.internal', tls: { ca: 'CA' } })
  sock.on('secureConnect', () => {})
}

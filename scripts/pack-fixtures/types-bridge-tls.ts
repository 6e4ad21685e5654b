// The published declarations of the net bridge and TLS: the second half of the type test that
// types.ts starts (read its header: every public export and option property must be used in
// one of the two files; scripts/test-pack.mjs compiles and checks them together).
import { EventEmitter } from 'node:events'
import { Duplex } from 'node:stream'
import {
  type AddressInfo,
  type ConnectOptions,
  ConnectionPool,
  EventLoop,
  Listener,
  type ListenOptions,
  type NetpollError,
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
  Server,
  type ServerAddress,
  type ServerOptions,
  Socket,
  type SocketOptions,
  connect,
  createConnection,
  createListener,
  createServer,
  dial,
} from 'netpoll'
import { expectEqual, expectType } from './types'

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

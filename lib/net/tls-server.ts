/**
 * TLS on the bridge's {@link Server} (`createServer({ tls })`): the server's context, Node's
 * `setSecureContext`/`addContext`, and which socket and event an accepted connection gets.
 * @internal
 */
import { SecureContext, serverContext } from '../core/secure-context'
import type { SecureContextOptions, TlsIdentity, TlsServerOptions } from '../core/secure-context'
import { Socket, SocketOptions } from './socket'
import { TLSSocket } from './tls-socket'

/** What a TLS server keeps: its context (built at `createServer`) and handshake timeout. */
export type ServerTls = ReturnType<typeof serverContext>

/** The server's TLS settings, built once (bad certificates throw in `createServer`, as Node's). */
export function serverTls(tls: TlsServerOptions | SecureContext | undefined): ServerTls | null {
  return tls === undefined ? null : serverContext(tls)
}

/** The listener's `tls` option for a server's settings. */
export function listenerTls(tls: ServerTls | null): TlsServerOptions | undefined {
  return tls === null ? undefined : { secureContext: tls.context, handshakeTimeout: tls.handshakeTimeout, SNICallback: tls.sniCallback }
}

/** A socket for an accepted connection and the event it is announced with. */
export function acceptedSocket(tls: ServerTls | null, options: SocketOptions): { socket: Socket; event: 'connection' | 'secureConnection' } {
  return tls === null ? { socket: new Socket(options), event: 'connection' } : { socket: new TLSSocket(options), event: 'secureConnection' }
}

function notTls(): Error {
  return Object.assign(new Error('the server was created without tls'), { code: 'ERR_TLS_NOT_ENABLED' })
}

/** `server.setSecureContext(options)`: new handshakes use the new settings. */
export function setSecureContext(tls: ServerTls | null, options: SecureContextOptions): void {
  if (tls === null) throw notTls()
  tls.context.setSecureContext(options)
}

/**
 * `server.addContext(hostname, context)`: clients sending `hostname` as SNI get that
 * context's certificates from the next handshake on (a reload of the server's context with
 * the name added to its `SNIContexts`).
 */
export function addContext(tls: ServerTls | null, hostname: string, context: SecureContext | TlsIdentity): void {
  if (tls === null) throw notTls()
  const o = tls.context.options
  tls.context.setSecureContext({ ...o, SNIContexts: { ...o.SNIContexts, [hostname]: context } })
}

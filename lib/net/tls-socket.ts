/**
 * {@link TLSSocket}: the bridge's socket over a netpoll TLS connection, with the surface of
 * Node's `tls.TLSSocket` that `https`, `http2` and grpc-js use. The handshake and the records
 * run in the shards; the socket reads and writes plaintext like any bridge socket.
 */
import type { Connection } from '../core/connection'
import type { TlsState } from '../core/tls'
import { Socket } from './socket'

/** `getPeerCertificate()`'s result (the fields netpoll reads from the leaf certificate). */
export type PeerCertificate = NonNullable<TlsState['peerCertificate']>

/**
 * A `tls.TLSSocket`-shaped {@link Socket}: `encrypted`, `authorized`, `authorizationError`,
 * `alpnProtocol`, `servername`, `getPeerCertificate()`, `getProtocol()`, `getCipher()`,
 * `isSessionReused()`. Client sockets (`connect({ tls })`) emit `'secureConnect'` after
 * `'connect'`; server sockets come with the server's `'secureConnection'`. The state is read
 * once, when the handshake has completed (before either event), and stays readable after
 * the socket closed.
 */
export class TLSSocket extends Socket {
  /** Always true (`tls.TLSSocket#encrypted`). */
  readonly encrypted = true
  private state: TlsState | null = null

  /** @internal Takes the connection over and keeps its TLS state. */
  override attach(conn: Connection): void {
    if (!this.destroyed) this.state = conn.tls
    super.attach(conn)
  }

  /** Whether the peer's certificate verified (a client without one, on a server: false). */
  get authorized(): boolean {
    return this.state?.authorized ?? false
  }

  /** Why the peer's certificate did not verify (Node's code), else `null`. */
  get authorizationError(): string | null {
    return this.state?.authorizationError ?? null
  }

  /** The protocol ALPN agreed on, or `false` (`null` before the handshake, as Node). */
  get alpnProtocol(): string | false | null {
    return this.state ? this.state.alpnProtocol : null
  }

  /** Server: the SNI name the client sent; client: the name dialled. `false` if none. */
  get servername(): string | false {
    return this.state?.servername ?? false
  }

  /**
   * The peer's leaf certificate in the shape of Node's `getPeerCertificate()` (subject,
   * issuer, valid_from, valid_to, serialNumber, subjectaltname, fingerprint256, raw); `{}`
   * when the peer sent none, `null` before the handshake. `detailed` chains
   * (`issuerCertificate`) are not provided.
   */
  getPeerCertificate(_detailed?: boolean): PeerCertificate | Record<string, never> | null {
    if (this.state === null) return null
    return this.state.peerCertificate ?? {}
  }

  /** `'TLSv1.2'` or `'TLSv1.3'`; `null` before the handshake. */
  getProtocol(): string | null {
    return this.state?.protocol ?? null
  }

  /** `{ name, standardName, version }` of the suite in use; `null` before the handshake. */
  getCipher(): TlsState['cipher'] | null {
    return this.state?.cipher ?? null
  }

  /** Whether the handshake resumed an earlier session (a ticket or a session ID). */
  isSessionReused(): boolean {
    return this.state?.sessionReused ?? false
  }

  /**
   * Always `undefined`: sessions stay in the native session cache, which resumes them by
   * itself on later dials with the same options (Node's `session` option is not taken).
   */
  getSession(): undefined {
    return undefined
  }
}

/**
 * TLS options with Node's `tls` names, converted for the native side, and what `conn.tls`
 * shows. The handshake and the records run in the shards (rustls); JS sees plaintext only.
 */
import type * as NodeTls from 'node:tls'
import { native } from './native'

/**
 * Node's bundled root certificates, loaded when a client first needs them: `node:tls` (with
 * its stream and crypto modules) costs a server that never dials over TLS ~1.2 MB of RSS.
 */
function nodeRootCertificates(): readonly string[] {
  return (require('node:tls') as typeof NodeTls).rootCertificates
}

/** PEM data as Node takes it: a string or Buffer, or several. */
export type Pem = string | Buffer | Array<string | Buffer>

/** Options shared by TLS servers and clients. */
export interface TlsCommonOptions {
  /** Trusted CA certificates (PEM). Client default: Node's `tls.rootCertificates`. */
  ca?: Pem
  /** Fail the handshake when the peer's certificate does not verify. Default true. */
  rejectUnauthorized?: boolean
  /** ALPN protocols in preference order (`['h2', 'http/1.1']`). */
  ALPNProtocols?: Array<string | Buffer>
  /** `'TLSv1.2'` or `'TLSv1.3'` (rustls implements no older version). Default `'TLSv1.2'`. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3'
  /** `'TLSv1.2'` or `'TLSv1.3'`. Default `'TLSv1.3'`. */
  maxVersion?: 'TLSv1.2' | 'TLSv1.3'
  /** OpenSSL-style cipher list; only the AEAD suites rustls implements can be chosen. */
  ciphers?: string
  /**
   * ms the handshake may take (servers: from the accept; clients: from the TCP connect);
   * then it fails with `ERR_TLS_HANDSHAKE_TIMEOUT`. Default 120000 (Node's), 0 = none.
   */
  handshakeTimeout?: number
}

/** `dial(..., { tls })`: the connection is a TLS client. */
export interface TlsClientOptions extends TlsCommonOptions {
  /** SNI and the name the certificate must carry. Default: the host dialled. */
  servername?: string
  /** Client certificate chain (mutual TLS). */
  cert?: string | Buffer
  /** Client private key. */
  key?: string | Buffer
  /**
   * Remember sessions and resume them on later dials to the same `servername` with the same
   * options (TLS 1.3 tickets, TLS 1.2 IDs or tickets). Default true, as Node's session cache.
   */
  sessionReuse?: boolean
}

/** A TLS connection's state, as Node's `TLSSocket` reports it. */
export interface TlsState {
  /** `'TLSv1.2'` or `'TLSv1.3'` (`getProtocol()`). */
  protocol: string
  /** `getCipher()`. */
  cipher: { name: string; standardName: string; version: string }
  /** The protocol ALPN agreed on, or `false`. */
  alpnProtocol: string | false
  /** Server: the SNI name the client sent; client: the name dialled. `null` if none. */
  servername: string | null
  /** Whether the peer's certificate verified. */
  authorized: boolean
  /** Why not (Node's code, e.g. `'UNABLE_TO_VERIFY_LEAF_SIGNATURE'`), else `null`. */
  authorizationError: string | null
  /** The peer's leaf certificate in the shape of `getPeerCertificate()`, or `null`. */
  peerCertificate: {
    subject?: Record<string, string>
    issuer?: Record<string, string>
    valid_from?: string
    valid_to?: string
    serialNumber?: string
    subjectaltname?: string
    fingerprint256: string
    raw: Buffer
  } | null
  /** Whether the handshake resumed an earlier session (`isSessionReused()`). */
  sessionReused: boolean
}

/** PEM blocks as strings. @internal */
export function pems(p: Pem | undefined): string[] {
  if (p === undefined) return []
  return (Array.isArray(p) ? p : [p]).map((x) => (typeof x === 'string' ? x : x.toString('latin1')))
}

/** The settings servers and clients share, in native form. @internal */
export function common(o: TlsCommonOptions) {
  return {
    rejectUnauthorized: o.rejectUnauthorized,
    alpnProtocols: o.ALPNProtocols?.map((p) => (typeof p === 'string' ? p : p.toString('latin1'))),
    minVersion: o.minVersion,
    maxVersion: o.maxVersion,
    ciphers: o.ciphers,
  }
}

/** Whether the default CA set went to the native side (once per process). */
let defaultCaSent = false

/** The native form of client options for a dial of `host`. @internal */
export function nativeClientTls(o: TlsClientOptions, host: string) {
  if (o.ca === undefined && !defaultCaSent) {
    native.setDefaultCa([...nodeRootCertificates()])
    defaultCaSent = true
  }
  return {
    ...common(o),
    servername: o.servername ?? host,
    handshakeTimeout: o.handshakeTimeout,
    ca: o.ca === undefined ? undefined : pems(o.ca),
    cert: o.cert === undefined ? undefined : pems(o.cert)[0],
    key: o.key === undefined ? undefined : pems(o.key)[0],
    sessionReuse: o.sessionReuse,
  }
}

/** Node's shape of the native state. @internal */
export function tlsState(s: {
  protocol: string
  cipher: { name: string; standardName: string; version: string }
  alpnProtocol?: string | null
  servername?: string | null
  authorized: boolean
  authorizationError?: string | null
  peerCertificate?: {
    subject?: Record<string, string> | null
    issuer?: Record<string, string> | null
    validFrom?: string | null
    validTo?: string | null
    serialNumber?: string | null
    subjectaltname?: string | null
    fingerprint256: string
    raw: Buffer
  } | null
  sessionReused: boolean
}): TlsState {
  const p = s.peerCertificate
  let peerCertificate: TlsState['peerCertificate'] = null
  if (p) {
    peerCertificate = { fingerprint256: p.fingerprint256, raw: p.raw }
    if (p.subject) peerCertificate.subject = p.subject
    if (p.issuer) peerCertificate.issuer = p.issuer
    if (p.validFrom) peerCertificate.valid_from = p.validFrom
    if (p.validTo) peerCertificate.valid_to = p.validTo
    if (p.serialNumber) peerCertificate.serialNumber = p.serialNumber
    if (p.subjectaltname) peerCertificate.subjectaltname = p.subjectaltname
  }
  return {
    protocol: s.protocol,
    cipher: s.cipher,
    alpnProtocol: s.alpnProtocol ?? false,
    servername: s.servername ?? null,
    authorized: s.authorized,
    authorizationError: s.authorizationError ?? null,
    peerCertificate,
    sessionReused: s.sessionReused,
  }
}

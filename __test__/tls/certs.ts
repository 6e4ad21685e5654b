// Certificates for the TLS specs, made at test time with the `openssl` command in a temp dir:
// a CA and a `localhost` / 127.0.0.1 server certificate it signed (ECDSA P-256), plus an
// unrelated CA for the unknown-CA case; `moreCerts()` adds an RSA server certificate, an
// expired one, a second ECDSA one (rotation), certificates for two SNI names and a client
// certificate from the unrelated CA.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Certs {
  /** The CA that signed `cert`. */
  ca: string
  /** A CA that signed nothing here. */
  otherCa: string
  /** The server certificate (localhost, 127.0.0.1) and its key. */
  cert: string
  key: string
  /** A client certificate (CN=client) the CA signed, and its key. */
  clientCert: string
  clientKey: string
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  } catch (e) {
    throw new Error(`the TLS specs need the openssl command: openssl ${args.join(' ')} failed: ${(e as Error).message}`)
  }
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '30', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ])
}

let cached: Certs | null = null
/** The CAs' certificates and keys, for {@link moreCerts}. */
let caDir: { ca: string; caKey: string; other: string; otherKey: string } | null = null

/** The certificates (generated once per test file). */
export function certs(): Certs {
  if (cached) return cached
  const dir = mkdtempSync(join(tmpdir(), 'netpoll-tls-'))
  try {
    makeCa(dir, 'ca')
    makeCa(dir, 'other-ca')
    openssl(dir, [
      'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost',
    ])
    writeFileSync(
      join(dir, 'ext.cnf'),
      'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
    )
    openssl(dir, [
      'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'server.pem', '-days', '30', '-extfile', 'ext.cnf',
    ])
    openssl(dir, [
      'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=client',
    ])
    writeFileSync(join(dir, 'client.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n')
    openssl(dir, [
      'x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'client.pem', '-days', '30', '-extfile', 'client.cnf',
    ])
    const read = (f: string): string => readFileSync(join(dir, f), 'latin1')
    caDir = { ca: read('ca.pem'), caKey: read('ca.key'), other: read('other-ca.pem'), otherKey: read('other-ca.key') }
    cached = {
      ca: read('ca.pem'),
      otherCa: read('other-ca.pem'),
      cert: read('server.pem'),
      key: read('server.key'),
      clientCert: read('client.pem'),
      clientKey: read('client.key'),
    }
    return cached
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A key and certificate pair (PEM). */
export interface Pair {
  cert: string
  key: string
}

/** The certificates some specs need beyond {@link certs} (all signed by `certs().ca` unless said). */
export interface MoreCerts {
  /** RSA 2048 server certificate for localhost / 127.0.0.1. */
  rsa: Pair
  /** ECDSA server certificate for localhost / 127.0.0.1 that expired yesterday. */
  expired: Pair
  /** Another ECDSA localhost certificate (a rotation target). */
  rotated: Pair
  /** Server certificates for `alpha.test` and `beta.test`. */
  alpha: Pair
  beta: Pair
  /** A client certificate signed by `certs().otherCa`. */
  foreignClient: Pair
}

let more: MoreCerts | null = null

/** Extra certificates (generated once per test file, with their own temporary CAs' keys). */
export function moreCerts(): MoreCerts {
  if (more) return more
  const ca = caKeys()
  const dir = mkdtempSync(join(tmpdir(), 'netpoll-tls-more-'))
  try {
    writeFileSync(join(dir, 'ca.pem'), ca.ca)
    writeFileSync(join(dir, 'ca.key'), ca.caKey)
    writeFileSync(join(dir, 'other-ca.pem'), ca.other)
    writeFileSync(join(dir, 'other-ca.key'), ca.otherKey)
    const leaf = (name: string, newkey: string[], ca: string, san: string, usage: string, days: string): Pair => {
      openssl(dir, ['req', '-newkey', ...newkey, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`])
      writeFileSync(join(dir, `${name}.cnf`), `${san}basicConstraints=CA:FALSE\nextendedKeyUsage=${usage}\n`)
      openssl(dir, [
        'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
        '-out', `${name}.pem`, '-days', days, '-extfile', `${name}.cnf`,
      ])
      return { cert: readFileSync(join(dir, `${name}.pem`), 'latin1'), key: readFileSync(join(dir, `${name}.key`), 'latin1') }
    }
    const ec = ['ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']
    const local = 'subjectAltName=DNS:localhost,IP:127.0.0.1\n'
    more = {
      rsa: leaf('rsa', ['rsa:2048'], 'ca', local, 'serverAuth', '30'),
      expired: leaf('expired', ec, 'ca', local, 'serverAuth', '-1'),
      rotated: leaf('rotated', ec, 'ca', local, 'serverAuth', '30'),
      alpha: leaf('alpha.test', ec, 'ca', 'subjectAltName=DNS:alpha.test\n', 'serverAuth', '30'),
      beta: leaf('beta.test', ec, 'ca', 'subjectAltName=DNS:beta.test\n', 'serverAuth', '30'),
      foreignClient: leaf('foreign', ec, 'other-ca', '', 'clientAuth', '30'),
    }
    return more
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function caKeys(): NonNullable<typeof caDir> {
  certs()
  return caDir!
}

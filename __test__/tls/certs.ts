// Certificates for the TLS specs, made at test time with the `openssl` command in a temp dir:
// a CA and a `localhost` / 127.0.0.1 server certificate it signed (ECDSA P-256), plus an
// unrelated CA for the unknown-CA case.
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

// A self-signed certificate for the loopback names (localhost, 127.0.0.1, ::1), made with the
// system's openssl, for HTTPS listeners the server under test must trust: pass `certFile` to the
// server as NODE_EXTRA_CA_CERTS. (openssl is there wherever PostgreSQL's Debian packages are:
// postgresql-common depends on ssl-cert, which depends on openssl.)
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { trackTempDir } from './processes.ts'

export interface SelfSigned {
  key: string
  cert: string
  certFile: string
}

export function selfSignedLoopbackCert(): SelfSigned {
  const dir = mkdtempSync(path.join(tmpdir(), 'iam-cert-'))
  trackTempDir(dir)
  const keyFile = path.join(dir, 'key.pem')
  const certFile = path.join(dir, 'cert.pem')
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' })
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile }
}

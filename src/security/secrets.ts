// Random secrets and the salted hash used for stored client secrets.
// Client secrets we generate carry 256 bits of entropy, so a salted SHA-256 is as strong as a slow
// hash here and keeps client authentication on the token endpoint cheap.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

const SCHEME = 'sha256'

export function hashClientSecret(secret: string): string {
  const salt = randomBytes(16).toString('base64url')
  return `${SCHEME}$${salt}$${digest(salt, secret)}`
}

export function verifyClientSecret(stored: string | null | undefined, presented: string): boolean {
  const [scheme, salt, expected] = stored?.split('$') ?? []
  if (scheme !== SCHEME || !salt || !expected) return false
  const a = Buffer.from(digest(salt, presented))
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

function digest(salt: string, secret: string): string {
  return createHash('sha256').update(salt).update('\0').update(secret, 'utf8').digest('base64url')
}

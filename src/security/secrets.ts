// Random secrets and the hashes stored for client secrets.
// Secrets we generate carry 256 bits of entropy, so a salted SHA-256 is as strong as a slow hash
// and keeps client authentication at the token endpoint cheap. A secret imported from another
// system may be short and guessable: under 32 characters it is stored with scrypt instead, so a
// leaked database does not give it away at SHA-256 speed (docs/adr/0290-imported-client-secrets.md).
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

const SHA256 = 'sha256'
const SCRYPT = 'scrypt'
/** Below this length an imported secret is not assumed to be random enough for a fast hash. */
export const STRONG_SECRET_LENGTH = 32
// scrypt cost: N=2^14, r=8 (16 MiB, some 30 ms per check on one core): RFC 7914's interactive setting.
const SCRYPT_N = 16384
const SCRYPT_R = 8
const SCRYPT_P = 1

/** The stored form of a secret this server generated (high entropy): salted SHA-256. */
export function hashClientSecret(secret: string): string {
  const salt = randomBytes(16).toString('base64url')
  return `${SHA256}$${salt}$${digest(salt, secret)}`
}

/** The stored form of a secret brought from elsewhere: SHA-256 when long enough, else scrypt. */
export async function hashImportedClientSecret(secret: string): Promise<string> {
  if (secret.length >= STRONG_SECRET_LENGTH) return hashClientSecret(secret)
  const salt = randomBytes(16).toString('base64url')
  const key = await scryptKey(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
  return `${SCRYPT}$${SCRYPT_N}.${SCRYPT_R}.${SCRYPT_P}$${salt}$${key}`
}

export async function verifyClientSecret(stored: string | null | undefined, presented: string): Promise<boolean> {
  const parts = stored?.split('$') ?? []
  if (parts[0] === SHA256 && parts.length === 3 && parts[1] && parts[2]) return same(digest(parts[1], presented), parts[2])
  if (parts[0] === SCRYPT && parts.length === 4 && parts[2] && parts[3]) {
    const [n, r, p] = (parts[1] ?? '').split('.').map(Number)
    // Only the parameters this code writes: a tampered row must not make a check cost more.
    if (n !== SCRYPT_N || r !== SCRYPT_R || p !== SCRYPT_P) return false
    return same(await scryptKey(presented, parts[2], n, r, p), parts[3])
  }
  return false
}

function same(actual: string, expected: string): boolean {
  const a = Buffer.from(actual)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

function digest(salt: string, secret: string): string {
  return createHash('sha256').update(salt).update('\0').update(secret, 'utf8').digest('base64url')
}

// At most two scrypt checks at once: they run on libuv's thread pool (four threads), which
// password hashing (argon2) and file reads share; a flood of wrong guesses for a client with a short
// imported secret then waits here instead of holding up sign-ins.
const SCRYPT_CONCURRENCY = 2
let scryptRunning = 0
const scryptWaiting: Array<() => void> = []

async function scryptKey(secret: string, salt: string, N: number, r: number, p: number): Promise<string> {
  if (scryptRunning < SCRYPT_CONCURRENCY) scryptRunning++
  else await new Promise<void>((resolve) => scryptWaiting.push(resolve)) // the slot is handed over
  try {
    return await new Promise((resolve, reject) => {
      scrypt(secret.normalize('NFC'), salt, 32, { N, r, p, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key.toString('base64url'))))
    })
  } finally {
    const next = scryptWaiting.shift()
    if (next) next()
    else scryptRunning--
  }
}

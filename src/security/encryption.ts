// Secrets at rest (TOTP seeds) are sealed with AES-256-GCM; one-time codes and backup codes are
// stored as HMAC-SHA256 digests. Keys form a ring: the first encrypts and digests, every key can
// still open what it sealed, so keys rotate by prepending a new one. Each output names its key.
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto'
import path from 'node:path'
import { z } from 'zod'
import type { Config } from '../config.ts'
import { readOrCreatePrivateFile } from './key-files.ts'

export interface EncryptionKey { id: string; key: Buffer }

export class EncryptionKeyError extends Error {
  override name = 'EncryptionKeyError'
}

const keySpec = z.string().regex(/^[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/_=-]+$/, 'expected id:base64-key')

function parseKeys(spec: string, source: string): EncryptionKey[] {
  const keys = spec.split(',').map((s) => s.trim()).filter(Boolean).map((entry) => {
    if (!keySpec.safeParse(entry).success) throw new EncryptionKeyError(`${source}: "${entry.split(':')[0]}…" is not id:base64-key`)
    const [id, b64] = entry.split(':') as [string, string]
    const key = Buffer.from(b64, 'base64')
    if (key.length !== 32) throw new EncryptionKeyError(`${source}: key ${id} must be 32 bytes (base64 of 32 random bytes)`)
    return { id, key }
  })
  if (!keys.length) throw new EncryptionKeyError(`${source}: no keys`)
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new EncryptionKeyError(`${source}: key ids must be unique`)
  return keys
}

export async function loadEncryptionKeys(config: Pick<Config, 'encryptionKeys' | 'keysDir'>): Promise<EncryptionKey[]> {
  if (config.encryptionKeys) return parseKeys(config.encryptionKeys, 'ENCRYPTION_KEYS')
  const file = path.join(config.keysDir, 'encryption-keys.txt')
  const text = await readOrCreatePrivateFile(file, () => `k1:${randomBytes(32).toString('base64')}\n`)
  return parseKeys(text.trim(), file)
}

const VERSION = 'v1'

export function createSecretBox(keys: EncryptionKey[]) {
  // KeyObjects made once: Node 24 checks a Buffer key by catching exceptions, ~9 µs per operation.
  const ring = keys.map((k) => ({ id: k.id, key: createSecretKey(k.key) }))
  const active = ring[0]!
  const byId = new Map(ring.map((k) => [k.id, k.key]))
  const digest = (key: KeyObject, purpose: string, value: string) =>
    createHmac('sha256', key).update(purpose).update('\0').update(value).digest('base64url')

  return {
    /** `context` binds the ciphertext to its owner (e.g. a user id): it cannot be moved to another row. */
    seal(plaintext: string, context: string): string {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', active.key, iv)
      cipher.setAAD(Buffer.from(context))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
      return [VERSION, active.id, iv.toString('base64url'), body.toString('base64url')].join('.')
    },
    open(sealed: string, context: string): string {
      const [version, id, iv, body] = sealed.split('.')
      const key = id ? byId.get(id) : undefined
      if (version !== VERSION || !key || !iv || !body) throw new EncryptionKeyError('sealed value is malformed or its key is unknown')
      const data = Buffer.from(body, 'base64url')
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
      decipher.setAAD(Buffer.from(context))
      decipher.setAuthTag(data.subarray(data.length - 16))
      return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8')
    },
    /** Digest with the active key, as stored: `keyId:digest`. */
    digest(purpose: string, value: string): string {
      return `${active.id}:${digest(active.key, purpose, value)}`
    },
    /** Every digest `value` may be stored under (one per key), for lookups across a rotation. */
    digestCandidates(purpose: string, value: string): string[] {
      return ring.map((k) => `${k.id}:${digest(k.key, purpose, value)}`)
    },
    /** Constant-time check of `value` against a stored digest, whichever key made it. */
    matchesDigest(stored: string, purpose: string, value: string): boolean {
      const [id, expected] = stored.split(':')
      const key = id ? byId.get(id) : undefined
      if (!key || !expected) return false
      const a = Buffer.from(digest(key, purpose, value))
      const b = Buffer.from(expected)
      return a.length === b.length && timingSafeEqual(a, b)
    },
  }
}
export type SecretBox = ReturnType<typeof createSecretBox>

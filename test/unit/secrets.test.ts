import { describe, expect, it } from 'vitest'
import { hashClientSecret, hashImportedClientSecret, randomSecret, verifyClientSecret } from '../../src/security/secrets.ts'

const B64URL = /^[A-Za-z0-9_-]+$/

describe('hashClientSecret', () => {
  it('produces sha256$<salt>$<digest> with a 16-byte salt and a 32-byte digest in base64url', async () => {
    const stored = hashClientSecret('s3cret')
    expect(stored).toMatch(/^sha256\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/)
    expect(stored).not.toContain('s3cret')
  })

  it('salts: two hashes of one secret differ, and both verify', async () => {
    const a = hashClientSecret('same secret')
    const b = hashClientSecret('same secret')
    expect(a).not.toBe(b)
    expect(a.split('$')[1]).not.toBe(b.split('$')[1])
    expect(await verifyClientSecret(a, 'same secret')).toBe(true)
    expect(await verifyClientSecret(b, 'same secret')).toBe(true)
  })
})

describe('verifyClientSecret', () => {
  it.each([
    ['a generated secret', randomSecret()],
    ['punctuation -%:+', 'a-b%c:d+e=f/g$h'],
    ['unicode', 'pässwörd-密码-🔑'],
    ['whitespace', '  spaced out  '],
  ])('accepts the right secret: %s', async (_label, secret) => {
    expect(await verifyClientSecret(hashClientSecret(secret), secret)).toBe(true)
  })

  it('rejects a wrong secret, including near misses and the empty string', async () => {
    const secret = 'correct horse battery staple'
    const stored = hashClientSecret(secret)
    expect(await verifyClientSecret(stored, 'wrong')).toBe(false)
    expect(await verifyClientSecret(stored, '')).toBe(false)
    expect(await verifyClientSecret(stored, `${secret} `)).toBe(false)
    expect(await verifyClientSecret(stored, secret.slice(0, -1))).toBe(false)
    expect(await verifyClientSecret(stored, secret.toUpperCase())).toBe(false)
  })

  it('rejects a tampered digest or salt', async () => {
    const stored = hashClientSecret('secret')
    const [scheme, salt, digest] = stored.split('$') as [string, string, string]
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1)
    expect(await verifyClientSecret(`${scheme}$${salt}$${flip(digest, 0)}`, 'secret')).toBe(false)
    expect(await verifyClientSecret(`${scheme}$${salt}$${flip(digest, digest.length - 1)}`, 'secret')).toBe(false)
    expect(await verifyClientSecret(`${scheme}$${flip(salt, 3)}$${digest}`, 'secret')).toBe(false)
    expect(await verifyClientSecret(`${scheme}$${salt}$${digest.slice(0, -1)}`, 'secret')).toBe(false)
  })

  it('rejects an unknown scheme even when salt and digest are right', async () => {
    const stored = hashClientSecret('secret')
    expect(await verifyClientSecret(stored.replace(/^sha256/, 'sha512'), 'secret')).toBe(false)
    expect(await verifyClientSecret(stored.replace(/^sha256/, 'plain'), 'secret')).toBe(false)
  })

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['empty', ''],
    ['the plaintext itself', 'secret'],
    ['missing digest', 'sha256$c2FsdA'],
    ['empty salt', 'sha256$$abc'],
    ['empty digest', 'sha256$c2FsdA$'],
    ['dollars only', '$$'],
  ])('rejects a garbage stored value: %s', async (_label, stored) => {
    expect(await verifyClientSecret(stored, 'secret')).toBe(false)
    expect(await verifyClientSecret(stored, '')).toBe(false)
  })
})

describe('randomSecret', () => {
  it('defaults to 32 bytes as 43 base64url characters', async () => {
    const s = randomSecret()
    expect(s).toHaveLength(43)
    expect(s).toMatch(B64URL)
    expect(Buffer.from(s, 'base64url')).toHaveLength(32)
  })

  it('honours the byte count', async () => {
    expect(randomSecret(16)).toHaveLength(22)
    expect(Buffer.from(randomSecret(16), 'base64url')).toHaveLength(16)
    expect(randomSecret(64)).toHaveLength(86)
  })

  it('is random: no repeats over many draws', async () => {
    const draws = new Set(Array.from({ length: 200 }, () => randomSecret()))
    expect(draws.size).toBe(200)
    for (const s of draws) expect(s).toMatch(B64URL)
  })
})

describe('hashImportedClientSecret', () => {
  it('stores a short imported secret with scrypt, a long one like a generated one, and both verify', async () => {
    const short = await hashImportedClientSecret('legacy-secret')
    expect(short).toMatch(/^scrypt\$16384\.8\.1\$[\w-]{22}\$[\w-]{43}$/)
    expect(await verifyClientSecret(short, 'legacy-secret')).toBe(true)
    expect(await verifyClientSecret(short, 'legacy-secreT')).toBe(false)
    const long = await hashImportedClientSecret('l'.repeat(32))
    expect(long).toMatch(/^sha256\$/)
    expect(await verifyClientSecret(long, 'l'.repeat(32))).toBe(true)
  })

  it('refuses a stored scrypt hash whose cost parameters were changed (a tampered row must not cost more)', async () => {
    const short = await hashImportedClientSecret('legacy-secret')
    expect(await verifyClientSecret(short.replace('16384.8.1', '1048576.8.1'), 'legacy-secret')).toBe(false)
  })
})

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { calculateJwkThumbprint, compactVerify, CompactSign, importJWK, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateJwks, jwksFile, KeyError, loadCookieKeys, loadSigningKeys, type PrivateJwks } from '../../src/oidc/keys.ts'

let root: string
let counter = 0
/** A fresh, not yet existing KEYS_DIR under the temp root. */
const freshDir = () => path.join(root, `keys-${++counter}`)
const mode = (file: string) => statSync(file).mode & 0o777
const base = { jwks: undefined, jwksFile: undefined, production: false }

let sample: PrivateJwks
beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'iam-keys-test-'))
  sample = await generateJwks()
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

async function expectKeyError(p: Promise<unknown>, message: RegExp) {
  const err = await p.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(KeyError)
  expect((err as Error).message).toMatch(message)
}

describe('loadSigningKeys: generated keys', () => {
  it('generates a private ES256 + RS256 JWKS into KEYS_DIR with mode 0600', async () => {
    const keysDir = freshDir()
    const jwks = await loadSigningKeys({ ...base, keysDir })
    const file = jwksFile({ keysDir })
    expect(file).toBe(path.join(keysDir, 'jwks.json'))
    expect(mode(file)).toBe(0o600)
    expect(mode(keysDir)).toBe(0o700)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(jwks)

    expect(jwks.keys.map((k) => k.alg)).toEqual(['ES256', 'RS256'])
    const [ec, rsa] = jwks.keys as [JWK, JWK]
    expect(ec).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig' })
    expect(rsa).toMatchObject({ kty: 'RSA', use: 'sig' })
    expect(Buffer.from(rsa.n!, 'base64url').length * 8).toBe(2048)
    for (const k of jwks.keys) {
      expect(k.d).toBeTruthy()
      expect(k.kid).toBe(await calculateJwkThumbprint(k))
    }
    expect(ec.kid).not.toBe(rsa.kid)
  })

  it('reuses the stored JWKS on the next call (same kids)', async () => {
    const keysDir = freshDir()
    const first = await loadSigningKeys({ ...base, keysDir })
    const second = await loadSigningKeys({ ...base, keysDir })
    expect(second.keys.map((k) => k.kid)).toEqual(first.keys.map((k) => k.kid))
    expect(second).toEqual(first)
  })

  it('produces keys that sign and verify', async () => {
    const jwks = await loadSigningKeys({ ...base, keysDir: freshDir() })
    for (const jwk of jwks.keys) {
      const alg = jwk.alg!
      const privateKey = await importJWK(jwk, alg)
      const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk
      const jws = await new CompactSign(new TextEncoder().encode('hello')).setProtectedHeader({ alg, kid: jwk.kid! }).sign(privateKey)
      const { payload } = await compactVerify(jws, await importJWK(pub, alg))
      expect(new TextDecoder().decode(payload)).toBe('hello')
    }
  })

  it('throws a KeyError naming the file when the stored JWKS is corrupt', async () => {
    const keysDir = freshDir()
    await loadSigningKeys({ ...base, keysDir })
    const file = jwksFile({ keysDir })
    writeFileSync(file, '{ not json')
    await expectKeyError(loadSigningKeys({ ...base, keysDir }), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not valid JSON`))
  })
})

describe('loadSigningKeys: configured keys', () => {
  it('accepts a private JWKS from the JWKS string and writes nothing to KEYS_DIR', async () => {
    const keysDir = freshDir()
    const jwks = await loadSigningKeys({ ...base, keysDir, jwks: JSON.stringify(sample) })
    expect(jwks.keys.map((k) => k.kid)).toEqual(sample.keys.map((k) => k.kid))
    expect(existsSync(keysDir)).toBe(false)
  })

  it('prefers JWKS over stored keys in KEYS_DIR', async () => {
    const keysDir = freshDir()
    const stored = await loadSigningKeys({ ...base, keysDir })
    const jwks = await loadSigningKeys({ ...base, keysDir, jwks: JSON.stringify(sample) })
    expect(jwks.keys[0]!.kid).toBe(sample.keys[0]!.kid)
    expect(jwks.keys[0]!.kid).not.toBe(stored.keys[0]!.kid)
  })

  it('reads a JWKS_FILE', async () => {
    const file = path.join(root, 'configured-jwks.json')
    writeFileSync(file, JSON.stringify(sample))
    const jwks = await loadSigningKeys({ ...base, keysDir: freshDir(), jwksFile: file })
    expect(jwks.keys.map((k) => k.kid)).toEqual(sample.keys.map((k) => k.kid))
  })

  it('accepts an RSA-only JWKS', async () => {
    const rsaOnly = { keys: sample.keys.filter((k) => k.kty === 'RSA') }
    const jwks = await loadSigningKeys({ ...base, keysDir: freshDir(), jwks: JSON.stringify(rsaOnly) })
    expect(jwks.keys).toHaveLength(1)
  })

  it('rejects invalid JSON', async () => {
    await expectKeyError(loadSigningKeys({ ...base, keysDir: freshDir(), jwks: '{"keys": [' }), /^JWKS: not valid JSON$/)
    const file = path.join(root, 'broken-jwks.json')
    writeFileSync(file, 'nope')
    await expectKeyError(loadSigningKeys({ ...base, keysDir: freshDir(), jwksFile: file }), /^JWKS_FILE: not valid JSON$/)
  })

  it('rejects public-only keys', async () => {
    const publicOnly = { keys: sample.keys.map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub }) => pub) }
    await expectKeyError(loadSigningKeys({ ...base, keysDir: freshDir(), jwks: JSON.stringify(publicOnly) }), /^JWKS: not a private JWKS \(.*keys\.0\.d/)
  })

  it('rejects a JWKS without an RSA key', async () => {
    const ecOnly = { keys: sample.keys.filter((k) => k.kty === 'EC') }
    await expectKeyError(loadSigningKeys({ ...base, keysDir: freshDir(), jwks: JSON.stringify(ecOnly) }), /^JWKS: an RSA key is required/)
  })

  it.each<[string, (rsa: JWK) => unknown]>([
    ['an empty key list', () => ({ keys: [] })],
    ['no keys member', () => ({ foo: 1 })],
    ['a key without kid', (rsa) => ({ keys: [{ ...rsa, kid: undefined }] })],
    ['an encryption key', (rsa) => ({ keys: [{ ...rsa, use: 'enc' }] })],
    ['an unknown kty', (rsa) => ({ keys: [{ ...rsa, kty: 'oct' }] })],
  ])('rejects %s', async (_label, make) => {
    const doc = make(sample.keys.find((k) => k.kty === 'RSA')!)
    await expectKeyError(loadSigningKeys({ ...base, keysDir: freshDir(), jwks: JSON.stringify(doc) }), /^JWKS: not a private JWKS/)
  })
})

describe('loadCookieKeys', () => {
  it('generates and persists one 32+ character key with mode 0600, then reuses it', async () => {
    const keysDir = freshDir()
    const keys = await loadCookieKeys({ cookieKeys: undefined, keysDir })
    expect(keys).toHaveLength(1)
    expect(keys[0]!.length).toBeGreaterThanOrEqual(32)
    const file = path.join(keysDir, 'cookie-keys.json')
    expect(mode(file)).toBe(0o600)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(keys)
    expect(await loadCookieKeys({ cookieKeys: undefined, keysDir })).toEqual(keys)
    expect(await loadCookieKeys({ cookieKeys: [], keysDir })).toEqual(keys)
  })

  it('generates different keys in different directories', async () => {
    expect(await loadCookieKeys({ cookieKeys: undefined, keysDir: freshDir() })).not.toEqual(await loadCookieKeys({ cookieKeys: undefined, keysDir: freshDir() }))
  })

  it('prefers configured keys and writes no file', async () => {
    const keysDir = freshDir()
    const configured = ['k'.repeat(32), 'j'.repeat(32)]
    expect(await loadCookieKeys({ cookieKeys: configured, keysDir })).toEqual(configured)
    expect(existsSync(path.join(keysDir, 'cookie-keys.json'))).toBe(false)
  })

  it('rejects a stored file with short keys', async () => {
    const keysDir = freshDir()
    await loadCookieKeys({ cookieKeys: undefined, keysDir })
    const file = path.join(keysDir, 'cookie-keys.json')
    writeFileSync(file, JSON.stringify(['short']))
    await expect(loadCookieKeys({ cookieKeys: undefined, keysDir })).rejects.toThrow(KeyError)
    await expect(loadCookieKeys({ cookieKeys: undefined, keysDir })).rejects.toThrow(/cookie-keys\.json: expected a JSON array of keys of 32\+ characters/)
    writeFileSync(file, '[]')
    await expect(loadCookieKeys({ cookieKeys: undefined, keysDir })).rejects.toThrow(KeyError)
  })
})

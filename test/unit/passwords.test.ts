import argon2 from 'argon2'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { hashPassword, needsRehash, selectArgon2Build, verifyPassword } from '../../src/identity/passwords.ts'

const PASSWORD = 'correct horse battery staple'
let hash: string

beforeAll(async () => {
  hash = await hashPassword(PASSWORD)
})
afterEach(() => vi.restoreAllMocks())

/** Parses a PHC string: $argon2id$v=19$m=..,t=..,p=..$salt$hash */
function parsePhc(phc: string) {
  const [, id, version, params, salt, digest] = phc.split('$')
  const p = Object.fromEntries(params!.split(',').map((kv) => kv.split('=') as [string, string]))
  return { id, version, m: Number(p.m), t: Number(p.t), p: Number(p.p), salt, digest }
}

describe('hashPassword', () => {
  it('uses argon2id with m=19456, t=2, p=1', () => {
    const phc = parsePhc(hash)
    expect(phc.id).toBe('argon2id')
    expect(phc.version).toBe('v=19')
    expect(phc).toMatchObject({ m: 19456, t: 2, p: 1 })
    expect(Buffer.from(phc.salt!, 'base64').length).toBeGreaterThanOrEqual(16)
    expect(hash).not.toContain(PASSWORD)
  })

  it('salts: two hashes of one password differ', async () => {
    expect(await hashPassword(PASSWORD)).not.toBe(hash)
  })
})

describe('verifyPassword', () => {
  it('accepts the right password', async () => {
    expect(await verifyPassword(hash, PASSWORD)).toBe(true)
  })

  it('rejects wrong passwords', async () => {
    expect(await verifyPassword(hash, 'wrong')).toBe(false)
    expect(await verifyPassword(hash, '')).toBe(false)
    expect(await verifyPassword(hash, `${PASSWORD} `)).toBe(false)
  })

  it('handles unicode passwords', async () => {
    const pw = 'pässwörd-密码-🔑'
    expect(await verifyPassword(await hashPassword(pw), pw)).toBe(true)
  })

  it('returns false (does not throw) for a malformed stored hash', async () => {
    expect(await verifyPassword('not-a-phc-string', PASSWORD)).toBe(false)
    expect(await verifyPassword('$argon2id$v=19$m=19456,t=2,p=1$garbage', PASSWORD)).toBe(false)
  })

  it.each([null, undefined, ''])('returns false for a missing hash (%s), still running one argon2 verification', async (missing) => {
    // the build passwords.ts hashes with (the widest SIMD build this CPU runs)
    const spy = vi.spyOn((await selectArgon2Build('auto')).argon2, 'verify')
    expect(await verifyPassword(missing, PASSWORD)).toBe(false)
    expect(await verifyPassword(missing, 'dummy password that never matches anything')).toBe(false)
    expect(spy).toHaveBeenCalledTimes(2)
    // against a real argon2id hash made at the production parameters, so it costs the same
    expect(parsePhc(spy.mock.calls[0]![0])).toMatchObject({ id: 'argon2id', m: 19456, t: 2, p: 1 })
  })
})

describe('needsRehash', () => {
  it('is false for a fresh hash', () => {
    expect(needsRehash(hash)).toBe(false)
  })

  it('is true for a hash made with weaker parameters, which still verifies', async () => {
    const weak = await argon2.hash(PASSWORD, { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 })
    expect(needsRehash(weak)).toBe(true)
    expect(await verifyPassword(weak, PASSWORD)).toBe(true)
  })

  // argon2's own needsRehash ignores the variant; ours does not.
  it('is true for argon2i at the same costs', async () => {
    const argon2i = await argon2.hash(PASSWORD, { type: argon2.argon2i, memoryCost: 19456, timeCost: 2, parallelism: 1 })
    expect(parsePhc(argon2i).id).toBe('argon2i')
    expect(needsRehash(argon2i)).toBe(true)
  })
})

// Signing keys (a private JWKS) and cookie-signing keys.
// Production passes them in (JWKS / JWKS_FILE, COOKIE_KEYS); otherwise they are generated on first
// start into KEYS_DIR with file mode 0600 and reused afterwards.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'
import { z } from 'zod'
import type { Config } from '../config.ts'
import { readOrCreatePrivateFile } from '../security/key-files.ts'

/** RS256 must be offered for interoperability; ES256 is the compact modern default. */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const

/**
 * Key rotation state, a private member of each key in the file (never published): absent, the key
 * signs; `staged`, published for verification before anyone signs with it; `previous`, signed
 * before the last promotion and still published so tokens signed with it verify. `iam_since` is
 * when the key entered that state (ISO time), for `keys retire` to judge what may still be in use.
 */
export const KEY_STATES = ['staged', 'previous'] as const
export type KeyState = 'signing' | (typeof KEY_STATES)[number]

const privateJwk = z.looseObject({
  kty: z.enum(['RSA', 'EC', 'OKP']),
  kid: z.string().min(1),
  alg: z.string().optional(),
  use: z.literal('sig').optional(),
  d: z.string().min(1, 'private key material (d) missing'),
  iam_state: z.enum(KEY_STATES).optional(),
  iam_since: z.iso.datetime().optional(),
})
const privateJwks = z.object({ keys: z.array(privateJwk).min(1) })

export type PrivateJwks = { keys: JWK[] }

export function keyState(jwk: JWK): KeyState {
  return (jwk as { iam_state?: KeyState }).iam_state ?? 'signing'
}

/**
 * What the provider is given: the rotation members removed, and every key that must not sign
 * (staged, previous) limited to `key_ops: ["verify"]` — oidc-provider's selectForSign skips a key
 * whose key_ops lack "sign", and still publishes it in /jwks (with those key_ops) and verifies with it.
 */
export function providerJwks(jwks: PrivateJwks): PrivateJwks {
  return {
    keys: jwks.keys.map((jwk) => {
      const { iam_state: _state, iam_since: _since, ...key } = jwk as JWK & { iam_state?: string; iam_since?: string }
      return keyState(jwk) === 'signing' ? key : { ...key, key_ops: ['verify'] }
    }),
  }
}

export class KeyError extends Error {
  override name = 'KeyError'
}

export async function generateSigningKey(alg: (typeof SIGNING_ALGORITHMS)[number]): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) })
  const jwk = await exportJWK(privateKey)
  jwk.kid = await calculateJwkThumbprint(jwk)
  jwk.alg = alg
  jwk.use = 'sig'
  return jwk
}

export async function generateJwks(): Promise<PrivateJwks> {
  return { keys: await Promise.all(SIGNING_ALGORITHMS.map(generateSigningKey)) }
}

export function parseJwks(text: string, source: string): PrivateJwks {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new KeyError(`${source}: not valid JSON`)
  }
  const parsed = privateJwks.safeParse(json)
  if (!parsed.success) {
    throw new KeyError(`${source}: not a private JWKS (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`)
  }
  const jwks = parsed.data as PrivateJwks
  if (!jwks.keys.some((k) => k.kty === 'RSA' && keyState(k) === 'signing')) throw new KeyError(`${source}: an RSA key is required (RS256 is mandatory to offer; staged and previous keys do not sign)`)
  return jwks
}

export function jwksFile(config: Pick<Config, 'keysDir'>): string {
  return path.join(config.keysDir, 'jwks.json')
}

/** The signing keys as the provider takes them (see providerJwks): every key published, only signing keys sign. */
export async function loadSigningKeys(config: Pick<Config, 'jwks' | 'jwksFile' | 'keysDir' | 'production'>): Promise<PrivateJwks> {
  if (config.jwks) return providerJwks(parseJwks(config.jwks, 'JWKS'))
  if (config.jwksFile) return providerJwks(parseJwks(readFileSync(config.jwksFile, 'utf8'), 'JWKS_FILE'))
  const file = jwksFile(config)
  return providerJwks(parseJwks(await readOrCreatePrivateFile(file, async () => `${JSON.stringify(await generateJwks(), null, 2)}\n`), file))
}

export async function loadCookieKeys(config: Pick<Config, 'cookieKeys' | 'keysDir'>): Promise<string[]> {
  if (config.cookieKeys?.length) return config.cookieKeys
  const file = path.join(config.keysDir, 'cookie-keys.json')
  const text = await readOrCreatePrivateFile(file, () => `${JSON.stringify([randomBytes(32).toString('base64url')])}\n`)
  const keys = z.array(z.string().min(32)).min(1).safeParse(JSON.parse(text))
  if (!keys.success) throw new KeyError(`${file}: expected a JSON array of keys of 32+ characters`)
  return keys.data
}

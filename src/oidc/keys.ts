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

const privateJwk = z.looseObject({
  kty: z.enum(['RSA', 'EC', 'OKP']),
  kid: z.string().min(1),
  alg: z.string().optional(),
  use: z.literal('sig').optional(),
  d: z.string().min(1, 'private key material (d) missing'),
})
const privateJwks = z.object({ keys: z.array(privateJwk).min(1) })

export type PrivateJwks = { keys: JWK[] }

export class KeyError extends Error {
  override name = 'KeyError'
}

async function generateSigningKey(alg: (typeof SIGNING_ALGORITHMS)[number]): Promise<JWK> {
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

function parseJwks(text: string, source: string): PrivateJwks {
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
  if (!jwks.keys.some((k) => k.kty === 'RSA')) throw new KeyError(`${source}: an RSA key is required (RS256 is mandatory to offer)`)
  return jwks
}

export function jwksFile(config: Pick<Config, 'keysDir'>): string {
  return path.join(config.keysDir, 'jwks.json')
}

export async function loadSigningKeys(config: Pick<Config, 'jwks' | 'jwksFile' | 'keysDir' | 'production'>): Promise<PrivateJwks> {
  if (config.jwks) return parseJwks(config.jwks, 'JWKS')
  if (config.jwksFile) return parseJwks(readFileSync(config.jwksFile, 'utf8'), 'JWKS_FILE')
  const file = jwksFile(config)
  return parseJwks(await readOrCreatePrivateFile(file, async () => `${JSON.stringify(await generateJwks(), null, 2)}\n`), file)
}

export async function loadCookieKeys(config: Pick<Config, 'cookieKeys' | 'keysDir'>): Promise<string[]> {
  if (config.cookieKeys?.length) return config.cookieKeys
  const file = path.join(config.keysDir, 'cookie-keys.json')
  const text = await readOrCreatePrivateFile(file, () => `${JSON.stringify([randomBytes(32).toString('base64url')])}\n`)
  const keys = z.array(z.string().min(32)).min(1).safeParse(JSON.parse(text))
  if (!keys.success) throw new KeyError(`${file}: expected a JSON array of keys of 32+ characters`)
  return keys.data
}

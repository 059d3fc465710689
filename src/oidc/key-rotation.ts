// Signing-key rotation without downtime, across replicas, on the private JWKS file every replica
// loads at start (KEYS_DIR/jwks.json, or the file behind JWKS_FILE / the JWKS secret):
//
//   stage    a new ES256 + RS256 pair is added as `staged`: published in /jwks, not signing.
//            Roll it out to every replica and wait for relying parties' JWKS caches to refresh.
//   promote  a staged key signs from now on; the key that signed with its algorithm becomes
//            `previous`: still published, so tokens it signed keep verifying. Roll it out.
//   retire   a previous (or staged) key leaves the file and, after the roll-out, /jwks. Refused for
//            a signing key; refused (without --force) while tokens it signed may still be valid.
//
// Because a key is published by every replica before any replica signs with it, a relying party
// that sees a token from an already promoted replica finds its key in the JWKS it fetched from any
// replica. See keys.ts (providerJwks) for how "published but not signing" is given to oidc-provider.
import { readFileSync, renameSync, writeFileSync, chmodSync } from 'node:fs'
import path from 'node:path'
import type { JWK } from 'jose'
import { generateSigningKey, keyState, KeyError, parseJwks, SIGNING_ALGORITHMS, type KeyState, type PrivateJwks } from './keys.ts'

type RotatingJwk = JWK & { iam_state?: 'staged' | 'previous'; iam_since?: string }

export interface KeyInfo {
  kid: string
  alg: string
  state: KeyState
  /** When it entered that state; unknown for keys written by hand. */
  since?: string | undefined
}

export function readJwksFile(file: string): PrivateJwks {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new KeyError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  return parseJwks(text, file)
}

/** Replaces the file atomically (write aside, rename), owner-only. */
export function writeJwksFile(file: string, jwks: PrivateJwks): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  writeFileSync(temp, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 })
  chmodSync(temp, 0o600)
  renameSync(temp, file)
}

export function listKeys(jwks: PrivateJwks): KeyInfo[] {
  return jwks.keys.map((k) => ({ kid: k.kid!, alg: k.alg ?? '?', state: keyState(k), since: (k as RotatingJwk).iam_since }))
}

/** Adds a staged ES256 + RS256 pair. Refused while keys are already staged. */
export async function stageKeys(jwks: PrivateJwks, now: Date): Promise<{ jwks: PrivateJwks; staged: KeyInfo[] }> {
  if (jwks.keys.some((k) => keyState(k) === 'staged')) throw new KeyError('keys are already staged: promote or retire them first')
  const fresh: RotatingJwk[] = await Promise.all(SIGNING_ALGORITHMS.map(async (alg) => ({ ...(await generateSigningKey(alg)), iam_state: 'staged' as const, iam_since: now.toISOString() })))
  const next = { keys: [...jwks.keys, ...fresh] }
  return { jwks: next, staged: listKeys({ keys: fresh }) }
}

/**
 * The key `kid` signs from now on (it moves to the front); the key that signed with its algorithm
 * becomes previous. A previous key may be promoted back (a rollback).
 */
export function promoteKey(jwks: PrivateJwks, kid: string, now: Date): { jwks: PrivateJwks; demoted: string[] } {
  const target = jwks.keys.find((k) => k.kid === kid)
  if (!target) throw new KeyError(`no key ${kid}`)
  if (keyState(target) === 'signing') throw new KeyError(`key ${kid} already signs`)
  const demoted: string[] = []
  const keys = jwks.keys.map((k): RotatingJwk => {
    if (k === target) {
      const { iam_state: _s, iam_since: _t, ...rest } = k as RotatingJwk
      return { ...rest, iam_since: now.toISOString() }
    }
    if (keyState(k) === 'signing' && k.alg === target.alg) {
      demoted.push(k.kid!)
      return { ...k, iam_state: 'previous', iam_since: now.toISOString() }
    }
    return k
  })
  const promoted = keys.find((k) => k.kid === kid)!
  return { jwks: { keys: [promoted, ...keys.filter((k) => k !== promoted)] }, demoted }
}

export interface RetireCheck {
  /** The longest lifetime of anything signed with these keys (ID token, JWT access tokens), seconds. */
  maxTokenLifetime: number
  force?: boolean | undefined
}

/** Removes `kid`. Refuses a signing key; refuses a previous key demoted less than maxTokenLifetime ago unless forced. */
export function retireKey(jwks: PrivateJwks, kid: string, now: Date, check: RetireCheck): { jwks: PrivateJwks; warning?: string } {
  const target = jwks.keys.find((k) => k.kid === kid) as RotatingJwk | undefined
  if (!target) throw new KeyError(`no key ${kid}`)
  if (keyState(target) === 'signing') throw new KeyError(`key ${kid} signs: promote another ${target.alg} key first`)
  let warning: string | undefined
  if (keyState(target) === 'previous') {
    const since = target.iam_since ? Date.parse(target.iam_since) : NaN
    const age = (now.getTime() - since) / 1000
    if (Number.isNaN(since)) warning = `key ${kid}: when it stopped signing is unknown; tokens it signed may still be valid (up to ${check.maxTokenLifetime} s)`
    else if (age < check.maxTokenLifetime) warning = `key ${kid} stopped signing ${Math.floor(age)} s ago; tokens it signed stay valid up to ${check.maxTokenLifetime} s: retiring it now makes them fail verification`
    if (warning && !check.force) throw new KeyError(`${warning}. Wait, or pass --force.`)
  }
  return { jwks: { keys: jwks.keys.filter((k) => k !== target) }, ...(warning ? { warning } : {}) }
}

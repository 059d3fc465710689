// oidc-provider adapter on the OidcArtifact table: the store for the embedded mode (PGlite) and for
// PostgreSQL without Redis. Same semantics as the Redis adapter:
//   - an expired row is missing (expiresAt <= now); find deletes it on the way, and
//     purgeExpiredArtifacts clears the rest periodically;
//   - consume is one conditional UPDATE (… WHERE "consumedAt" IS NULL) that also writes
//     `consumed` into the payload; it resolves for exactly one caller and throws the protocol
//     error (see consumeRefused) for every other, so concurrent redemptions cannot both succeed;
//   - revokeByGrantId deletes every grant artifact (tokens, codes) of the grant, not the Grant;
//   - replays that race (shared.ts, "Replays"): a refused consume of a consumed artifact revokes
//     its grant; every revocation (and a Grant's destroy) leaves a tombstone row (model
//     RevokedGrant, id = the grant id); a write of the grant's artifacts is checked against it
//     after it is written, and undone at once if it meets one. The revocation writes its
//     tombstone before it deletes, so of the two statements run in each order, one always sees
//     the other's committed row: no token of a revoked grant survives;
//   - a payload that jsonb cannot hold is stored in a wrapper and read back unchanged (storable).
import type { Adapter, AdapterPayload } from 'oidc-provider'
import type { Db } from '../../queries/db.ts'
import {
  consumeArtifact, deleteArtifact, deleteArtifactIfExpired, deleteArtifactsOfGrant, deleteExpiredArtifacts, findArtifact,
  findArtifactExpiry, findArtifactState, findLiveArtifactBy, upsertArtifact, upsertMarker, type ArtifactFields, type JsonValue,
} from '../../queries/oidc-artifacts.ts'
import { GRANTABLE_MODELS, GRANT_TOMBSTONE_SECONDS, consumeRefused } from './shared.ts'

function isPayload(value: unknown): value is AdapterPayload {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isLive(expiresAt: Date | null, now: number): boolean {
  return expiresAt === null || expiresAt.getTime() > now
}

/**
 * The member a payload is wrapped in when jsonb cannot hold it. Not a name oidc-provider uses, and
 * nothing else is stored beside it (consume may add `consumed`, which the unwrapped payload takes).
 */
const WRAPPED = '__iam_base64url_json'

/**
 * What the Json column can hold. PostgreSQL's jsonb refuses the escapes JSON.stringify writes for
 * a NUL and for an unpaired surrogate; both reach payloads from request parameters (a logout
 * `state`, an authorization request's `nonce`), which the Redis adapter stores as they are. Such a
 * payload is kept as base64url of its JSON, so the artifact is saved (not a 500) and read back
 * exactly; RFC 6749's grammar never allows these characters, so this is rare and only hostile.
 */
function storable(payload: AdapterPayload): ArtifactFields['payload'] {
  const json = JSON.stringify(payload)
  // a JSON round trip also drops `undefined` members, which the Json column would reject
  if (!/\\u(0000|d[89a-f])/i.test(json)) return JSON.parse(json) as ArtifactFields['payload']
  return { [WRAPPED]: Buffer.from(json).toString('base64url') }
}

/** The model name of a revoked grant's tombstone row (not one of oidc-provider's models). */
const TOMBSTONE = 'RevokedGrant'

class DatabaseAdapter implements Adapter {
  private readonly prisma: Db
  private readonly model: string

  constructor(prisma: Db, model: string) {
    this.prisma = prisma
    this.model = model
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const now = Date.now()
    const data = {
      payload: storable(payload),
      grantId: GRANTABLE_MODELS.has(this.model) && typeof payload.grantId === 'string' ? payload.grantId : null,
      userCode: typeof payload.userCode === 'string' ? payload.userCode : null,
      uid: typeof payload.uid === 'string' ? payload.uid : null,
      expiresAt: typeof expiresIn === 'number' ? new Date(now + expiresIn * 1000) : null,
      consumedAt: payload.consumed ? new Date(Number(payload.consumed) * 1000) : null,
    }
    await upsertArtifact(this.prisma, this.model, id, data)
    const grantId = this.model === 'Grant' ? id : data.grantId
    // The grant was revoked while this was being issued: it must never work. The response that
    // carries it may still go out (the winner of a raced replay), with a dead token.
    if (grantId && await this.isRevoked(grantId)) await deleteArtifact(this.prisma, this.model, id)
  }

  private async isRevoked(grantId: string): Promise<boolean> {
    const row = await findArtifactExpiry(this.prisma, TOMBSTONE, grantId)
    return row !== null && isLive(row.expiresAt, Date.now())
  }

  private async leaveTombstone(grantId: string): Promise<void> {
    const expiresAt = new Date(Date.now() + GRANT_TOMBSTONE_SECONDS * 1000)
    await upsertMarker(this.prisma, TOMBSTONE, grantId, expiresAt)
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    // PostgreSQL text cannot hold NUL: no stored id has one, and the query would fail (a 500).
    if (id.includes('\u0000')) return undefined
    const row = await findArtifact(this.prisma, this.model, id)
    if (!row) return undefined
    const now = Date.now()
    if (!isLive(row.expiresAt, now)) {
      // lazy purge; the condition keeps a row that was re-upserted meanwhile
      await deleteArtifactIfExpired(this.prisma, this.model, id, new Date(now))
      return undefined
    }
    return toPayload(row.payload, row.consumedAt)
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    if (uid.includes('\u0000')) return undefined
    const row = await findLiveArtifactBy(this.prisma, this.model, { uid }, new Date())
    return row ? toPayload(row.payload, row.consumedAt) : undefined
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    if (userCode.includes('\u0000')) return undefined
    const row = await findLiveArtifactBy(this.prisma, this.model, { userCode }, new Date())
    return row ? toPayload(row.payload, row.consumedAt) : undefined
  }

  async consume(id: string): Promise<void> {
    const now = new Date()
    if (await consumeArtifact(this.prisma, this.model, id, now)) return
    const row = await findArtifactState(this.prisma, this.model, id)
    const missing = !row || !isLive(row.expiresAt, now.getTime())
    // A replay that raced the first redemption: it ends the grant, as the provider does for a
    // replay it sees in `find` (shared.ts, "Replays").
    if (!missing && row.grantId && GRANTABLE_MODELS.has(this.model)) {
      await this.revokeByGrantId(row.grantId)
      await deleteArtifact(this.prisma, 'Grant', row.grantId)
    }
    throw consumeRefused(this.model, missing ? 'missing' : 'consumed')
  }

  async destroy(id: string): Promise<void> {
    // A destroyed Grant is revoked: nothing may be issued from it any more, nor the Grant saved again.
    if (this.model === 'Grant') await this.leaveTombstone(id)
    await deleteArtifact(this.prisma, this.model, id)
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    // First the tombstone, then the deletion (see the header).
    await this.leaveTombstone(grantId)
    await deleteArtifactsOfGrant(this.prisma, grantId)
  }
}

function toPayload(stored: JsonValue, consumedAt: Date | null): AdapterPayload | undefined {
  if (!isPayload(stored)) return undefined
  const payload = typeof stored[WRAPPED] === 'string' ? unwrap(stored[WRAPPED]) : stored
  if (!payload) return undefined
  if (consumedAt && payload.consumed === undefined) payload.consumed = Math.floor(consumedAt.getTime() / 1000)
  return payload
}

function unwrap(encoded: string): AdapterPayload | undefined {
  const payload: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString())
  return isPayload(payload) ? payload : undefined
}

/** The `adapter` for oidc-provider's configuration when artifacts live in the database. */
export function createDatabaseAdapterFactory(prisma: Db): (name: string) => Adapter {
  const adapters = new Map<string, DatabaseAdapter>()
  return (name: string) => {
    let adapter = adapters.get(name)
    if (!adapter) {
      adapter = new DatabaseAdapter(prisma, name)
      adapters.set(name, adapter)
    }
    return adapter
  }
}

/** Deletes every artifact whose expiry has passed; returns how many. Run it periodically. */
export function purgeExpiredArtifacts(prisma: Db): Promise<number> {
  return deleteExpiredArtifacts(prisma, new Date())
}

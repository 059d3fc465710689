// OidcArtifact rows: oidc-provider's artifacts (sessions, grants, tokens, codes…) when they live in
// the database, keyed by (model, id). The semantics are src/oidc/adapters/database.ts.
import { sql } from 'kysely'
import type { Prisma } from '../generated/prisma/client.ts'

export type JsonValue = Prisma.JsonValue
import { sqlOf, type Db, type DbOrTx } from './db.ts'

export interface ArtifactFields {
  payload: Prisma.InputJsonObject
  grantId: string | null
  userCode: string | null
  uid: string | null
  expiresAt: Date | null
  consumedAt: Date | null
}

export async function upsertArtifact(db: DbOrTx, model: string, id: string, data: ArtifactFields): Promise<void> {
  await db.oidcArtifact.upsert({ where: { model_id: { model, id } }, create: { model, id, ...data }, update: data })
}

export async function deleteArtifact(db: DbOrTx, model: string, id: string): Promise<void> {
  await db.oidcArtifact.deleteMany({ where: { model, id } })
}

/** Deletes the artifact if it expired by `now` (a row re-upserted meanwhile stays). */
export async function deleteArtifactIfExpired(db: DbOrTx, model: string, id: string, now: Date): Promise<void> {
  await db.oidcArtifact.deleteMany({ where: { model, id, expiresAt: { lte: now } } })
}

export function findArtifact(db: DbOrTx, model: string, id: string) {
  return db.oidcArtifact.findUnique({ where: { model_id: { model, id } }, select: { payload: true, expiresAt: true, consumedAt: true } })
}

/** What a refused consume looks at: expiry, consumption and grant. */
export function findArtifactState(db: DbOrTx, model: string, id: string) {
  return db.oidcArtifact.findUnique({ where: { model_id: { model, id } }, select: { expiresAt: true, consumedAt: true, grantId: true } })
}

/** The expiry of an artifact (null: never), or null when there is none. */
export function findArtifactExpiry(db: DbOrTx, model: string, id: string) {
  return db.oidcArtifact.findUnique({ where: { model_id: { model, id } }, select: { expiresAt: true } })
}

/** An empty artifact that expires at `expiresAt` (a marker, such as a revoked grant's tombstone). */
export async function upsertMarker(db: DbOrTx, model: string, id: string, expiresAt: Date): Promise<void> {
  await db.oidcArtifact.upsert({ where: { model_id: { model, id } }, create: { model, id, payload: {}, expiresAt }, update: { expiresAt } })
}

/** The live artifact of `model` with this uid or user code. */
export function findLiveArtifactBy(db: DbOrTx, model: string, by: { uid: string } | { userCode: string }, now: Date) {
  return db.oidcArtifact.findFirst({
    where: { model, ...by, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
    select: { payload: true, consumedAt: true },
  })
}

/**
 * Consumes a live, unconsumed artifact at `now` in one conditional statement, also writing
 * `consumed` (epoch seconds) into its payload: true for exactly one of concurrent callers.
 * Hand-written (Kysely): every code redemption and refresh runs it.
 */
export async function consumeArtifact(db: Db, model: string, id: string, now: Date): Promise<boolean> {
  const epoch = Math.floor(now.getTime() / 1000)
  const result = await sqlOf(db).updateTable('OidcArtifact')
    .set({ consumedAt: now, payload: sql<unknown>`jsonb_set(${sql.ref('payload')}, '{consumed}', to_jsonb(${String(epoch)}::bigint))` })
    .where('model', '=', model).where('id', '=', id).where('consumedAt', 'is', null)
    .where((eb) => eb.or([eb('expiresAt', 'is', null), eb('expiresAt', '>', now)]))
    .executeTakeFirst()
  return result.numUpdatedRows === 1n
}

/** Deletes every artifact of the grant (tokens, codes; the Grant's own row has no grantId). */
export async function deleteArtifactsOfGrant(db: DbOrTx, grantId: string): Promise<void> {
  await db.oidcArtifact.deleteMany({ where: { grantId } })
}

/** Deletes every artifact expired by `now`; how many. */
export async function deleteExpiredArtifacts(db: DbOrTx, now: Date): Promise<number> {
  return (await db.oidcArtifact.deleteMany({ where: { expiresAt: { lt: now } } })).count
}

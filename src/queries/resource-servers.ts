// ResourceServer rows: the APIs (RFC 8707 resource indicators) that get access tokens.
import type { DbOrTx } from './db.ts'

export function findResourceServer(db: DbOrTx, identifier: string) {
  return db.resourceServer.findUnique({ where: { identifier } })
}

/** Registers the resource server unless one with this identifier exists (which is then left as it is). */
export function ensureResourceServer(db: DbOrTx, input: { identifier: string; name: string; scopes: string; accessTokenFormat: string; accessTokenTtl: number }) {
  return db.resourceServer.upsert({ where: { identifier: input.identifier }, update: {}, create: input })
}

/** Replaces the scopes the resource server offers (space-separated). */
export async function setResourceServerScopes(db: DbOrTx, id: string, scopes: string): Promise<void> {
  await db.resourceServer.update({ where: { id }, data: { scopes } })
}

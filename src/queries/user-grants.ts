// Which grants belong to a person (UserGrant rows, written as the provider saves a grant), so that
// signing out or revoking an application can revoke them.
import { sqlOf, type Db, type DbOrTx } from './db.ts'

/** The ids of the grants the client holds for the person. */
export async function listGrantIdsOfUserForClient(db: DbOrTx, userId: string, clientId: string): Promise<string[]> {
  const rows = await db.userGrant.findMany({ where: { userId, clientId }, select: { grantId: true } })
  return rows.map((r) => r.grantId)
}

/** The ids of every grant the client holds, whoever's. */
export async function listGrantIdsOfClient(db: DbOrTx, clientId: string): Promise<string[]> {
  const rows = await db.userGrant.findMany({ where: { clientId }, select: { grantId: true } })
  return rows.map((r) => r.grantId)
}

// The grant index's writes are hand-written (Kysely; see findUserForPasswordCheck in users.ts):
// every consent writes one, every revocation deletes one.

/**
 * Indexes a grant the person gave (or moves its expiry). A grant for an account that is not a user
 * row (deleted meanwhile) has nothing to index: nothing is written. Times are this process's, in
 * UTC, as Prisma writes them.
 */
export async function indexGrant(db: Db, grant: { grantId: string; userId: string; clientId: string; expiresAt: Date | null; at: Date }): Promise<void> {
  await sqlOf(db).insertInto('UserGrant')
    .columns(['grantId', 'userId', 'clientId', 'expiresAt', 'createdAt'])
    .expression((eb) => eb.selectFrom('User as u').select([
      eb.val(grant.grantId).as('grantId'), 'u.id', eb.val(grant.clientId).as('clientId'),
      eb.cast<Date | null>(eb.val(grant.expiresAt), 'timestamp').as('expiresAt'), eb.val(grant.at).as('createdAt'),
    ]).where('u.id', '=', grant.userId))
    .onConflict((oc) => oc.column('grantId').doUpdateSet((eb) => ({ expiresAt: eb.ref('excluded.expiresAt') })))
    .execute()
}

/** Removes a grant from the index. */
export async function unindexGrant(db: Db, grantId: string): Promise<void> {
  await sqlOf(db).deleteFrom('UserGrant').where('grantId', '=', grantId).execute()
}

/** Records in which provider session the person's grants `grantIds` were given. */
export async function linkGrantsToSession(db: Db, userId: string, grantIds: string[], sessionUid: string): Promise<void> {
  // One text whatever the number of grants (= ANY of an array, not IN (…)): a bounded set of named statements.
  await sqlOf(db).updateTable('UserGrant').set({ sessionUid })
    .where((eb) => eb('grantId', '=', eb.fn.any(eb.val(grantIds))))
    .where('userId', '=', userId)
    .execute()
}

/** The ids of the person's grants given in provider session `sessionUid`. */
export async function listGrantIdsOfSession(db: Db, userId: string, sessionUid: string): Promise<string[]> {
  const rows = await sqlOf(db).selectFrom('UserGrant').select('grantId').where('userId', '=', userId).where('sessionUid', '=', sessionUid).execute()
  return rows.map((r) => r.grantId)
}

/** The ids of the person's grants, except those given in `exceptSessionUid` when given. */
export async function listGrantIdsOfUserOutsideSession(db: DbOrTx, userId: string, exceptSessionUid?: string): Promise<string[]> {
  const rows = await db.userGrant.findMany({
    where: { userId, ...(exceptSessionUid ? { OR: [{ sessionUid: null }, { sessionUid: { not: exceptSessionUid } }] } : {}) },
    select: { grantId: true },
  })
  return rows.map((r) => r.grantId)
}

/** Deletes the index rows of grants expired at `now`; how many. */
export async function deleteExpiredGrantIndex(db: DbOrTx, now: Date): Promise<number> {
  return (await db.userGrant.deleteMany({ where: { expiresAt: { lt: now } } })).count
}

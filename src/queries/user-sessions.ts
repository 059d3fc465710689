// UserSession rows: the signed-in browsers of a person (one per provider session).
import { sqlOf, type Db, type DbOrTx } from './db.ts'

export type { UserSession } from '../generated/prisma/client.ts'

/** The person's session row `id`, if it has not ended. */
export function findLiveSessionOfUser(db: DbOrTx, id: string, userId: string) {
  return db.userSession.findFirst({ where: { id, userId, endedAt: null } })
}

// The statements every sign-in runs are hand-written (Kysely; see findUserForPasswordCheck in
// users.ts): the row's creation or refresh, the count against MAX_SESSIONS_PER_USER, and, over
// the limit, the list and the ends below.

/** The person's sessions not marked ended, oldest first. */
export function listOpenSessionsOfUser(db: Db, userId: string) {
  return sqlOf(db).selectFrom('UserSession').select(['id', 'sessionUid', 'browser', 'os', 'ip', 'createdAt', 'lastSeenAt'])
    .where('userId', '=', userId).where('endedAt', 'is', null).orderBy('createdAt', 'asc')
    .execute()
}

/** How many sessions of the person are not marked ended. */
export async function countOpenSessionsOfUser(db: Db, userId: string): Promise<number> {
  const row = await sqlOf(db).selectFrom('UserSession').select((eb) => eb.cast<number>(eb.fn.countAll(), 'integer').as('count'))
    .where('userId', '=', userId).where('endedAt', 'is', null)
    .executeTakeFirstOrThrow()
  return row.count
}

/** Marks a session's row ended at `at` (by its id, or by its sessionUid and userId), if it was not; how many rows it marked. */
export async function markSessionRowEnded(db: Db, row: { id: string } | { sessionUid: string; userId: string }, reason: string, at: Date): Promise<number> {
  let update = sqlOf(db).updateTable('UserSession').set({ endedAt: at, endReason: reason })
  update = 'id' in row ? update.where('id', '=', row.id) : update.where('sessionUid', '=', row.sessionUid).where('userId', '=', row.userId)
  const result = await update.where('endedAt', 'is', null).executeTakeFirst()
  return Number(result.numUpdatedRows)
}

/** A row for a new session; false when the session has one already. */
export async function insertSessionRow(db: Db, row: {
  id: string; userId: string; sessionUid: string; sessionId: string; userAgent: string | null; browser: string | null; os: string | null; ip: string | null; at: Date
}): Promise<boolean> {
  const { at, ...values } = row
  const result = await sqlOf(db).insertInto('UserSession').values({ ...values, createdAt: at, lastSeenAt: at })
    .onConflict((oc) => oc.column('sessionUid').doNothing())
    .executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1
}

/** Refreshes the live session row of `sessionUid` that belongs to `userId`; false when there is none. */
export async function refreshLiveSessionRow(db: Db, sessionUid: string, userId: string, sessionId: string, at: Date): Promise<boolean> {
  const result = await sqlOf(db).updateTable('UserSession').set({ sessionId, lastSeenAt: at })
    .where('sessionUid', '=', sessionUid).where('userId', '=', userId).where('endedAt', 'is', null)
    .executeTakeFirst()
  return result.numUpdatedRows === 1n
}

/** The row of a provider session, ended or not. */
export function findSessionRowByUid(db: DbOrTx, sessionUid: string) {
  return db.userSession.findUnique({ where: { sessionUid } })
}

/** Refreshes the row of a provider session whatever its state. */
export async function refreshSessionRow(db: DbOrTx, sessionUid: string, sessionId: string, at: Date): Promise<void> {
  await db.userSession.update({ where: { sessionUid }, data: { sessionId, lastSeenAt: at } })
}

/** The person's sessions not marked ended, except `exceptSessionUid`. */
export function listOpenSessionUidsOfUser(db: DbOrTx, userId: string, exceptSessionUid?: string) {
  return db.userSession.findMany({
    where: { userId, endedAt: null, ...(exceptSessionUid ? { sessionUid: { not: exceptSessionUid } } : {}) },
    select: { userId: true, sessionUid: true },
  })
}

/** Deletes the rows of sessions ended before `before`; how many. */
export async function deleteSessionsEndedBefore(db: DbOrTx, before: Date): Promise<number> {
  return (await db.userSession.deleteMany({ where: { endedAt: { lt: before } } })).count
}

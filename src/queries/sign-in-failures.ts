// SignInFailure rows: failed password sign-ins counted per account and address, and per account
// from anywhere. The rules are src/security/lockout.ts.
import { sqlOf, type Db, type DbOrTx } from './db.ts'

/** Deletes every count and lock of the account (`account`: src/security/lockout.ts failureAccount). */
export async function deleteSignInFailures(db: DbOrTx, account: string): Promise<void> {
  await db.signInFailure.deleteMany({ where: { account } })
}

// The statements every password check runs are hand-written (Kysely; see findUserForPasswordCheck
// in users.ts): one read of the locks, one atomic count of a failure, one delete on success.

/** The sources among `sources` locked out of `account` at `now`. */
export async function listLockedSources(db: Db, account: string, sources: [string, string, string], now: Date): Promise<string[]> {
  const rows = await sqlOf(db).selectFrom('SignInFailure').select('source')
    .where('account', '=', account).where('source', 'in', sources).where('lockedUntil', '>', now)
    .execute()
  return rows.map((r) => r.source)
}

/**
 * Counts one failure for `account` under each of `sources`, in one atomic statement: a count whose
 * window began before `windowStart` (or that has none, after a lock) starts again at one; a source
 * locked at `now` is not counted. The counts it changed, with how often each source was locked.
 */
export async function countSignInFailure(db: Db, account: string, sources: string[], windowStart: Date, now: Date) {
  return sqlOf(db).insertInto('SignInFailure')
    .values(sources.map((source) => ({ account, source, failures: 1, since: now, updatedAt: now })))
    .onConflict((oc) => oc.columns(['account', 'source']).doUpdateSet((eb) => ({
      failures: eb.case().when('SignInFailure.since', '>', windowStart).then(eb('SignInFailure.failures', '+', 1)).else(1).end(),
      since: eb.case().when('SignInFailure.since', '>', windowStart).then(eb.ref('SignInFailure.since')).else(now).end(),
      updatedAt: now,
    })).where((eb) => eb.or([eb('SignInFailure.lockedUntil', 'is', null), eb('SignInFailure.lockedUntil', '<=', now)])))
    .returning(['source', 'failures', 'locks'])
    .execute()
}

/**
 * Locks `source` out of `account` until `lockedUntil` if its count is still at `threshold` and it
 * is not locked: the count starts afresh, `locks` grows by `addLocks`. Of racing failures, only
 * one locks; true for it.
 */
export async function lockSignInFailure(db: Db, account: string, source: string, threshold: number, lockedUntil: Date, addLocks: number, now: Date): Promise<boolean> {
  const result = await sqlOf(db).updateTable('SignInFailure')
    .set((eb) => ({ lockedUntil, failures: 0, since: null, locks: eb('locks', '+', addLocks), updatedAt: now }))
    .where('account', '=', account).where('source', '=', source).where('failures', '>=', threshold)
    .where((eb) => eb.or([eb('lockedUntil', 'is', null), eb('lockedUntil', '<=', now)]))
    .executeTakeFirst()
  return result.numUpdatedRows > 0n
}

/** Deletes the counts (and locks) of `account` under `sources`. */
export async function clearSignInFailures(db: Db, account: string, sources: string[]): Promise<void> {
  await sqlOf(db).deleteFrom('SignInFailure').where('account', '=', account).where('source', 'in', sources).execute()
}

/** When each of the account's locks running at `now` ends. */
export async function listLiveLocksOfAccount(db: DbOrTx, account: string, now: Date) {
  return db.signInFailure.findMany({ where: { account, lockedUntil: { gt: now } }, select: { lockedUntil: true } })
}

/** Deletes counts untouched since `before` that no longer lock at `now`; how many. */
export async function deleteStaleSignInFailures(db: DbOrTx, before: Date, now: Date): Promise<number> {
  return (await db.signInFailure.deleteMany({ where: { updatedAt: { lt: before }, OR: [{ lockedUntil: null }, { lockedUntil: { lt: now } }] } })).count
}

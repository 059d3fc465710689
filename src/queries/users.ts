// User rows: who a person is, their status and password. The rules are in src/identity/.
import type { ExpressionBuilder } from 'kysely'
import { jsonArrayFrom, jsonBuildObject } from 'kysely/helpers/postgres'
import type { Prisma, User } from '../generated/prisma/client.ts'
import { rowsInTransaction, sqlOf, type DB, type Db, type DbOrTx, type Tx } from './db.ts'

export type { User } from '../generated/prisma/client.ts'

export function findUserById(db: DbOrTx, id: string) {
  return db.user.findUnique({ where: { id } })
}

/** `email` already normalised (lower-cased, NFKC): addresses are unique across tenants. */
export function findUserByEmail(db: DbOrTx, email: string) {
  return db.user.findUnique({ where: { email } })
}

export async function userExists(db: DbOrTx, id: string): Promise<boolean> {
  return (await db.user.findUnique({ where: { id }, select: { id: true } })) !== null
}

/** The person's status alone (the check every account-area request makes), or undefined. */
export async function findUserStatus(db: DbOrTx, id: string) {
  return (await db.user.findUnique({ where: { id }, select: { status: true } }))?.status
}

/** The person with their tenant and roles (the account overview). */
export function findUserWithTenantAndRoles(db: DbOrTx, id: string) {
  return db.user.findUnique({ where: { id }, include: { tenant: true, roles: { include: { role: true } } } })
}

/** The names a new password must not contain. */
export function findUserNames(db: DbOrTx, id: string) {
  return db.user.findUnique({ where: { id }, select: { username: true, displayName: true, givenName: true, familyName: true } })
}

/**
 * Sets the password of an active account from a reset link, and ends its own lock and failure
 * count (the owner proved their address). False when the account is not active or not there.
 */
export async function setPasswordOfActiveUserAfterReset(db: DbOrTx, id: string, passwordHash: string, at: Date): Promise<boolean> {
  const { count } = await db.user.updateMany({
    where: { id, status: 'active' },
    data: { passwordHash, passwordExpired: false, passwordChangedAt: at, failedLogins: 0, failedLoginsSince: null, lockedUntil: null },
  })
  return count === 1
}

/**
 * Replaces the password only if it is still `currentHash`: of two changes racing, one wins.
 * True when this one did.
 */
export async function replacePasswordIfUnchanged(db: DbOrTx, id: string, currentHash: string, passwordHash: string, at: Date): Promise<boolean> {
  const { count } = await db.user.updateMany({
    where: { id, passwordHash: currentHash },
    data: { passwordHash, passwordExpired: false, passwordChangedAt: at },
  })
  return count === 1
}

/** Marks the address verified, if the account still has that address. True when it did. */
export async function markEmailVerified(db: DbOrTx, id: string, email: string): Promise<boolean> {
  const { count } = await db.user.updateMany({ where: { id, email }, data: { emailVerified: true } })
  return count === 1
}

/** Records the time of a sign-in that did not check the password here (a federated one). */
export async function setLastLoginAt(db: DbOrTx, id: string, at: Date): Promise<void> {
  await db.user.update({ where: { id }, data: { lastLoginAt: at } })
}

/** The user whose email or username is `login` (already normalised): the CLI's way to name a person. */
export function findUserByLogin(db: DbOrTx, login: string) {
  return db.user.findFirst({ where: { OR: [{ email: login }, { username: login }] }, select: { id: true, email: true } })
}

// The sign-in's reads below are hand-written (Kysely) rather than Prisma queries: they run on every
// sign-in, every token response with an ID token and every refresh, and Prisma 6 compiles each
// query anew in its wasm query compiler. Measured on PostgreSQL (docs/performance.md): a read with
// `include` cost ~0.8 ms of CPU per call, the same read as one statement on the pool ~0.07 ms.
// docs/adr/0200-one-data-path.md. The sign-in, claims, lockout and MFA policy suites read every
// field they return.

/** Roles (with names, for the claims) and verified factors, in the shape of MfaFactsSource (src/mfa/factors.ts). */
function rolesAndFactorCount(eb: ExpressionBuilder<DB & { u: DB['User'] }, 'u'>) {
  return [
    jsonArrayFrom(eb.selectFrom('UserRole as ur').innerJoin('Role as r', 'r.id', 'ur.roleId')
      .select((inner) => jsonBuildObject({ name: inner.ref('r.name'), mfaRequired: inner.ref('r.mfaRequired') }).as('role'))
      .whereRef('ur.userId', '=', 'u.id')).as('roles'),
    jsonBuildObject({
      mfaFactors: eb.selectFrom('MfaFactor as f').select((inner) => inner.fn.countAll<number>().as('n'))
        .whereRef('f.userId', '=', 'u.id').where('f.verified', '=', true).$asScalar(),
    }).as('_count'),
  ] as const
}

/**
 * What the password check reads, by a normalised login (an email if it has an @, else a username)
 * or by id: the hash, the lockout and status fields, the MFA policy's facts.
 */
export async function findUserForPasswordCheck(db: Db, who: string | { userId: string }) {
  const row = await sqlOf(db).selectFrom('User as u')
    .select(['u.id', 'u.email', 'u.emailVerified', 'u.status', 'u.passwordHash', 'u.passwordExpired', 'u.passwordChangedAt', 'u.lockedUntil'])
    .select((eb) => rolesAndFactorCount(eb))
    .where(typeof who !== 'string' ? 'u.id' : who.includes('@') ? 'u.email' : 'u.username', '=', typeof who === 'string' ? who : who.userId)
    .executeTakeFirst()
  return row ?? null
}

/**
 * An active user with tenant, role names and the count of verified MFA factors, as the token and
 * userinfo claims need them (with the roles' flags, the MFA policy's user facts); null if gone or
 * disabled.
 */
export async function findActiveAccount(db: Db, id: string) {
  const row = await sqlOf(db).selectFrom('User as u').innerJoin('Tenant as t', 't.id', 'u.tenantId')
    .select(['u.id', 'u.email', 'u.emailVerified', 'u.username', 'u.displayName', 'u.givenName', 'u.familyName', 'u.phone', 'u.phoneVerified', 'u.locale', 'u.updatedAt'])
    .select((eb) => [jsonBuildObject({ slug: eb.ref('t.slug') }).as('tenant'), ...rolesAndFactorCount(eb)])
    .where('u.id', '=', id).where('u.status', '=', 'active')
    .executeTakeFirst()
  return row ?? null
}

/** What findActiveAccount returns. */
export type ActiveAccountRow = NonNullable<Awaited<ReturnType<typeof findActiveAccount>>>

/** A user's email (every consent page shows it: hand-written, as above). */
export async function findEmailOfUser(db: Db, id: string): Promise<string | undefined> {
  return (await sqlOf(db).selectFrom('User').select('email').where('id', '=', id).executeTakeFirst())?.email
}

/** The language a person chose for the pages, if any (src/i18n/negotiate.ts). */
export async function findUserLocale(db: Db, id: string): Promise<string | undefined> {
  return (await sqlOf(db).selectFrom('User').select('locale').where('id', '=', id).executeTakeFirst())?.locale ?? undefined
}

/**
 * The write of a successful sign-in: its time, the failure count cleared, and a rehashed password
 * when the hash was upgraded; sets updatedAt as Prisma's @updatedAt would. `keepLock`: the
 * account-wide lock stays (src/security/lockout.ts, recordSignIn).
 */
export async function recordUserSignIn(db: Db, userId: string, at: Date, rehashed: string | undefined, keepLock: boolean): Promise<void> {
  await sqlOf(db).updateTable('User')
    .set({ lastLoginAt: at, failedLogins: 0, failedLoginsSince: null, updatedAt: at, ...(keepLock ? {} : { lockedUntil: null }), ...(rehashed === undefined ? {} : { passwordHash: rehashed }) })
    .where('id', '=', userId)
    .execute()
}

/** Writes the account-wide lock into the user's row (which the sign-in reads and the admin API shows). */
export async function setUserLockedUntil(db: Db, userId: string, lockedUntil: Date, at: Date): Promise<void> {
  await sqlOf(db).updateTable('User').set({ lockedUntil, updatedAt: at }).where('id', '=', userId).execute()
}

/** The user's own lock, or undefined when there is no such user. */
export async function findUserLock(db: DbOrTx, id: string) {
  return db.user.findUnique({ where: { id }, select: { lockedUntil: true } })
}

/** Ends the user's own lock and clears its failure count. */
export async function clearUserLock(db: DbOrTx, id: string): Promise<void> {
  await db.user.update({ where: { id }, data: { failedLogins: 0, failedLoginsSince: null, lockedUntil: null } })
}

/** Creates a user row (the rules, normalisation and hashing are src/identity/users.ts createUser). */
export function insertUser(db: DbOrTx, data: Prisma.UserUncheckedCreateInput) {
  return db.user.create({ data })
}

/** Sets a new password hash (changed at `at`; `expired`: must be changed at the next sign-in). */
export async function setUserPasswordHash(db: DbOrTx, id: string, passwordHash: string, expired: boolean, at: Date): Promise<void> {
  await db.user.update({ where: { id }, data: { passwordHash, passwordExpired: expired, passwordChangedAt: at } })
}

/**
 * Holds the user's row until the transaction ends (SELECT … FOR UPDATE): checks made and writes
 * done for the person in `tx` cannot interleave with another transaction's doing the same.
 */
export async function lockUserRow(tx: Tx, userId: string): Promise<void> {
  await rowsInTransaction(tx, (sql) => sql.selectFrom('User').select('id').where('id', '=', userId).forUpdate())
}

export async function deleteUser(db: DbOrTx, id: string): Promise<void> {
  await db.user.delete({ where: { id } })
}

/**
 * The person behind an admin API token, with their tenant and the permissions of every role they
 * hold (read on each request, so a removed role counts at once).
 */
export function findUserWithTenantAndPermissions(db: DbOrTx, id: string) {
  return db.user.findUnique({
    where: { id },
    include: { tenant: true, roles: { include: { role: { include: { permissions: { include: { permission: true } } } } } } },
  })
}

/** The columns an administrator changes directly (password and roles have their own ways). */
export type UserColumns = Partial<Pick<User, 'email' | 'emailVerified' | 'username' | 'displayName' | 'givenName' | 'familyName' | 'phone' | 'status' | 'locale'>>

export async function updateUserColumns(db: DbOrTx, id: string, columns: UserColumns): Promise<void> {
  await db.user.update({ where: { id }, data: columns })
}

// Users as the admin API reads and changes them. Every read names the caller's tenant scope
// (admin-scope.ts): a user of another tenant is, to a tenant administrator, a missing row.
import type { Prisma, User } from '../generated/prisma/client.ts'
import type { Db, DbOrTx } from './db.ts'
import { afterKey, newestFirst, roleReadWhere, userWhere, type Keyset, type TenantScope } from './admin-scope.ts'

const withRoles = { roles: { include: { role: { select: { id: true, name: true } } }, orderBy: { createdAt: 'asc' } } } satisfies Prisma.UserInclude
/** A user with the roles they hold (id and name), oldest assignment first. */
export type UserWithRoles = Prisma.UserGetPayload<{ include: typeof withRoles }>

export function findUserInScope(db: DbOrTx, scope: TenantScope, id: string): Promise<UserWithRoles | null> {
  return db.user.findFirst({ where: { AND: [{ id }, userWhere(scope)] }, include: withRoles })
}

export interface UserListFilters {
  tenantId?: string | undefined
  status?: User['status'] | undefined
  /** Already lower-cased (addresses are stored so). */
  email?: string | undefined
  /** A role id or name; only roles readable in the scope match. */
  role?: string | undefined
  /** Searched in email, username and display name, case-insensitively. */
  q?: string | undefined
}

export function listUsersInScope(db: DbOrTx, scope: TenantScope, filters: UserListFilters, page: Keyset): Promise<UserWithRoles[]> {
  const where: Prisma.UserWhereInput = {
    AND: [
      userWhere(scope),
      filters.tenantId ? { tenantId: filters.tenantId } : {},
      filters.status ? { status: filters.status } : {},
      filters.email ? { email: filters.email } : {},
      filters.role ? { roles: { some: { role: { AND: [roleReadWhere(scope), { OR: [{ id: filters.role }, { name: filters.role }] }] } } } } : {},
      filters.q ? { OR: (['email', 'username', 'displayName'] as const).map((f) => ({ [f]: { contains: filters.q, mode: 'insensitive' as const } })) } : {},
      afterKey('createdAt', page.after),
    ],
  }
  return db.user.findMany({ where, include: withRoles, orderBy: newestFirst('createdAt'), take: page.take })
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
export type UserColumns = Partial<Pick<User, 'email' | 'emailVerified' | 'username' | 'displayName' | 'givenName' | 'familyName' | 'phone' | 'status'>>

export async function updateUserColumns(db: DbOrTx, id: string, columns: UserColumns): Promise<void> {
  await db.user.update({ where: { id }, data: columns })
}

/** Gives roles (already held ones are left as they are); `source` says who gave them. */
export async function addUserRoles(db: DbOrTx, userId: string, roleIds: string[], source: string): Promise<void> {
  await db.userRole.createMany({ data: roleIds.map((roleId) => ({ userId, roleId, source })), skipDuplicates: true })
}

/** Removes and gives roles in one transaction. */
export async function changeUserRoles(db: Db, userId: string, change: { add: string[]; remove: string[] }, source: string): Promise<void> {
  await db.$transaction([
    db.userRole.deleteMany({ where: { userId, roleId: { in: change.remove } } }),
    db.userRole.createMany({ data: change.add.map((roleId) => ({ userId, roleId, source })), skipDuplicates: true }),
  ])
}

/** The user's browser session, if it has not ended. */
export function findOpenSessionOfUser(db: DbOrTx, userId: string, sessionId: string) {
  return db.userSession.findFirst({ where: { id: sessionId, userId, endedAt: null } })
}

/** The user's enrolled second factors: what and when, never the secret, destination or credential. */
export function listVerifiedFactorSummaries(db: DbOrTx, userId: string) {
  return db.mfaFactor.findMany({ where: { userId, verified: true }, orderBy: { createdAt: 'asc' }, select: { id: true, kind: true, label: true, createdAt: true, lastUsedAt: true } })
}

/** Deletes every second factor, backup code and open challenge of the user, in one transaction. */
export async function deleteSecondFactorsOf(db: Db, userId: string): Promise<{ factors: number; backupCodes: number }> {
  const [factors, backupCodes] = await db.$transaction([
    db.mfaFactor.deleteMany({ where: { userId } }),
    db.backupCode.deleteMany({ where: { userId } }),
    db.mfaChallenge.deleteMany({ where: { userId } }),
  ])
  return { factors: factors.count, backupCodes: backupCodes.count }
}

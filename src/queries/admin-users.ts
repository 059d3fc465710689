// Users as the admin API finds and lists them. Every read names the
// caller's tenant scope (admin-scope.ts): a user of another tenant is, to a tenant administrator,
// a missing row. A user already found in scope is changed by id (users.ts, roles.ts, mfa-factors.ts).
import type { Prisma, User } from '../generated/prisma/client.ts'
import type { DbOrTx } from './db.ts'
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

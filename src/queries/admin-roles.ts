// Roles and permissions as the admin API finds and lists them. Tenant administrators read their
// tenant's roles and the global ones, and change only their tenant's own (admin-scope.ts); a role
// found in scope is changed by id (roles.ts).
import type { Permission, Prisma } from '../generated/prisma/client.ts'
import type { DbOrTx } from './db.ts'
import { afterKey, newestFirst, roleReadWhere, roleWriteWhere, userWhere, type Keyset, type TenantScope } from './admin-scope.ts'

const withPermissions = { permissions: { include: { permission: true } } } satisfies Prisma.RoleInclude
/** A role with the permissions it carries. */
export type RoleWithPermissions = Prisma.RoleGetPayload<{ include: typeof withPermissions }>

/** A role readable in the scope. */
export function findRoleInScope(db: DbOrTx, scope: TenantScope, id: string): Promise<RoleWithPermissions | null> {
  return db.role.findFirst({ where: { AND: [{ id }, roleReadWhere(scope)] }, include: withPermissions })
}

/** The roles among `ids` readable in the scope (missing and hidden ones are left out). */
export function findRolesInScope(db: DbOrTx, scope: TenantScope, ids: string[]): Promise<RoleWithPermissions[]> {
  return db.role.findMany({ where: { AND: [{ id: { in: ids } }, roleReadWhere(scope)] }, include: withPermissions })
}

/** Whether the scope may change or delete the role. */
export async function roleWritableInScope(db: DbOrTx, scope: TenantScope, id: string): Promise<boolean> {
  return (await db.role.count({ where: { AND: [{ id }, roleWriteWhere(scope)] } })) > 0
}

export function listRolesInScope(db: DbOrTx, scope: TenantScope, page: Keyset): Promise<RoleWithPermissions[]> {
  return db.role.findMany({
    where: { AND: [roleReadWhere(scope), afterKey('createdAt', page.after)] },
    include: withPermissions, orderBy: newestFirst('createdAt'), take: page.take,
  })
}

/** Members counted within the scope: a global role's members in other tenants are not the scope's to count. */
export function countRoleMembersInScope(db: DbOrTx, scope: TenantScope, roleId: string): Promise<number> {
  return db.userRole.count({ where: { roleId, user: userWhere(scope) } })
}

/** Stored permissions, by name: every one for the global scope, those the readable roles carry for a tenant's. */
export function listPermissionsInScope(db: DbOrTx, scope: TenantScope): Promise<Permission[]> {
  return db.permission.findMany({ where: scope.kind === 'global' ? {} : { roles: { some: { role: roleReadWhere(scope) } } }, orderBy: { name: 'asc' } })
}

// Roles and permissions as the admin API reads and changes them. Tenant administrators read their
// tenant's roles and the global ones, and change only their tenant's own (admin-scope.ts).
import type { Permission, Prisma, Role } from '../generated/prisma/client.ts'
import type { Db, DbOrTx } from './db.ts'
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

/** @@unique([tenantId, name]) does not hold for a NULL tenantId in PostgreSQL: global names are checked here. */
export async function globalRoleNameTaken(db: DbOrTx, name: string): Promise<boolean> {
  return (await db.role.count({ where: { tenantId: null, name } })) > 0
}

export function createRole(db: DbOrTx, role: Pick<Role, 'name' | 'description' | 'mfaRequired' | 'tenantId'>): Promise<Role> {
  return db.role.create({ data: role })
}

export async function updateRole(db: DbOrTx, id: string, columns: Partial<Pick<Role, 'name' | 'description' | 'mfaRequired'>>): Promise<void> {
  await db.role.update({ where: { id }, data: columns })
}

export async function deleteRole(db: DbOrTx, id: string): Promise<void> {
  await db.role.delete({ where: { id } })
}

/**
 * Makes the role carry exactly these permissions. A permission not known yet is created with its
 * description; a known one keeps its own.
 */
export async function setRolePermissions(db: Db, roleId: string, permissions: Array<{ name: string; description: string | null }>): Promise<void> {
  const ids = []
  for (const { name, description } of permissions) {
    const p = await db.permission.upsert({ where: { name }, update: {}, create: { name, description } })
    ids.push(p.id)
  }
  await db.$transaction([
    db.rolePermission.deleteMany({ where: { roleId, permissionId: { notIn: ids } } }),
    db.rolePermission.createMany({ data: ids.map((permissionId) => ({ roleId, permissionId })), skipDuplicates: true }),
  ])
}

export async function userHoldsRole(db: DbOrTx, roleId: string, userId: string): Promise<boolean> {
  return (await db.userRole.count({ where: { roleId, userId } })) > 0
}

/** The names of the permissions the roles carry (a name once per role that carries it). */
export async function permissionNamesOfRoles(db: DbOrTx, roleIds: string[]): Promise<string[]> {
  const rows = await db.rolePermission.findMany({ where: { roleId: { in: roleIds } }, include: { permission: true } })
  return rows.map((r) => r.permission.name)
}

/** Stored permissions, by name: every one for the global scope, those the readable roles carry for a tenant's. */
export function listPermissionsInScope(db: DbOrTx, scope: TenantScope): Promise<Permission[]> {
  return db.permission.findMany({ where: scope.kind === 'global' ? {} : { roles: { some: { role: roleReadWhere(scope) } } }, orderBy: { name: 'asc' } })
}

// Roles, the permissions they carry, and who holds them (Role, Permission, RolePermission,
// UserRole). Global roles have tenantId null. A UserRole's `source` says who granted it: null for
// roles assigned here, "federation:{id}" for an upstream's mapping.
import type { Role } from '../generated/prisma/client.ts'
import type { Db, DbOrTx } from './db.ts'

export type { Role } from '../generated/prisma/client.ts'

/** The global role of this name. */
export function findGlobalRole(db: DbOrTx, name: string) {
  return db.role.findFirst({ where: { tenantId: null, name } })
}

/** Any role of this name, global or a tenant's (the first found). */
export function findRoleByName(db: DbOrTx, name: string) {
  return db.role.findFirst({ where: { name } })
}

export function createGlobalRole(db: DbOrTx, name: string, description: string | null) {
  return db.role.create({ data: { name, description } })
}

/** Makes the role carry the permission, creating the permission if missing (both idempotent). */
export async function addPermissionToRole(db: DbOrTx, roleId: string, permission: string): Promise<void> {
  const p = await db.permission.upsert({ where: { name: permission }, update: {}, create: { name: permission } })
  await db.rolePermission.upsert({
    where: { roleId_permissionId: { roleId, permissionId: p.id } },
    update: {},
    create: { roleId, permissionId: p.id },
  })
}

/** Gives the person the role (no change when they hold it, whatever its source). */
export async function assignUserRole(db: DbOrTx, userId: string, roleId: string): Promise<void> {
  await db.userRole.upsert({
    where: { userId_roleId: { userId, roleId } },
    update: {},
    create: { userId, roleId },
  })
}

/** The names of every permission the person's roles carry. */
export async function listPermissionNamesOfUser(db: DbOrTx, userId: string): Promise<string[]> {
  const rows = await db.permission.findMany({
    where: { roles: { some: { role: { users: { some: { userId } } } } } },
    select: { name: true },
  })
  return rows.map((p) => p.name)
}

/** Which of `names` exist as permissions. */
export async function listExistingPermissionNames(db: DbOrTx, names: readonly string[]): Promise<string[]> {
  const rows = await db.permission.findMany({ where: { name: { in: [...names] } }, select: { name: true } })
  return rows.map((p) => p.name)
}

/** The person's role assignments, each with its role; only those of `source` when given. */
export function listUserRolesWithRole(db: DbOrTx, userId: string, source?: string) {
  return db.userRole.findMany({ where: { userId, ...(source !== undefined ? { source } : {}) }, include: { role: true } })
}

/**
 * Changes the person's roles from `source` in one transaction: removes `removeRoleIds` (only where
 * they came from `source`) and adds `addRoleIds` with that source (skipping any held already).
 */
export async function changeUserRolesFromSource(db: Db, userId: string, source: string, removeRoleIds: string[], addRoleIds: string[]): Promise<void> {
  await db.$transaction([
    db.userRole.deleteMany({ where: { userId, source, roleId: { in: removeRoleIds } } }),
    db.userRole.createMany({ data: addRoleIds.map((roleId) => ({ userId, roleId, source })), skipDuplicates: true }),
  ])
}

/** Removes every role the person holds from `source`. */
export async function deleteUserRolesFromSource(db: DbOrTx, userId: string, source: string): Promise<void> {
  await db.userRole.deleteMany({ where: { userId, source } })
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

/** Gives roles (already held ones are left as they are); `source` says who gave them. */
export async function addUserRoles(db: DbOrTx, userId: string, roleIds: string[], source: string): Promise<void> {
  await db.userRole.createMany({ data: roleIds.map((roleId) => ({ userId, roleId, source })), skipDuplicates: true })
}

/** Removes and gives roles in one transaction, whoever gave the removed ones (roles.ts changeUserRolesFromSource keeps to one source). */
export async function changeUserRoles(db: Db, userId: string, change: { add: string[]; remove: string[] }, source: string): Promise<void> {
  await db.$transaction([
    db.userRole.deleteMany({ where: { userId, roleId: { in: change.remove } } }),
    db.userRole.createMany({ data: change.add.map((roleId) => ({ userId, roleId, source })), skipDuplicates: true }),
  ])
}

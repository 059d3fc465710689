// Roles, the permissions they carry, and who holds them (Role, Permission, RolePermission,
// UserRole). Global roles have tenantId null. A UserRole's `source` says who granted it: null for
// roles assigned here, "federation:{id}" for an upstream's mapping.
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

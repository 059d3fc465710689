// Roles and the permissions they carry. Global roles (tenantId null) exist in every tenant.
import type { Db } from '../queries/db.ts'
import { addPermissionToRole, assignUserRole, createGlobalRole, findGlobalRole, listExistingPermissionNames, listPermissionNamesOfUser } from '../queries/roles.ts'

/** Creates the role and its permissions if missing; returns the role. */
export async function ensureRole(prisma: Db, name: string, permissions: string[] = [], description?: string) {
  const existing = await findGlobalRole(prisma, name)
  const role = existing ?? await createGlobalRole(prisma, name, description ?? null)
  for (const permission of permissions) await addPermissionToRole(prisma, role.id, permission)
  return role
}

export async function assignRole(prisma: Db, userId: string, roleId: string): Promise<void> {
  await assignUserRole(prisma, userId, roleId)
}

/** Every permission the person's roles carry (global and tenant roles alike). */
export async function permissionsOf(prisma: Db, userId: string): Promise<Set<string>> {
  return new Set(await listPermissionNamesOfUser(prisma, userId))
}

/** Which of `names` are permissions (a role can carry them): the rest are plain scopes. */
export async function permissionsAmong(prisma: Db, names: readonly string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set()
  return new Set(await listExistingPermissionNames(prisma, names))
}

// Roles and the permissions they carry. Global roles (tenantId null) exist in every tenant.
import type { PrismaClient } from '../store/database.ts'

/** Creates the role and its permissions if missing; returns the role. */
export async function ensureRole(prisma: PrismaClient, name: string, permissions: string[] = [], description?: string) {
  const existing = await prisma.role.findFirst({ where: { tenantId: null, name } })
  const role = existing ?? await prisma.role.create({ data: { name, description: description ?? null } })
  for (const permission of permissions) {
    const p = await prisma.permission.upsert({ where: { name: permission }, update: {}, create: { name: permission } })
    await prisma.rolePermission.upsert({
      where: { roleId_permissionId: { roleId: role.id, permissionId: p.id } },
      update: {},
      create: { roleId: role.id, permissionId: p.id },
    })
  }
  return role
}

export async function assignRole(prisma: PrismaClient, userId: string, roleId: string): Promise<void> {
  await prisma.userRole.upsert({
    where: { userId_roleId: { userId, roleId } },
    update: {},
    create: { userId, roleId },
  })
}

/** Every permission the person's roles carry (global and tenant roles alike). */
export async function permissionsOf(prisma: PrismaClient, userId: string): Promise<Set<string>> {
  const rows = await prisma.permission.findMany({
    where: { roles: { some: { role: { users: { some: { userId } } } } } },
    select: { name: true },
  })
  return new Set(rows.map((p) => p.name))
}

/** Which of `names` are permissions (a role can carry them): the rest are plain scopes. */
export async function permissionsAmong(prisma: PrismaClient, names: readonly string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set()
  const rows = await prisma.permission.findMany({ where: { name: { in: [...names] } }, select: { name: true } })
  return new Set(rows.map((p) => p.name))
}

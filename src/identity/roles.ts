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

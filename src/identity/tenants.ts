// Tenants: every user belongs to one. The default tenant is created on demand so a fresh
// installation works without any tenant setup.
import type { PrismaClient } from '../store/database.ts'

export const DEFAULT_TENANT_SLUG = 'default'

export async function ensureDefaultTenant(prisma: PrismaClient) {
  return prisma.tenant.upsert({
    where: { slug: DEFAULT_TENANT_SLUG },
    update: {},
    create: { slug: DEFAULT_TENANT_SLUG, name: 'Default' },
  })
}

export async function findTenantBySlug(prisma: PrismaClient, slug: string) {
  return prisma.tenant.findUnique({ where: { slug } })
}

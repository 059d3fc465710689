// Tenants: every user belongs to one. The default tenant is created on demand so a fresh
// installation works without any tenant setup.
import type { Db } from '../queries/db.ts'
import { ensureTenant } from '../queries/tenants.ts'

export { findTenantBySlug } from '../queries/tenants.ts'

export const DEFAULT_TENANT_SLUG = 'default'

export async function ensureDefaultTenant(prisma: Db) {
  return ensureTenant(prisma, DEFAULT_TENANT_SLUG, 'Default')
}

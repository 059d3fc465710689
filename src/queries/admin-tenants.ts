// Tenants as the admin API reads and changes them: a tenant administrator sees their own only
// (admin-scope.ts); only global administrators change them (the admin area decides).
import type { Tenant } from '../generated/prisma/client.ts'
import type { DbOrTx } from './db.ts'
import { afterKey, newestFirst, tenantWhere, type Keyset, type TenantScope } from './admin-scope.ts'

export type { Tenant } from '../generated/prisma/client.ts'

export function findTenantInScope(db: DbOrTx, scope: TenantScope, id: string): Promise<Tenant | null> {
  return db.tenant.findFirst({ where: { AND: [{ id }, tenantWhere(scope)] } })
}

export function listTenantsInScope(db: DbOrTx, scope: TenantScope, page: Keyset): Promise<Tenant[]> {
  return db.tenant.findMany({ where: { AND: [tenantWhere(scope), afterKey('createdAt', page.after)] }, orderBy: newestFirst('createdAt'), take: page.take })
}

export async function tenantExists(db: DbOrTx, id: string): Promise<boolean> {
  return (await db.tenant.findUnique({ where: { id } })) !== null
}

export function countUsersOfTenant(db: DbOrTx, tenantId: string): Promise<number> {
  return db.user.count({ where: { tenantId } })
}

export function createTenant(db: DbOrTx, tenant: Pick<Tenant, 'slug' | 'name' | 'registrationMode'>): Promise<Tenant> {
  return db.tenant.create({ data: tenant })
}

export function updateTenant(db: DbOrTx, id: string, columns: Partial<Pick<Tenant, 'name' | 'registrationMode'>>): Promise<Tenant> {
  return db.tenant.update({ where: { id }, data: columns })
}

export async function deleteTenant(db: DbOrTx, id: string): Promise<void> {
  await db.tenant.delete({ where: { id } })
}

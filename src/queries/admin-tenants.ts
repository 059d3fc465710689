// Tenants as the admin API finds and lists them: a tenant administrator sees their own only
// (admin-scope.ts). Only global administrators change them (the admin area decides), by id (tenants.ts).
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

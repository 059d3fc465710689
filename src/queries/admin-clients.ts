// The client registry as the admin API reads and changes it: a tenant administrator sees their
// tenant's clients only (admin-scope.ts). Registration itself is clients/registry.ts's.
import type { Client } from '../generated/prisma/client.ts'
import type { DbOrTx } from './db.ts'
import { afterKey, clientWhere, newestFirst, type Keyset, type TenantScope } from './admin-scope.ts'

export type { Client } from '../generated/prisma/client.ts'

export function findClientInScope(db: DbOrTx, scope: TenantScope, id: string): Promise<Client | null> {
  return db.client.findFirst({ where: { AND: [{ id }, clientWhere(scope)] } })
}

export function listClientsInScope(db: DbOrTx, scope: TenantScope, page: Keyset): Promise<Client[]> {
  return db.client.findMany({ where: { AND: [clientWhere(scope), afterKey('createdAt', page.after)] }, orderBy: newestFirst('createdAt'), take: page.take })
}

/** The client with the tenant it belongs to (none: a shared client), whatever its state. */
export function findClientWithTenant(db: DbOrTx, id: string) {
  return db.client.findUnique({ where: { id }, include: { tenant: true } })
}

/** Disables or enables a client (its settings are the registry's: clients/registry.ts changeClient). */
export async function setClientDisabled(db: DbOrTx, id: string, disabled: boolean): Promise<void> {
  await db.client.update({ where: { id }, data: { disabled } })
}

// Tenant rows: every user belongs to one; the default one is found by its slug.
import type { Tenant } from '../generated/prisma/client.ts'
import type { DbOrTx } from './db.ts'

export type { Tenant } from '../generated/prisma/client.ts'

/** The tenant with this slug, created (with `name`) when missing. */
export function ensureTenant(db: DbOrTx, slug: string, name: string) {
  return db.tenant.upsert({ where: { slug }, update: {}, create: { slug, name } })
}

export function findTenantBySlug(db: DbOrTx, slug: string) {
  return db.tenant.findUnique({ where: { slug } })
}

/** The tenant's id and own registration mode (null: the server's), by id or by slug. */
export function findTenantRegistration(db: DbOrTx, by: { id: string } | { slug: string }) {
  return db.tenant.findUnique({ where: 'id' in by ? { id: by.id } : { slug: by.slug }, select: { id: true, registrationMode: true } })
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

// The audit log as the admin API reads it, within a tenant scope, and the overview counts.
import type { AuditEvent, Prisma } from '../generated/prisma/client.ts'
import type { DbOrTx } from './db.ts'
import { afterKey, clientWhere, newestFirst, roleReadWhere, tenantWhere, userWhere, type Keyset, type TenantScope } from './admin-scope.ts'

export type { AuditEvent } from '../generated/prisma/client.ts'

/**
 * What a tenant's share of the audit log is made of. AuditEvent has no relations, so the ids of
 * the tenant's people and clients, and of the shared (global) clients, are looked up once.
 */
export type AuditScope =
  | { kind: 'global' }
  | { kind: 'tenant'; tenantId: string; users: Set<string>; clients: Set<string>; shared: Set<string> }

export async function resolveAuditScope(db: DbOrTx, scope: TenantScope): Promise<AuditScope> {
  if (scope.kind === 'global') return { kind: 'global' }
  const [users, clients, shared] = await Promise.all([
    db.user.findMany({ where: userWhere(scope), select: { id: true } }),
    db.client.findMany({ where: { AND: [clientWhere(scope), { tenantId: scope.tenantId }] }, select: { id: true } }),
    db.client.findMany({ where: { tenantId: null }, select: { id: true } }),
  ])
  return { kind: 'tenant', tenantId: scope.tenantId, users: new Set(users.map((u) => u.id)), clients: new Set(clients.map((c) => c.id)), shared: new Set(shared.map((c) => c.id)) }
}

/**
 * A tenant's events: those that name it, its people or its clients, and nothing of another
 * tenant's. Every column that names a tenant-scoped thing (tenant, user, client) must be this
 * tenant's or empty: an event where another tenant's person signs in through this tenant's client
 * names that person, and is not this tenant's to read. Shared (global) clients, such as the
 * console or the account area, belong to no tenant: its people's sign-ins through them stay visible.
 */
function scopeWhere(scope: AuditScope): Prisma.AuditEventWhereInput {
  if (scope.kind === 'global') return {}
  const users = [...scope.users]
  const clients = [...scope.clients]
  return {
    AND: [
      { OR: [{ tenantId: null }, { tenantId: scope.tenantId }] },
      { OR: [{ userId: null }, { userId: { in: users } }] },
      { OR: [{ clientId: null }, { clientId: { in: [...clients, ...scope.shared] } }] },
      // … and about this tenant at all.
      { OR: [{ tenantId: scope.tenantId }, { userId: { in: users } }, { clientId: { in: clients } }] },
    ],
  }
}

export interface AuditEventFilters {
  from?: Date | undefined
  to?: Date | undefined
  /** Any of these types. */
  types?: readonly string[] | undefined
  userId?: string | undefined
  clientId?: string | undefined
  outcome?: string | undefined
}

function filterWhere(f: AuditEventFilters): Prisma.AuditEventWhereInput {
  return {
    ...(f.from || f.to ? { at: { ...(f.from ? { gte: f.from } : {}), ...(f.to ? { lte: f.to } : {}) } } : {}),
    ...(f.types ? { type: { in: [...f.types] } } : {}),
    ...(f.userId ? { userId: f.userId } : {}),
    ...(f.clientId ? { clientId: f.clientId } : {}),
    ...(f.outcome ? { outcome: f.outcome } : {}),
  }
}

/** Matching events in the scope, newest first. */
export function listAuditEventsInScope(db: DbOrTx, scope: AuditScope, filters: AuditEventFilters, page: Keyset): Promise<AuditEvent[]> {
  return db.auditEvent.findMany({
    where: { AND: [scopeWhere(scope), filterWhere(filters), afterKey('at', page.after)] },
    orderBy: newestFirst('at'), take: page.take,
  })
}

/** How many users, clients, tenants and roles the scope sees. */
export async function countRowsInScope(db: DbOrTx, scope: TenantScope): Promise<{ users: number; clients: number; tenants: number; roles: number }> {
  const [users, clients, tenants, roles] = await Promise.all([
    db.user.count({ where: userWhere(scope) }),
    db.client.count({ where: clientWhere(scope) }),
    db.tenant.count({ where: tenantWhere(scope) }),
    db.role.count({ where: roleReadWhere(scope) }),
  ])
  return { users, clients, tenants, roles }
}

// The audit log within a tenant scope, newest first, and the overview counts.
import type { z } from 'zod'
import type { AuditEvent, Prisma } from '../../generated/prisma/client.ts'
import { afterCursor, decodeCursor, descending, toPage, type Page } from '../page.ts'
import type { AuditFilters, auditEventJson } from '../schemas.ts'
import { clientWhere, roleReadWhere, tenantWhere, userWhere, type TenantScope } from './scope.ts'
import type { AdminDataDeps } from './deps.ts'

export type AuditEventJson = z.output<typeof auditEventJson>

export function toAuditJson(e: AuditEvent): AuditEventJson {
  return {
    id: e.id, at: e.at.toISOString(), type: e.type, outcome: e.outcome, actor: e.actor, userId: e.userId, tenantId: e.tenantId,
    clientId: e.clientId, ip: e.ip, userAgent: e.userAgent, requestId: e.requestId, details: e.details ?? null,
  }
}

// Successful password and upstream (federation) sign-ins; failures of any kind are listed separately.
const SIGN_IN_TYPES = ['login', 'federation_success']
const EXPORT_BATCH = 500

export function auditData(deps: AdminDataDeps, scope: TenantScope) {
  const { prisma } = deps

  /**
   * A tenant's events: those that name it, its people or its clients, and nothing of another
   * tenant's. Every column that names a tenant-scoped thing (tenant, user, client) must be this
   * tenant's or empty: an event where another tenant's person signs in through this tenant's
   * client names that person, and is not this tenant's to read. Shared (global) clients, such as
   * the console or the account area, belong to no tenant: its people's sign-ins through them stay
   * visible. AuditEvent has no relations, so the ids are looked up first.
   */
  let tenantIds: Promise<{ users: Set<string>; clients: Set<string>; shared: Set<string> }> | undefined
  function idsInScope(tenantId: string) {
    tenantIds ??= Promise.all([
      prisma.user.findMany({ where: userWhere(scope), select: { id: true } }),
      prisma.client.findMany({ where: { AND: [clientWhere(scope), { tenantId }] }, select: { id: true } }),
      prisma.client.findMany({ where: { tenantId: null }, select: { id: true } }),
    ]).then(([users, clients, shared]) => ({ users: new Set(users.map((u) => u.id)), clients: new Set(clients.map((c) => c.id)), shared: new Set(shared.map((c) => c.id)) }))
    return tenantIds
  }

  async function scopeWhere(): Promise<Prisma.AuditEventWhereInput> {
    if (scope.kind === 'global') return {}
    const ids = await idsInScope(scope.tenantId)
    const users = [...ids.users]
    const clients = [...ids.clients]
    return {
      AND: [
        { OR: [{ tenantId: null }, { tenantId: scope.tenantId }] },
        { OR: [{ userId: null }, { userId: { in: users } }] },
        { OR: [{ clientId: null }, { clientId: { in: [...clients, ...ids.shared] } }] },
        // … and about this tenant at all.
        { OR: [{ tenantId: scope.tenantId }, { userId: { in: users } }, { clientId: { in: clients } }] },
      ],
    }
  }

  /**
   * The actor column names a person or client too: one outside the tenant (a global administrator
   * acting on the tenant's people) is shown as `operator`, not by an id of another tenant.
   */
  async function toScopedJson(rows: AuditEvent[]): Promise<AuditEventJson[]> {
    if (scope.kind === 'global') return rows.map(toAuditJson)
    const ids = await idsInScope(scope.tenantId)
    // Actors are a user id, `client:<id>` or `cli` (the operator's command line).
    const ours = (actor: string) => ids.users.has(actor) || (actor.startsWith('client:') && ids.clients.has(actor.slice('client:'.length)))
    return rows.map((r) => ({ ...toAuditJson(r), actor: r.actor === null || r.actor === 'cli' || ours(r.actor) ? r.actor : 'operator' }))
  }

  function filterWhere(f: AuditFilters): Prisma.AuditEventWhereInput {
    return {
      ...(f.from || f.to ? { at: { ...(f.from ? { gte: new Date(f.from) } : {}), ...(f.to ? { lte: new Date(f.to) } : {}) } } : {}),
      ...(f.type ? { type: f.type } : {}),
      ...(f.userId ? { userId: f.userId } : {}),
      ...(f.clientId ? { clientId: f.clientId } : {}),
      ...(f.outcome ? { outcome: f.outcome } : {}),
    }
  }

  return {
    async list(query: AuditFilters & { limit: number; cursor?: string | undefined }): Promise<Page<AuditEventJson>> {
      const rows = await prisma.auditEvent.findMany({
        where: { AND: [await scopeWhere(), filterWhere(query), afterCursor('at', decodeCursor(query.cursor))] },
        orderBy: descending('at'), take: query.limit + 1,
      })
      const page = toPage(rows, query.limit, (r) => r.at, (r) => r)
      return { items: await toScopedJson(page.items), nextCursor: page.nextCursor }
    },

    /** Every matching event, newest first, fetched in batches by keyset so memory stays flat. */
    async *all(filters: AuditFilters): AsyncGenerator<AuditEventJson[]> {
      const base = { AND: [await scopeWhere(), filterWhere(filters)] }
      let after: { at: Date; id: string } | undefined
      for (;;) {
        const rows = await prisma.auditEvent.findMany({ where: { AND: [base, afterCursor('at', after)] }, orderBy: descending('at'), take: EXPORT_BATCH })
        if (!rows.length) return
        yield await toScopedJson(rows)
        if (rows.length < EXPORT_BATCH) return
        const last = rows.at(-1)!
        after = { at: last.at, id: last.id }
      }
    },

    async stats(opts: { withEvents: boolean }) {
      const where = await scopeWhere()
      const [users, clients, tenants, roles, recentSignIns, recentFailures] = await Promise.all([
        prisma.user.count({ where: userWhere(scope) }),
        prisma.client.count({ where: clientWhere(scope) }),
        prisma.tenant.count({ where: tenantWhere(scope) }),
        prisma.role.count({ where: roleReadWhere(scope) }),
        opts.withEvents ? prisma.auditEvent.findMany({ where: { AND: [where, { type: { in: SIGN_IN_TYPES }, outcome: 'success' }] }, orderBy: descending('at'), take: 10 }) : [],
        opts.withEvents ? prisma.auditEvent.findMany({ where: { AND: [where, { outcome: 'failure' }] }, orderBy: descending('at'), take: 10 }) : [],
      ])
      return { users, clients, tenants, roles, recentSignIns: await toScopedJson(recentSignIns), recentFailures: await toScopedJson(recentFailures) }
    },
  }
}

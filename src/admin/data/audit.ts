// The audit log within a tenant scope, newest first, and the overview counts.
import type { z } from 'zod'
import { decodeCursor, toPage, type Page } from '../page.ts'
import type { AuditFilters, auditEventJson } from '../schemas.ts'
import type { TenantScope } from '../../queries/admin-scope.ts'
import { countRowsInScope, listAuditEventsInScope, resolveAuditScope, type AuditEvent, type AuditEventFilters, type AuditScope } from '../../queries/admin-audit.ts'
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

  /** Which events are the scope's (queries/admin-audit.ts): looked up once per request, and only when asked. */
  let auditScope: Promise<AuditScope> | undefined
  const inScope = () => (auditScope ??= resolveAuditScope(prisma, scope))

  /**
   * The actor column names a person or client too: one outside the tenant (a global administrator
   * acting on the tenant's people) is shown as `operator`, not by an id of another tenant.
   */
  async function toScopedJson(rows: AuditEvent[]): Promise<AuditEventJson[]> {
    const ids = await inScope()
    if (ids.kind === 'global') return rows.map(toAuditJson)
    // Actors are a user id, `client:<id>` or `cli` (the operator's command line).
    const ours = (actor: string) => ids.users.has(actor) || (actor.startsWith('client:') && ids.clients.has(actor.slice('client:'.length)))
    return rows.map((r) => ({ ...toAuditJson(r), actor: r.actor === null || r.actor === 'cli' || ours(r.actor) ? r.actor : 'operator' }))
  }

  function filtersOf(f: AuditFilters): AuditEventFilters {
    return {
      from: f.from ? new Date(f.from) : undefined,
      to: f.to ? new Date(f.to) : undefined,
      types: f.type ? [f.type] : undefined,
      userId: f.userId, clientId: f.clientId, outcome: f.outcome,
    }
  }

  return {
    async list(query: AuditFilters & { limit: number; cursor?: string | undefined }): Promise<Page<AuditEventJson>> {
      const rows = await listAuditEventsInScope(prisma, await inScope(), filtersOf(query), { take: query.limit + 1, after: decodeCursor(query.cursor) })
      const page = toPage(rows, query.limit, (r) => r.at, (r) => r)
      return { items: await toScopedJson(page.items), nextCursor: page.nextCursor }
    },

    /** Every matching event, newest first, fetched in batches by keyset so memory stays flat. */
    async *all(filters: AuditFilters): AsyncGenerator<AuditEventJson[]> {
      const where = await inScope()
      let after: { at: Date; id: string } | undefined
      for (;;) {
        const rows = await listAuditEventsInScope(prisma, where, filtersOf(filters), { take: EXPORT_BATCH, after })
        if (!rows.length) return
        yield await toScopedJson(rows)
        if (rows.length < EXPORT_BATCH) return
        const last = rows.at(-1)!
        after = { at: last.at, id: last.id }
      }
    },

    async stats(opts: { withEvents: boolean }) {
      const where = await inScope()
      const latest = (filters: AuditEventFilters) => (opts.withEvents ? listAuditEventsInScope(prisma, where, filters, { take: 10 }) : Promise.resolve([]))
      const [counts, recentSignIns, recentFailures] = await Promise.all([
        countRowsInScope(prisma, scope),
        latest({ types: SIGN_IN_TYPES, outcome: 'success' }),
        latest({ outcome: 'failure' }),
      ])
      return { ...counts, recentSignIns: await toScopedJson(recentSignIns), recentFailures: await toScopedJson(recentFailures) }
    },
  }
}

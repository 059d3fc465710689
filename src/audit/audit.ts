// The one audit writer. Every authentication event goes through `record`; a failure to write is
// logged and never breaks the user's request.
import type { Context } from 'koa'
import type { Db } from '../queries/db.ts'
import type { Logger } from '../observability/logger.ts'
import { insertAuditEvent } from '../queries/audit-events.ts'
import type { Clock } from '../security/clock.ts'

export interface AuditEventInput {
  type: string
  outcome: 'success' | 'failure'
  actor?: string | undefined
  userId?: string | undefined
  tenantId?: string | undefined
  clientId?: string | undefined
  details?: Record<string, unknown> | undefined
}

// PostgreSQL text and jsonb cannot hold U+0000. Values come from requests (a typed login, a
// client_id, a user agent): a NUL must not be a way to keep an event out of the trail, so it is
// written as U+FFFD instead.
const NUL = /\u0000/g

function storable<T>(value: T): T {
  if (typeof value === 'string') return value.replace(NUL, '\uFFFD') as T
  if (Array.isArray(value)) return value.map(storable) as T
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storable(v)])) as T
  }
  return value
}

/**
 * `observe` sees every event as it is recorded (metrics count them by type and outcome); `clock`
 * gives each event its time (this process's, in UTC).
 */
export function createAuditWriter(prisma: Db, logger: Logger, observe?: (event: AuditEventInput) => void, clock?: Clock) {
  return {
    async record(ctx: Context | undefined, event: AuditEventInput): Promise<void> {
      observe?.(event)
      try {
        const row = storable({
          type: event.type,
          outcome: event.outcome,
          actor: event.actor ?? event.userId ?? null,
          userId: event.userId ?? null,
          tenantId: event.tenantId ?? null,
          clientId: event.clientId ?? null,
          ip: ctx?.ip ?? null,
          userAgent: ctx?.get('user-agent')?.slice(0, 512) || null,
          requestId: (ctx?.state.requestId as string | undefined) ?? null,
        })
        const details = event.details === undefined ? null : JSON.stringify(storable(event.details))
        await insertAuditEvent(prisma, { at: clock?.date() ?? new Date(), ...row, details })
      } catch (err) {
        logger.error({ err, auditType: event.type }, 'audit event could not be written')
      }
    },
  }
}
export type AuditWriter = ReturnType<typeof createAuditWriter>

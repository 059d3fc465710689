// The one audit writer. Every authentication event goes through `record`; a failure to write is
// logged and never breaks the user's request.
import type { Context } from 'koa'
import type { PrismaClient } from '../store/database.ts'
import type { Logger } from '../observability/logger.ts'
import { newRowId } from '../store/row-id.ts'
import { executeSql } from '../store/raw-sql.ts'
import { Prisma } from '../generated/prisma/client.ts'

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

/** `observe` sees every event as it is recorded (metrics count them by type and outcome). */
export function createAuditWriter(prisma: PrismaClient, logger: Logger, observe?: (event: AuditEventInput) => void) {
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
        // One statement written out: every sign-in writes two events (see findActiveAccount in
        // identity/users.ts for why not Prisma's create). The time is this process's, in UTC, as
        // Prisma's @default(now()) gave it (the column's SQL default would be the database
        // session's local time).
        await executeSql(prisma, Prisma.sql`
          INSERT INTO "AuditEvent" (id, at, type, outcome, actor, "userId", "tenantId", "clientId", ip, "userAgent", "requestId", details)
          VALUES (${newRowId()}, ${new Date()}, ${row.type}, ${row.outcome}, ${row.actor}, ${row.userId}, ${row.tenantId}, ${row.clientId}, ${row.ip},
            ${row.userAgent}, ${row.requestId}, ${details}::jsonb)`)
      } catch (err) {
        logger.error({ err, auditType: event.type }, 'audit event could not be written')
      }
    },
  }
}
export type AuditWriter = ReturnType<typeof createAuditWriter>

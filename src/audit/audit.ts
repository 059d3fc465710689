// The one audit writer. Every authentication event goes through `record`; a failure to write is
// logged and never breaks the user's request.
import type { Context } from 'koa'
import type { PrismaClient } from '../store/database.ts'
import type { Logger } from '../observability/logger.ts'

export interface AuditEventInput {
  type: string
  outcome: 'success' | 'failure'
  actor?: string | undefined
  userId?: string | undefined
  tenantId?: string | undefined
  clientId?: string | undefined
  details?: Record<string, unknown> | undefined
}

/** `observe` sees every event as it is recorded (metrics count them by type and outcome). */
export function createAuditWriter(prisma: PrismaClient, logger: Logger, observe?: (event: AuditEventInput) => void) {
  return {
    async record(ctx: Context | undefined, event: AuditEventInput): Promise<void> {
      observe?.(event)
      try {
        await prisma.auditEvent.create({
          data: {
            type: event.type,
            outcome: event.outcome,
            actor: event.actor ?? event.userId ?? null,
            userId: event.userId ?? null,
            tenantId: event.tenantId ?? null,
            clientId: event.clientId ?? null,
            ip: ctx?.ip ?? null,
            userAgent: ctx?.get('user-agent')?.slice(0, 512) || null,
            requestId: (ctx?.state.requestId as string | undefined) ?? null,
            details: (event.details ?? undefined) as object | undefined,
          },
        })
      } catch (err) {
        logger.error({ err, auditType: event.type }, 'audit event could not be written')
      }
    },
  }
}
export type AuditWriter = ReturnType<typeof createAuditWriter>

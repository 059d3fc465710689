// Periodic deletion of rows nobody needs any more: audit events past AUDIT_RETENTION_DAYS (0
// keeps them forever), the grant index of grants that have expired (their tokens are gone with
// them), signed-in-browser records ended long ago (the audit trail keeps the history), and failed
// sign-in counts untouched for a day and no longer locking (src/security/lockout.ts).
import type { PrismaClient } from './database.ts'

const DAY_MS = 24 * 3600 * 1000
const ENDED_SESSIONS_KEPT_DAYS = 30

export interface RetentionSettings {
  auditRetentionDays: number
}

export async function deleteExpiredRecords(prisma: PrismaClient, settings: RetentionSettings, now: number): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {}
  if (settings.auditRetentionDays > 0) {
    deleted.auditEvents = (await prisma.auditEvent.deleteMany({ where: { at: { lt: new Date(now - settings.auditRetentionDays * DAY_MS) } } })).count
  }
  deleted.grantIndex = (await prisma.userGrant.deleteMany({ where: { expiresAt: { lt: new Date(now) } } })).count
  deleted.endedSessions = (await prisma.userSession.deleteMany({ where: { endedAt: { lt: new Date(now - ENDED_SESSIONS_KEPT_DAYS * DAY_MS) } } })).count
  deleted.signInFailures = (await prisma.signInFailure.deleteMany({
    where: { updatedAt: { lt: new Date(now - DAY_MS) }, OR: [{ lockedUntil: null }, { lockedUntil: { lt: new Date(now) } }] },
  })).count
  return deleted
}

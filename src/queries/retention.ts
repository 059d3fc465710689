// Periodic deletion of rows nobody needs any more: audit events past AUDIT_RETENTION_DAYS (0
// keeps them forever), the grant index of grants that have expired (their tokens are gone with
// them), signed-in-browser records ended long ago (the audit trail keeps the history), and failed
// sign-in counts untouched for a day and no longer locking (src/security/lockout.ts).
import type { DbOrTx } from './db.ts'
import { deleteAuditEventsBefore } from './audit-events.ts'
import { deleteStaleSignInFailures } from './sign-in-failures.ts'
import { deleteExpiredGrantIndex } from './user-grants.ts'
import { deleteSessionsEndedBefore } from './user-sessions.ts'

const DAY_MS = 24 * 3600 * 1000
const ENDED_SESSIONS_KEPT_DAYS = 30

export interface RetentionSettings {
  auditRetentionDays: number
}

export async function deleteExpiredRecords(db: DbOrTx, settings: RetentionSettings, now: number): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {}
  if (settings.auditRetentionDays > 0) deleted.auditEvents = await deleteAuditEventsBefore(db, new Date(now - settings.auditRetentionDays * DAY_MS))
  deleted.grantIndex = await deleteExpiredGrantIndex(db, new Date(now))
  deleted.endedSessions = await deleteSessionsEndedBefore(db, new Date(now - ENDED_SESSIONS_KEPT_DAYS * DAY_MS))
  deleted.signInFailures = await deleteStaleSignInFailures(db, new Date(now - DAY_MS), new Date(now))
  return deleted
}

// AuditEvent rows: the trail every authentication event writes (src/audit/audit.ts decides what).
import { sql } from 'kysely'
import { sqlOf, type Db, type DbOrTx } from './db.ts'
import { newRowId } from './row-id.ts'

export interface NewAuditEvent {
  at: Date
  type: string
  outcome: string
  actor: string | null
  userId: string | null
  tenantId: string | null
  clientId: string | null
  ip: string | null
  userAgent: string | null
  requestId: string | null
  /** JSON text, or null. */
  details: string | null
}

/**
 * Writes one event. Hand-written (Kysely): every sign-in writes two (see findUserForPasswordCheck
 * in users.ts). `at` is this process's time, as Prisma's @default(now()) gave it (the column's SQL
 * default would be the database session's local time).
 */
export async function insertAuditEvent(db: Db, event: NewAuditEvent): Promise<void> {
  const { details, ...row } = event
  await sqlOf(db).insertInto('AuditEvent').values({ id: newRowId(), ...row, details: sql<unknown>`${details}::jsonb` }).execute()
}

/** Deletes events older than `before`; how many. */
export async function deleteAuditEventsBefore(db: DbOrTx, before: Date): Promise<number> {
  return (await db.auditEvent.deleteMany({ where: { at: { lt: before } } })).count
}

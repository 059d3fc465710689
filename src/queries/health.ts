// The readiness probe's question to the database.
import { sql } from 'kysely'
import { sqlOf, type Db } from './db.ts'

/** Answers when the database does; throws when it cannot be reached. */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`SELECT 1`.execute(sqlOf(db))
}

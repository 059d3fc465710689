// Which migrations the database records as applied, read from Prisma's own `_prisma_migrations`
// table. Prisma applies them (src/store/database.ts); this only lets a start that has nothing to
// apply skip the Prisma CLI (docs/adr/0370-skip-migrate-when-current.md).
import { sql } from 'kysely'
import { openDatabase, sqlOf, type Database, type Db } from './db.ts'
import { localMigrations, migrateDatabase, type DatabaseTarget } from '../store/database.ts'

export interface AppliedMigration {
  name: string
  checksum: string
  /** false for one that failed part-way: `prisma migrate deploy` must see it (and refuses to go on) */
  finished: boolean
}

/**
 * The rows of `_prisma_migrations` that count (a failed attempt rolled back with `prisma migrate
 * resolve` does not); none on a database Prisma has never migrated.
 */
export async function appliedMigrations(db: Db): Promise<AppliedMigration[]> {
  const { rows: [table] } = await sql<{ present: boolean }>`SELECT to_regclass('_prisma_migrations') IS NOT NULL AS present`.execute(sqlOf(db))
  if (!table?.present) return []
  const { rows } = await sql<{ name: string; checksum: string; finished: boolean }>`
    SELECT migration_name AS name, checksum, finished_at IS NOT NULL AS finished
    FROM _prisma_migrations WHERE rolled_back_at IS NULL`.execute(sqlOf(db))
  return rows
}

/**
 * Opens the database with every migration applied. One that already has them all, unchanged (every
 * restart), opens once and the Prisma CLI (about 3 s, most of it its wasm schema engine starting)
 * is not run; otherwise `prisma migrate deploy` runs and decides, as it always did.
 */
export async function openMigratedDatabase(target: DatabaseTarget): Promise<Database & { migrated: boolean }> {
  const db = await openDatabase(target)
  let current = false
  try {
    current = isCurrent(await appliedMigrations(db.prisma), localMigrations())
  } finally {
    if (!current) await db.close()
  }
  if (current) return { ...db, migrated: false }
  await migrateDatabase(target)
  return { ...db, ...await openDatabase(target), migrated: true }
}

/** Every local migration applied with the same checksum, none failed, none the project lacks. */
export function isCurrent(applied: AppliedMigration[], local: Map<string, string>): boolean {
  if (applied.length !== local.size || new Set(applied.map((row) => row.name)).size !== local.size) return false
  return applied.every((row) => row.finished && local.get(row.name) === row.checksum)
}

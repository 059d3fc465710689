// Every start (server, CLI command) opens the database with its migrations applied. Prisma's
// `migrate deploy` is what applies them; a database that already records every migration in
// prisma/migrations, unchanged, opens without starting it (docs/adr/0370-skip-migrate-when-current.md).
// Anything else (empty, pending, edited after it was applied, failed) goes to Prisma as before.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { createIam, createTestDatabase, type IamInstance } from '../support/iam.ts'
import { trackTempDir } from '../support/processes.ts'
import { localMigrations, type DatabaseTarget } from '../../src/store/database.ts'
import { openMigratedDatabase } from '../../src/queries/migrations.ts'
import { sqlOf } from '../../src/queries/db.ts'

const latest = [...localMigrations().keys()].sort().at(-1)!

async function change(target: DatabaseTarget, statement: ReturnType<typeof sql>): Promise<void> {
  const db = await openMigratedDatabase(target)
  try {
    await statement.execute(sqlOf(db.prisma))
  } finally {
    await db.close()
  }
}

async function opens(target: DatabaseTarget): Promise<{ migrated: boolean; users: number }> {
  const db = await openMigratedDatabase(target)
  try {
    return { migrated: db.migrated, users: await db.prisma.user.count() }
  } finally {
    await db.close()
  }
}

const targets: Array<[string, () => Promise<DatabaseTarget>]> = [
  ['embedded', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'iam-migrate-'))
    trackTempDir(dir)
    return { dataDir: dir }
  }],
  ['postgresql', async () => ({ databaseUrl: await createTestDatabase(), dataDir: '' })],
]

describe.each(targets)('opening a database on %s', (_name, makeTarget) => {
  it('migrates an empty one, then opens it as it is while nothing is pending', async () => {
    const target = await makeTarget()
    expect(await opens(target)).toEqual({ migrated: true, users: 0 })
    expect(await opens(target)).toEqual({ migrated: false, users: 0 })
  })

  it('hands a migration edited after it was applied to Prisma', async () => {
    const target = await makeTarget()
    await change(target, sql`UPDATE _prisma_migrations SET checksum = repeat('0', 64) WHERE migration_name = ${latest}`)
    expect(await opens(target)).toEqual({ migrated: true, users: 0 })
  })

  it('does not open one with a failed migration: Prisma refuses and says which', async () => {
    const target = await makeTarget()
    await change(target, sql`UPDATE _prisma_migrations SET finished_at = NULL, logs = 'failed here' WHERE migration_name = ${latest}`)
    await expect(openMigratedDatabase(target)).rejects.toThrow(new RegExp(`database migration failed[\\s\\S]*${latest}`))
  })
})

describe('the server says whether it applied migrations', () => {
  let iam: IamInstance | undefined
  afterAll(async () => { await iam?.close() })

  it('applies them on the first start and finds them applied on the next', async () => {
    iam = await createIam('embedded', { freshDatabase: true })
    await iam.start()
    expect(iam.logs()).toContain('database: migrations applied (prisma migrate deploy)')
    await iam.stop()
    const before = iam.logs().length
    await iam.start()
    expect(iam.logs().slice(before)).toContain('database: every migration already applied')
  })
})

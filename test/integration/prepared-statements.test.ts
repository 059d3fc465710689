// The hand-written statements (Kysely, src/store/sql-dialects.ts) run on PostgreSQL as named
// prepared statements (pg's public `{ name, text }` form), unless DATABASE_PREPARED_STATEMENTS is
// off. Against a real PostgreSQL: what a connection holds (pg_prepared_statements is per
// connection, so each check runs on one connection), and that answers stay right across schema
// changes and a failed statement. Prisma's own queries are sent unnamed (docs/adr/0200-one-data-path.md).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { sql, type Kysely } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../support/iam.ts'
import { migrateDatabase } from '../../src/store/database.ts'
import { openDatabase, type Database } from '../../src/queries/db.ts'
import { sqlOf, type DB } from '../../src/queries/db.ts'
import { createUser } from '../../src/identity/users.ts'

/** The statements this connection holds prepared. */
async function preparedOn(conn: Kysely<DB>): Promise<string[]> {
  const { rows } = await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements`.execute(conn)
  return rows.map((r) => r.statement)
}

const countByEmail = (conn: Kysely<DB>, email: string) =>
  conn.selectFrom('User').select((eb) => eb.cast<number>(eb.fn.countAll(), 'integer').as('n')).where('email', '=', email)

describe('prepared statements on PostgreSQL', () => {
  let url: string
  let dataDir: string
  let on: Database
  let off: Database

  beforeAll(async () => {
    url = await createTestDatabase()
    dataDir = mkdtempSync(path.join(tmpdir(), 'iam-prepared-'))
    await migrateDatabase({ databaseUrl: url, dataDir })
    on = await openDatabase({ databaseUrl: url, dataDir })
    off = await openDatabase({ databaseUrl: url, dataDir, preparedStatements: false })
    await createUser(on.prisma, { email: 'ada@example.test', password: 'correct horse battery staple' })
  })

  afterAll(async () => {
    await on?.close()
    await off?.close()
  })

  it('by default a statement is prepared, once per connection, and answers the same each time', async () => {
    const { first, second, held, text } = await sqlOf(on.prisma).connection().execute(async (conn) => ({
      first: await countByEmail(conn, 'ada@example.test').execute(),
      second: await countByEmail(conn, 'nobody@example.test').execute(),
      held: await preparedOn(conn),
      text: countByEmail(conn, 'x').compile().sql,
    }))
    expect(first).toEqual([{ n: 1 }])
    expect(second).toEqual([{ n: 0 }])
    expect(held.filter((s) => s === text)).toHaveLength(1)
  })

  it('Prisma\'s own queries are not named: a connection holds only the hand-written statements', async () => {
    const held = await on.prisma.$transaction(async (tx) => {
      for (let i = 0; i < 2; i++) await tx.user.findUnique({ where: { email: 'ada@example.test' } })
      const rows = await tx.$queryRawUnsafe<Array<{ statement: string }>>('SELECT statement FROM pg_prepared_statements')
      return rows.map((r) => r.statement)
    })
    expect(held.some((s) => s.includes('FROM "public"."User"'))).toBe(false)
  })

  it('with DATABASE_PREPARED_STATEMENTS off nothing is prepared, and the answers are the same', async () => {
    const { answer, held } = await sqlOf(off.prisma).connection().execute(async (conn) => ({
      answer: await countByEmail(conn, 'ada@example.test').execute(),
      held: await preparedOn(conn),
    }))
    expect(answer).toEqual([{ n: 1 }])
    expect(held).toEqual([])
  })

  it('a column added while statements are prepared (a migration on a running server): reads and writes go on', async () => {
    const read = () => sqlOf(on.prisma).selectFrom('User').select(['id', 'email']).where('email', '=', 'ada@example.test').executeTakeFirst()
    for (let i = 0; i < 6; i++) expect(await read()).toMatchObject({ email: 'ada@example.test' })
    await sql`ALTER TABLE "User" ADD COLUMN "preparedStatementsProbe" text`.execute(sqlOf(off.prisma))
    try {
      for (let i = 0; i < 6; i++) expect(await read()).toMatchObject({ email: 'ada@example.test' })
      const user = await createUser(on.prisma, { email: 'grace@example.test', password: 'correct horse battery staple' })
      expect(await sqlOf(on.prisma).selectFrom('User').select('email').where('id', '=', user.id).executeTakeFirst()).toEqual({ email: 'grace@example.test' })
    } finally {
      await sql`ALTER TABLE "User" DROP COLUMN "preparedStatementsProbe"`.execute(sqlOf(off.prisma))
    }
  })

  it('a column whose type a migration changes: a statement prepared with the old type fails at most once, then answers with the new one', async () => {
    await sql`CREATE TABLE prepared_probe (v int)`.execute(sqlOf(off.prisma))
    await sql`INSERT INTO prepared_probe VALUES (1)`.execute(sqlOf(off.prisma))
    const read = async () => (await sql`SELECT v FROM prepared_probe`.execute(sqlOf(on.prisma))).rows
    for (let i = 0; i < 3; i++) expect(await read()).toEqual([{ v: 1 }])
    await sql`ALTER TABLE prepared_probe ALTER COLUMN v TYPE text`.execute(sqlOf(off.prisma))
    // PostgreSQL refuses to run a prepared statement whose result type changed; the connection
    // that met it is dropped (src/store/sql-dialects.ts), and the statement is prepared anew on the next one.
    const after: Array<{ rows?: unknown; error?: string }> = []
    for (let i = 0; i < 3; i++) {
      try {
        after.push({ rows: await read() })
      } catch (err) {
        after.push({ error: String(err) })
      }
    }
    const failures = after.filter((r) => r.error !== undefined)
    expect(failures.length).toBeLessThanOrEqual(1)
    for (const f of failures) expect(f.error).toMatch(/cached plan must not change result type/)
    expect(after.slice(1)).toEqual([{ rows: [{ v: '1' }] }, { rows: [{ v: '1' }] }])
  })

  it('a statement that fails (bad SQL, a constraint) leaves the connection working', async () => {
    await expect(sql`SELECT no_such_column FROM "User"`.execute(sqlOf(on.prisma))).rejects.toThrow(/no_such_column/)
    await expect(createUser(on.prisma, { email: 'ada@example.test', password: 'another long passphrase' })).rejects.toThrow()
    expect(await countByEmail(sqlOf(on.prisma), 'ada@example.test').execute()).toEqual([{ n: 1 }])
    expect(await on.prisma.user.count()).toBeGreaterThanOrEqual(2)
  })
})

// PostgreSQL connections keep the statements they run prepared (src/store/prepared-statements.ts),
// unless DATABASE_PREPARED_STATEMENTS is off. Against a real PostgreSQL: what each connection holds
// (pg_prepared_statements is per connection, so each check runs in one transaction), that answers
// stay right across schema changes and a failed statement, and that the cache is bounded: a text
// is prepared from its second use on, and a connection holds at most MAX_PREPARED_STATEMENTS, the
// least recently used going first.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../support/iam.ts'
import { migrateDatabase, openDatabase, type Database } from '../../src/store/database.ts'
import { MAX_PREPARED_STATEMENTS } from '../../src/store/prepared-statements.ts'
import { createUser } from '../../src/identity/users.ts'

const COUNT_BY_EMAIL = 'SELECT count(*)::int AS n FROM "User" WHERE email = $1'

/** The statements this connection holds prepared, read inside `tx` (one connection). */
async function preparedOn(tx: { $queryRawUnsafe<T>(sql: string): Promise<T> }): Promise<string[]> {
  const rows = await tx.$queryRawUnsafe<Array<{ statement: string }>>('SELECT statement FROM pg_prepared_statements')
  return rows.map((r) => r.statement)
}

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

  it('by default a statement run again is prepared, once per connection, and answers the same', async () => {
    const [first, second, held] = await on.prisma.$transaction(async (tx) => [
      await tx.$queryRawUnsafe<Array<{ n: number }>>(COUNT_BY_EMAIL, 'ada@example.test'),
      await tx.$queryRawUnsafe<Array<{ n: number }>>(COUNT_BY_EMAIL, 'nobody@example.test'),
      await preparedOn(tx),
    ] as const)
    expect(first).toEqual([{ n: 1 }])
    expect(second).toEqual([{ n: 0 }])
    expect(held.filter((s) => s === COUNT_BY_EMAIL)).toHaveLength(1)
  })

  it('Prisma\'s own queries are prepared too', async () => {
    const held = await on.prisma.$transaction(async (tx) => {
      for (let i = 0; i < 2; i++) await tx.user.findUnique({ where: { email: 'ada@example.test' } })
      return preparedOn(tx)
    })
    expect(held.some((s) => s.includes('FROM "public"."User"'))).toBe(true)
  })

  it('a statement run once is not prepared (a one-off takes no slot)', async () => {
    const once = 'SELECT count(*)::int AS n FROM "User" WHERE email <> $1'
    const [answer, held] = await on.prisma.$transaction(async (tx) => [
      await tx.$queryRawUnsafe<Array<{ n: number }>>(once, 'nobody@example.test'),
      await preparedOn(tx),
    ] as const)
    expect(answer[0]!.n).toBeGreaterThanOrEqual(1)
    expect(held).not.toContain(once)
  })

  it('with DATABASE_PREPARED_STATEMENTS off nothing is prepared, and the answers are the same', async () => {
    const [answer, held] = await off.prisma.$transaction(async (tx) => [
      await tx.$queryRawUnsafe<Array<{ n: number }>>(COUNT_BY_EMAIL, 'ada@example.test'),
      await preparedOn(tx),
    ] as const)
    expect(answer).toEqual([{ n: 1 }])
    expect(held).toEqual([])
  })

  it('a column added while statements are prepared (a migration on a running server): reads and writes go on', async () => {
    const read = () => on.prisma.user.findUnique({ where: { email: 'ada@example.test' }, select: { id: true, email: true } })
    for (let i = 0; i < 6; i++) expect(await read()).toMatchObject({ email: 'ada@example.test' })
    await off.prisma.$executeRawUnsafe('ALTER TABLE "User" ADD COLUMN "preparedStatementsProbe" text')
    try {
      for (let i = 0; i < 6; i++) expect(await read()).toMatchObject({ email: 'ada@example.test' })
      const user = await createUser(on.prisma, { email: 'grace@example.test', password: 'correct horse battery staple' })
      expect(await on.prisma.user.findUnique({ where: { id: user.id }, select: { email: true } })).toEqual({ email: 'grace@example.test' })
    } finally {
      await off.prisma.$executeRawUnsafe('ALTER TABLE "User" DROP COLUMN "preparedStatementsProbe"')
    }
  })

  it('a column whose type a migration changes: a statement prepared with the old type fails at most once, then answers with the new one', async () => {
    await off.prisma.$executeRawUnsafe('CREATE TABLE prepared_probe (v int)')
    await off.prisma.$executeRawUnsafe('INSERT INTO prepared_probe VALUES (1)')
    const read = 'SELECT v FROM prepared_probe'
    for (let i = 0; i < 3; i++) expect(await on.prisma.$queryRawUnsafe(read)).toEqual([{ v: 1 }])
    await off.prisma.$executeRawUnsafe('ALTER TABLE prepared_probe ALTER COLUMN v TYPE text')
    // PostgreSQL refuses to run a prepared statement whose result type changed; the pool drops a
    // connection whose query failed, and the statement is prepared anew on the next one.
    const after: Array<{ rows?: unknown; error?: string }> = []
    for (let i = 0; i < 3; i++) {
      try {
        after.push({ rows: await on.prisma.$queryRawUnsafe(read) })
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
    await expect(on.prisma.$queryRawUnsafe('SELECT no_such_column FROM "User"')).rejects.toThrow(/no_such_column/)
    await expect(createUser(on.prisma, { email: 'ada@example.test', password: 'another long passphrase' })).rejects.toThrow()
    expect(await on.prisma.$queryRawUnsafe(COUNT_BY_EMAIL, 'ada@example.test')).toEqual([{ n: 1 }])
    expect(await on.prisma.user.count()).toBeGreaterThanOrEqual(2)
  })

  it(`a connection holds at most ${MAX_PREPARED_STATEMENTS} statements, the least recently used going first; answers stay right`, async () => {
    const hot = 'SELECT -1::int AS v'
    const others = MAX_PREPARED_STATEMENTS + 50
    const { answers, hotAnswers, held, again, heldAfter } = await on.prisma.$transaction(async (tx) => {
      const run = async (sql: string) => (await tx.$queryRawUnsafe<Array<{ v: number }>>(sql))[0]!.v
      const answers: number[] = []
      const hotAnswers: number[] = [await run(hot), await run(hot)]
      for (let i = 0; i < others; i++) {
        await run(`SELECT ${i}::int AS v`)
        answers.push(await run(`SELECT ${i}::int AS v`))
        // The statement that runs all the time keeps its slot, though it was among the first.
        if (i % 10 === 0) hotAnswers.push(await run(hot))
      }
      const held = await preparedOn(tx)
      // An evicted statement runs again: prepared anew, same answer.
      const again = await run('SELECT 0::int AS v')
      return { answers, hotAnswers, held, again, heldAfter: await preparedOn(tx) }
    }, { timeout: 60_000 })
    expect(answers).toEqual(Array.from({ length: others }, (_, i) => i))
    expect(hotAnswers.every((v) => v === -1)).toBe(true)
    expect(held.length).toBe(MAX_PREPARED_STATEMENTS)
    expect(held).toContain(hot)
    expect(held).toContain(`SELECT ${others - 1}::int AS v`)
    expect(held).not.toContain('SELECT 0::int AS v')
    expect(again).toBe(0)
    expect(heldAfter.length).toBe(MAX_PREPARED_STATEMENTS)
    expect(heldAfter).toContain('SELECT 0::int AS v')
    expect(heldAfter).toContain(hot)
  })

  it('an eviction refused in a failed transaction leaves the statement prepared and the connection working', async () => {
    const pid = async (tx: { $queryRawUnsafe<T>(sql: string): Promise<T> }) => (await tx.$queryRawUnsafe<Array<{ pid: number }>>('SELECT pg_backend_pid() AS pid'))[0]!.pid
    let failedOn = 0
    await expect(on.prisma.$transaction(async (tx) => {
      failedOn = await pid(tx)
      for (let i = 0; i < MAX_PREPARED_STATEMENTS; i++) {
        await tx.$queryRawUnsafe(`SELECT ${i}::int AS w`)
        await tx.$queryRawUnsafe(`SELECT ${i}::int AS w`)
      }
      await tx.$queryRawUnsafe('SELECT no_such_column FROM "User"').catch(() => undefined)
      // The transaction is aborted: the second use names this statement, whose slot needs an
      // eviction, which PostgreSQL refuses now (as it refuses the statement).
      await tx.$queryRawUnsafe('SELECT 1000::int AS w').catch(() => undefined)
      await tx.$queryRawUnsafe('SELECT 1000::int AS w')
    }, { timeout: 60_000 })).rejects.toThrow(/aborted/)
    const { answers, held, usedOn } = await on.prisma.$transaction(async (tx) => {
      const usedOn = await pid(tx)
      const answers: number[] = []
      for (let i = 0; i < MAX_PREPARED_STATEMENTS + 10; i++) {
        for (let use = 0; use < 2; use++) answers.push((await tx.$queryRawUnsafe<Array<{ w: number }>>(`SELECT ${i}::int AS w`))[0]!.w)
      }
      return { answers, held: await preparedOn(tx), usedOn }
    }, { timeout: 60_000 })
    // The pool hands back the connection released last: the same one, with its refused eviction.
    expect(usedOn).toBe(failedOn)
    expect(answers).toEqual(Array.from({ length: MAX_PREPARED_STATEMENTS + 10 }, (_, i) => [i, i]).flat())
    expect(held.length).toBeLessThanOrEqual(MAX_PREPARED_STATEMENTS)
  })
})

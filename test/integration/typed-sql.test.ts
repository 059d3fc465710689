// The hand-written statements run through Kysely (src/queries/db.ts sqlOf, src/store/sql-dialects.ts)
// on PostgreSQL's pool and on the embedded database, without Prisma's query compiler. They must
// answer exactly as Prisma's $queryRaw would (the callers were written against it), on both
// databases, whatever the process's time zone; and a statement naming a column the schema does not
// have must fail the type check.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from '../support/iam.ts'
import { migrateDatabase } from '../../src/store/database.ts'
import { openDatabase, type Database } from '../../src/queries/db.ts'
import { sql } from 'kysely'
import { sqlOf } from '../../src/queries/db.ts'
import { createUser } from '../../src/identity/users.ts'
import { Prisma } from '../../src/generated/prisma/client.ts'

// Every type the hand-written statements read, and the values around them (NULL, json inside json).
const TYPES = Prisma.sql`
  SELECT 'ada'::text AS text, true AS bool, 41::int + ${1}::int AS int, 9007199254740993::bigint AS big,
    '2026-01-02 03:04:05.678'::timestamp AS at, '2026-01-02T03:04:05.678+05:30'::timestamptz AS "atZoned",
    NULL::timestamp AS "notYet", json_build_object('slug', 'default', 'count', count(*)) AS json,
    '{"b": [2, null]}'::jsonb AS jsonb, NULL::text AS nothing, ARRAY['a', 'b'] AS list
  FROM (VALUES (1), (2)) v(x)`

const restore: Array<() => void> = []

/** The process's time zone for one test: Node reads TZ anew when it changes. */
function inTimeZone(zone: string): void {
  const before = process.env.TZ
  process.env.TZ = zone
  restore.push(() => { if (before === undefined) delete process.env.TZ; else process.env.TZ = before })
}

/** The same statement through Kysely. */
const typesQuery = sql`
  SELECT 'ada'::text AS text, true AS bool, 41::int + ${1}::int AS int, 9007199254740993::bigint AS big,
    '2026-01-02 03:04:05.678'::timestamp AS at, '2026-01-02T03:04:05.678+05:30'::timestamptz AS "atZoned",
    NULL::timestamp AS "notYet", json_build_object('slug', 'default', 'count', count(*)) AS json,
    '{"b": [2, null]}'::jsonb AS jsonb, NULL::text AS nothing, ARRAY['a', 'b'] AS list
  FROM (VALUES (1), (2)) v(x)`

describe('hand-written statements (Kysely)', () => {
  let postgres: Database
  let embedded: Database

  beforeAll(async () => {
    const databaseUrl = await createTestDatabase()
    const dataDir = mkdtempSync(path.join(tmpdir(), 'iam-raw-sql-'))
    await migrateDatabase({ databaseUrl, dataDir })
    await migrateDatabase({ dataDir })
    postgres = await openDatabase({ databaseUrl, dataDir })
    embedded = await openDatabase({ dataDir })
  })

  afterEach(() => { for (const undo of restore.splice(0)) undo() })

  afterAll(async () => {
    await postgres?.close()
    await embedded?.close()
  })

  for (const zone of ['UTC', 'Pacific/Chatham', 'America/Los_Angeles']) {
    it(`read every type as Prisma's $queryRaw reads it, on both databases (TZ=${zone})`, async () => {
      inTimeZone(zone)
      const expected = [{
        text: 'ada', bool: true, int: 42, big: 9007199254740993n,
        at: new Date('2026-01-02T03:04:05.678Z'), atZoned: new Date('2026-01-01T21:34:05.678Z'), notYet: null,
        json: { slug: 'default', count: 2 }, jsonb: { b: [2, null] }, nothing: null, list: ['a', 'b'],
      }]
      expect(await postgres.prisma.$queryRaw(TYPES)).toEqual(expected)
      // Prisma on the embedded database, through its composed adapter (src/store/pglite-adapter.ts).
      expect(await embedded.prisma.$queryRaw(TYPES)).toEqual(expected)
      expect((await typesQuery.execute(sqlOf(postgres.prisma))).rows).toEqual(expected)
      expect((await typesQuery.execute(sqlOf(embedded.prisma))).rows).toEqual(expected)
    })
  }

  it('write times as UTC whatever the time zone, and say how many rows they changed', async () => {
    inTimeZone('Pacific/Chatham')
    for (const db of [postgres, embedded]) {
      const user = await createUser(db.prisma, { email: `tz-${db.kind}@example.test`, password: 'correct horse battery staple' })
      const at = new Date('2026-06-30T23:59:58.123Z')
      const set = async (id: string) => Number((await sqlOf(db.prisma).updateTable('User').set({ lastLoginAt: at }).where('id', '=', id).executeTakeFirst()).numUpdatedRows)
      expect(await set(user.id)).toBe(1)
      expect(await set('no-such-user')).toBe(0)
      // Prisma's query API reads the column as UTC: the same instant comes back.
      expect((await db.prisma.user.findUniqueOrThrow({ where: { id: user.id } })).lastLoginAt).toEqual(at)
      const [row] = await sqlOf(db.prisma).selectFrom('User').select('lastLoginAt').where('id', '=', user.id).execute()
      expect(row).toEqual({ lastLoginAt: at })
    }
  })

  it('on PostgreSQL run on the pool: a failure is PostgreSQL\'s own error (SQLSTATE), not Prisma\'s wrapper', async () => {
    const duplicate = sql`INSERT INTO "Tenant" (id, slug, name, "createdAt", "updatedAt") SELECT id || '-copy', slug, name, now(), now() FROM "Tenant" LIMIT 1`
    await createUser(postgres.prisma, { email: 'tenant-maker@example.test', password: 'correct horse battery staple' })
    await expect(duplicate.execute(sqlOf(postgres.prisma))).rejects.toMatchObject({ code: '23505', constraint: expect.stringContaining('slug') })
    // The connection that failed is not reused broken: the next statement answers.
    expect((await sql`SELECT count(*)::int AS n FROM "Tenant"`.execute(sqlOf(postgres.prisma))).rows).toEqual([{ n: 1 }])
  })

  it('Prisma on the embedded database: a duplicate is P2002, bytes are stored as bytes', async () => {
    const user = await createUser(embedded.prisma, { email: 'bytes@example.test', password: 'correct horse battery staple' })
    await expect(createUser(embedded.prisma, { email: 'bytes@example.test', password: 'correct horse battery staple' })).rejects.toMatchObject({ code: 'P2002' })
    const publicKey = Buffer.from([0, 1, 2, 250, 255])
    const factor = await embedded.prisma.mfaFactor.create({ data: { userId: user.id, kind: 'webauthn', label: 'Key', credentialId: 'cred-bytes', publicKey } })
    expect(Buffer.from((await embedded.prisma.mfaFactor.findUniqueOrThrow({ where: { id: factor.id } })).publicKey!)).toEqual(publicKey)
  })

  it('a column the schema does not have fails the type check (tsc), and the database', async () => {
    for (const db of [postgres, embedded]) {
      const wrong = () => sqlOf(db.prisma).selectFrom('User')
        // @ts-expect-error: User has no column "nickname" (prisma/schema.prisma)
        .select('nickname')
        .execute()
      await expect(wrong()).rejects.toThrow(/nickname/)
    }
  })
})

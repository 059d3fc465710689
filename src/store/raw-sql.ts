// Statements written out as SQL (Prisma.sql templates), run straight on PostgreSQL's connection
// pool. Prisma 6's client compiles every query it is given, raw ones too, in its WebAssembly query
// compiler, and wraps it in its request machinery: 190–230 µs of CPU per statement on top of the
// 45–70 µs node-postgres spends on it (docs/performance.md, session 12). A sign-in
// runs about a dozen of these statements, which is why they were written out in the first place
// (see findActiveAccount in src/identity/users.ts).
//
// The pool is the one Prisma's driver adapter uses (src/store/database.ts), with the same
// per-connection prepared statements. Answers are read as Prisma's $queryRaw reads them for the
// types these statements return: timestamps without a zone as UTC, bigint as BigInt, json as
// values (test/integration/raw-sql.test.ts compares the two). Date parameters are sent as UTC, as
// Prisma sends them, whatever the process's time zone.
//
// Any other client (the embedded database's, or one this module was not told about) runs the
// same statement through Prisma, so callers have one way to write each statement.
import pg from 'pg'
import type { Prisma, PrismaClient } from '../generated/prisma/client.ts'

const pools = new WeakMap<PrismaClient, pg.Pool>()

/** Statements given with `client` run on `pool` (the pool its driver adapter uses). */
export function runWrittenOutSqlOn(client: PrismaClient, pool: pg.Pool): void {
  pools.set(client, pool)
}

const TIMESTAMP = 1114
const INT8 = 20

/** "2026-01-02 03:04:05.678" (no zone; Prisma writes UTC) as that instant in UTC. */
function utcTimestamp(text: string): Date | string {
  // "infinity" and friends have no Date; node-postgres passes them on as text too.
  const date = new Date(`${text.replace(' ', 'T')}Z`)
  return Number.isNaN(date.getTime()) ? text : date
}

const parsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === TIMESTAMP) return utcTimestamp
    if (oid === INT8) return (text: string) => BigInt(text)
    return pg.types.getTypeParser(oid, format)
  }) as pg.CustomTypesConfig['getTypeParser'],
}

function parameter(value: unknown): unknown {
  return value instanceof Date ? value.toISOString() : value
}

function run(pool: pg.Pool, statement: Prisma.Sql): Promise<pg.QueryResult> {
  return pool.query({ text: statement.text, values: statement.values.map(parameter), types: parsers })
}

/** The rows `statement` returns. */
export async function queryRows<T>(client: PrismaClient, statement: Prisma.Sql): Promise<T[]> {
  const pool = pools.get(client)
  if (!pool) return client.$queryRaw<T[]>(statement)
  return (await run(pool, statement)).rows as T[]
}

/** How many rows `statement` changed. */
export async function executeSql(client: PrismaClient, statement: Prisma.Sql): Promise<number> {
  const pool = pools.get(client)
  if (!pool) return client.$executeRaw(statement)
  return (await run(pool, statement)).rowCount ?? 0
}

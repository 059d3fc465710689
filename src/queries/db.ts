// The handle every query function takes. Only src/queries/ reaches PostgreSQL: areas and domain
// modules hold a `Db` (or a `Tx` inside a transaction) and pass it to named functions here; they
// never call the Prisma client or run SQL themselves.
//
// Two tools, one per job (docs/adr/0200-one-data-path.md): Prisma's client for CRUD, and Kysely,
// typed from prisma/schema.prisma, for the statements written out by hand where a hot path pays
// for it. Kysely runs on the same connections as Prisma (the pg.Pool, or the embedded PGlite).
import { Kysely, type Compilable } from 'kysely'
import { PrismaClient, type Prisma } from '../generated/prisma/client.ts'
import type { DB } from '../generated/kysely/database.ts'
import { openConnections, type DatabaseTarget } from '../store/database.ts'
import { compileOnlyDialect } from '../store/sql-dialects.ts'

export type { DB } from '../generated/kysely/database.ts'

/** The database: the Prisma client (CRUD) with its typed hand-written SQL attached (sqlOf). */
export type Db = PrismaClient
/** The same inside a transaction. */
export type Tx = Prisma.TransactionClient
/** Either: a query function that may run inside a caller's transaction takes this. */
export type DbOrTx = Db | Tx

export interface Database {
  prisma: Db
  kind: 'postgres' | 'embedded'
  close(): Promise<void>
}

const typedSql = new WeakMap<Db, Kysely<DB>>()

/**
 * Opens the database `target` names (src/store/database.ts): Prisma's client and Kysely on the
 * same connections, Kysely reachable from the client through sqlOf.
 */
export async function openDatabase(target: DatabaseTarget): Promise<Database> {
  const connections = await openConnections(target)
  try {
    const prisma = new PrismaClient({ adapter: connections.adapter })
    typedSql.set(prisma, new Kysely<DB>({ dialect: connections.dialect }))
    // The pool connects now, so a wrong DATABASE_URL fails the start, not the first request.
    if (connections.kind === 'postgres') await prisma.$connect()
    return {
      prisma,
      kind: connections.kind,
      async close() { await prisma.$disconnect(); await connections.release() },
    }
  } catch (err) {
    await connections.release()
    throw err
  }
}

export interface TransactionOptions {
  maxWait?: number | undefined
  timeout?: number | undefined
  isolationLevel?: Prisma.TransactionIsolationLevel | undefined
}

/** Runs `fn` in one transaction: every query function given `tx` runs in it; it rolls back if `fn` throws. */
export function inTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T> {
  return db.$transaction(fn, options)
}

/** The Kysely instance on `db`'s connections, for the hand-written statements of src/queries. */
export function sqlOf(db: Db): Kysely<DB> {
  const sql = typedSql.get(db)
  if (!sql) throw new Error('the database was not opened with openDatabase')
  return sql
}

const compileOnly = new Kysely<DB>({ dialect: compileOnlyDialect() })

/**
 * The rows of a hand-written statement run inside a Prisma transaction. A transaction holds one
 * connection (on the embedded database, the only session: a statement sent beside it would wait
 * for it to end), so the statement Kysely compiles is run through the transaction itself.
 */
export async function rowsInTransaction<R>(tx: Tx, build: (sql: Kysely<DB>) => Compilable<R>): Promise<R[]> {
  const { sql, parameters } = build(compileOnly).compile()
  return tx.$queryRawUnsafe<R[]>(sql, ...parameters)
}

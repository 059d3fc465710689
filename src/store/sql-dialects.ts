// Where Kysely's statements run (docs/adr/0200-one-data-path.md): PostgreSQL's pg.Pool, the one
// Prisma's driver adapter uses, or the embedded PGlite instance Prisma's adapter uses. Both drivers
// are written on Kysely's public Dialect/Driver interfaces (kysely-pglite-dialect supports PGlite
// up to 0.4; ours is 0.5) and read answers alike:
//   - timestamps without a zone (every DateTime column: Prisma writes UTC) as that instant in UTC,
//     whatever the process's time zone; bigint as BigInt; json as values;
//   - Date parameters are sent as UTC (ISO 8601), as Prisma sends them.
// On PostgreSQL each statement text is a named prepared statement (pg's public `{ name, text }`
// form), planned once per connection: the statements come from the query builder, a finite set,
// so a connection holds a bounded number of them. `preparedStatements: false` names none.
import { createHash } from 'node:crypto'
import type { PGlite } from '@electric-sql/pglite'
import {
  CompiledQuery, DummyDriver, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler,
  type DatabaseConnection, type Dialect, type Driver, type Kysely, type QueryResult, type TransactionSettings,
} from 'kysely'
import pg from 'pg'

const TIMESTAMP = 1114
const INT8 = 20
/** SQLSTATE of "cached plan must not change result type": a prepared statement met a schema change. */
const CACHED_PLAN_CHANGED = '0A000'

/** "2026-01-02 03:04:05.678" (no zone; Prisma writes UTC) as that instant in UTC. */
function utcTimestamp(text: string): Date | string {
  // "infinity" and friends have no Date; they stay text.
  const date = new Date(`${text.replace(' ', 'T')}Z`)
  return Number.isNaN(date.getTime()) ? text : date
}

function parameters(values: readonly unknown[]): unknown[] {
  return values.map((value) => (value instanceof Date ? value.toISOString() : value))
}

/** The column types both drivers read differently from their defaults (text form in, value out). */
const PARSERS: Record<number, (text: string) => unknown> = { [TIMESTAMP]: utcTimestamp, [INT8]: (text) => BigInt(text) }

const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => PARSERS[oid] ?? pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
}

/**
 * Statement names by text, process-wide (one text, one name in every connection). A cap, not a
 * cache: the builder's statements are far fewer; a text past it simply runs unnamed.
 */
const MAX_NAMED_STATEMENTS = 500
const names = new Map<string, string>()

function nameFor(text: string): string | undefined {
  const known = names.get(text)
  if (known !== undefined || names.size >= MAX_NAMED_STATEMENTS) return known
  const name = `k_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`
  names.set(text, name)
  return name
}

function affected(command: string | undefined, count: number | null | undefined): bigint | undefined {
  return command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE' ? BigInt(count ?? 0) : undefined
}

class PoolConnection implements DatabaseConnection {
  /** A named statement met a schema change: the connection goes, its statements with it. */
  broken = false
  readonly client: pg.PoolClient
  readonly #named: boolean
  constructor(client: pg.PoolClient, named: boolean) {
    this.client = client
    this.#named = named
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const name = this.#named ? nameFor(compiled.sql) : undefined
    try {
      const result = await this.client.query({ ...(name ? { name } : {}), text: compiled.sql, values: parameters(compiled.parameters), types: pgTypes })
      return { rows: result.rows as R[], numAffectedRows: affected(result.command, result.rowCount) }
    } catch (err) {
      if (name && (err as { code?: unknown }).code === CACHED_PLAN_CHANGED) this.broken = true
      throw err
    }
  }

  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not used')
  }
}

class PoolDriver implements Driver {
  readonly #pool: pg.Pool
  readonly #named: boolean
  constructor(pool: pg.Pool, named: boolean) {
    this.#pool = pool
    this.#named = named
  }
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return new PoolConnection(await this.#pool.connect(), this.#named)
  }
  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(settings.isolationLevel ? `start transaction isolation level ${settings.isolationLevel}` : 'begin'))
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'))
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'))
  }
  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const { client, broken } = connection as PoolConnection
    client.release(broken)
  }
  /** The pool is Prisma's: its driver adapter ends it on $disconnect. */
  async destroy(): Promise<void> {}
}

class PGliteConnection implements DatabaseConnection {
  readonly #pglite: PGlite
  constructor(pglite: PGlite) { this.#pglite = pglite }
  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#pglite.query<R>(compiled.sql, parameters(compiled.parameters), { parsers: PARSERS })
    return { rows: result.rows, numAffectedRows: result.affectedRows === undefined ? undefined : BigInt(result.affectedRows) }
  }

  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not used')
  }
}

/**
 * PGlite is one session: its `query` waits for a transaction under way (Prisma's, say) to end.
 * Statements run one by one on it; a Kysely transaction would interleave with other callers', so
 * there is none here (transactions are Prisma's: src/queries/db.ts, inTransaction).
 */
class PGliteDriver implements Driver {
  readonly #connection: PGliteConnection
  constructor(pglite: PGlite) { this.#connection = new PGliteConnection(pglite) }
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> { return this.#connection }
  async beginTransaction(): Promise<void> { throw new Error('transactions on the embedded database are Prisma\'s (inTransaction)') }
  async commitTransaction(): Promise<void> {}
  async rollbackTransaction(): Promise<void> {}
  async releaseConnection(): Promise<void> {}
  /** PGlite is closed with the database (src/store/database.ts). */
  async destroy(): Promise<void> {}
}

function postgresDialect(createDriver: () => Driver): Dialect {
  return {
    createAdapter: () => new PostgresAdapter(),
    createDriver,
    createIntrospector: (db: Kysely<unknown>) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  }
}

/** Kysely on PostgreSQL through `pool`; `preparedStatements: false` sends every statement unnamed. */
export function poolDialect(pool: pg.Pool, options: { preparedStatements: boolean }): Dialect {
  return postgresDialect(() => new PoolDriver(pool, options.preparedStatements))
}

/** Kysely on the embedded database. */
export function pgliteDialect(pglite: PGlite): Dialect {
  return postgresDialect(() => new PGliteDriver(pglite))
}

/** A dialect that only compiles (statements that run in a Prisma transaction: src/queries/db.ts). */
export function compileOnlyDialect(): Dialect {
  return postgresDialect(() => new DummyDriver())
}

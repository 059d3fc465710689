// Prisma's driver adapter for the embedded database: pglite-prisma-adapter 0.6.1, wrapped (its
// public SqlDriverAdapterFactory interface, delegated to) to fill three gaps the way
// @prisma/adapter-pg fills them (docs/adr/0200-one-data-path.md):
// - Postgres errors reach Prisma as the bare kind 'postgres', so a duplicate email would surface
//   as a DriverAdapterError instead of P2002: they are mapped to Prisma's error kinds;
// - Bytes arguments reach PGlite as Prisma's base64 strings, which bytea refuses: they are sent
//   as bytes;
// - timestamps come back without a zone ("2026-01-02 03:04:05.678"), which Prisma's query API
//   reads as UTC but its raw queries read as the process's local time: they are given the zone as
//   adapter-pg gives it ("2026-01-02T03:04:05.678+00:00"). (Scalars only: no column of ours is a
//   timestamp array.)
import type { PGlite } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import {
  ColumnTypeEnum, DriverAdapterError,
  type SqlDriverAdapter, type SqlDriverAdapterFactory, type SqlQuery, type SqlQueryable, type SqlResultSet, type Transaction,
} from '@prisma/driver-adapter-utils'

/** What pglite-prisma-adapter reports for an error PostgreSQL raised (its kind 'postgres'). */
interface PostgresFailure { kind: 'postgres'; code: string; severity: string; message: string; detail?: string | undefined; column?: string | undefined; hint?: string | undefined }

function postgresFailureOf(err: unknown): PostgresFailure | undefined {
  if (!(err instanceof Error) || err.name !== 'DriverAdapterError') return undefined
  const cause = (err as { cause?: { kind?: unknown } }).cause
  return cause?.kind === 'postgres' ? cause as PostgresFailure : undefined
}

/** The error kind adapter-pg gives for a SQLSTATE (its fields from the detail, as it reads them). */
function toAdapterKind(e: PostgresFailure): Record<string, unknown> {
  const fields = e.detail?.match(/Key \(([^)]+)\)/)?.at(1)?.split(', ')
  const constraint = e.message.match(/constraint "([^"]+)"/)?.at(1)
  switch (e.code) {
    case '23505': return { kind: 'UniqueConstraintViolation', constraint: fields ? { fields } : undefined }
    case '23502': return { kind: 'NullConstraintViolation', constraint: fields ? { fields } : undefined }
    case '23503': return { kind: 'ForeignKeyConstraintViolation', constraint: e.column ? { fields: [e.column] } : constraint ? { index: constraint } : undefined }
    case '22001': return { kind: 'LengthMismatch', column: e.column }
    case '22003': return { kind: 'ValueOutOfRange', cause: e.message }
    case '40001': return { kind: 'TransactionWriteConflict' }
    default: return { ...e }
  }
}

async function mappingErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (err) {
    const failure = postgresFailureOf(err)
    if (failure) throw new DriverAdapterError({ originalCode: failure.code, originalMessage: failure.message, ...toAdapterKind(failure) } as never)
    throw err
  }
}

function withBytes(query: SqlQuery): SqlQuery {
  const args = query.args.map((arg, i) => (typeof arg === 'string' && query.argTypes[i]?.scalarType === 'bytes' ? Buffer.from(arg, 'base64') : arg))
  return { ...query, args }
}

/** Timestamps as adapter-pg gives them: ISO 8601 in UTC (Prisma stores and PGlite answers UTC). */
function withUtcTimestamps(results: SqlResultSet): SqlResultSet {
  const columns = results.columnTypes.flatMap((type, i) => (type === ColumnTypeEnum.DateTime ? [i] : []))
  if (!columns.length) return results
  for (const row of results.rows) {
    for (const i of columns) {
      const value = row[i]
      if (typeof value === 'string') row[i] = `${value.replace(' ', 'T').replace(/[+-]\d{2}(:\d{2})?$/, '')}+00:00`
    }
  }
  return results
}

function filled<Q extends SqlQueryable>(inner: Q): Pick<SqlQueryable, 'provider' | 'adapterName' | 'queryRaw' | 'executeRaw'> {
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    queryRaw: (query) => mappingErrors(async () => withUtcTimestamps(await inner.queryRaw(withBytes(query)))),
    executeRaw: (query) => mappingErrors(() => inner.executeRaw(withBytes(query))),
  }
}

function filledTransaction(inner: Transaction): Transaction {
  return {
    ...filled(inner),
    options: inner.options,
    commit: () => mappingErrors(() => inner.commit()),
    rollback: () => mappingErrors(() => inner.rollback()),
  }
}

function filledAdapter(inner: SqlDriverAdapter): SqlDriverAdapter {
  return {
    ...filled(inner),
    executeScript: (script) => mappingErrors(() => inner.executeScript(script)),
    startTransaction: async (isolationLevel) => filledTransaction(await mappingErrors(() => inner.startTransaction(isolationLevel))),
    ...(inner.getConnectionInfo ? { getConnectionInfo: () => inner.getConnectionInfo!() } : {}),
    dispose: () => inner.dispose(),
  }
}

/** Prisma's adapter for `pglite`, with the gaps above filled. */
export function pgliteAdapter(pglite: PGlite): SqlDriverAdapterFactory {
  // pglite-prisma-adapter carries its own copy of the driver-adapter types (same shape).
  const factory = new PrismaPGlite(pglite) as unknown as SqlDriverAdapterFactory
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => filledAdapter(await factory.connect()),
  }
}

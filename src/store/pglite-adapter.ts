// Two gaps of pglite-prisma-adapter 0.6.1, filled the way @prisma/adapter-pg does it, once per
// process on the adapter's shared prototype:
// - Postgres errors are not mapped to Prisma's driver-adapter error kinds, so a duplicate email
//   would surface as a bare DriverAdapterError instead of P2002;
// - Bytes arguments reach PGlite as Prisma's base64 strings, which bytea refuses;
// - timestamps come back without a zone ("2026-01-02 03:04:05.678"), which Prisma's query API
//   reads as UTC but its raw queries ($queryRaw) read as the process's local time: a server whose
//   TZ is not UTC would see every raw-read time shifted. They are given the zone as adapter-pg
//   gives it ("2026-01-02T03:04:05.678+00:00"). (Scalars only: no column of ours is a
//   timestamp array.)
import { PGlite, messages } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { DriverAdapterError } from '@prisma/driver-adapter-utils'

interface Query { sql: string; args: unknown[]; argTypes?: Array<{ scalarType?: string } | undefined> }
interface Results { rows: unknown[][]; fields: Array<{ dataTypeID: number }> }

const TIMESTAMP = 1114
const TIMESTAMPTZ = 1184

/** Timestamps as adapter-pg gives them: ISO 8601 in UTC (Prisma stores and PGlite answers UTC). */
function withUtcTimestamps(results: Results | undefined): Results | undefined {
  const columns = results?.fields.flatMap((f, i) => (f.dataTypeID === TIMESTAMP || f.dataTypeID === TIMESTAMPTZ ? [i] : [])) ?? []
  if (!results || !columns.length) return results
  for (const row of results.rows) {
    for (const i of columns) {
      const value = row[i]
      if (typeof value === 'string') row[i] = `${value.replace(' ', 'T').replace(/[+-]\d{2}(:\d{2})?$/, '')}+00:00`
    }
  }
  return results
}
interface PgError { code?: string; message: string; detail?: string; column?: string; constraint?: string; severity?: string; hint?: string }

function toAdapterKind(e: PgError): Record<string, unknown> {
  const fields = e.detail?.match(/Key \(([^)]+)\)/)?.at(1)?.split(', ')
  switch (e.code) {
    case '23505': return { kind: 'UniqueConstraintViolation', constraint: fields ? { fields } : undefined }
    case '23502': return { kind: 'NullConstraintViolation', constraint: fields ? { fields } : undefined }
    case '23503': return { kind: 'ForeignKeyConstraintViolation', constraint: e.column ? { fields: [e.column] } : e.constraint ? { index: e.constraint } : undefined }
    case '22001': return { kind: 'LengthMismatch', column: e.column }
    case '22003': return { kind: 'ValueOutOfRange', cause: e.message }
    case '40001': return { kind: 'TransactionWriteConflict' }
    default: return { kind: 'postgres', code: e.code ?? 'UNKNOWN', severity: e.severity ?? 'UNKNOWN', message: e.message, detail: e.detail, column: e.column, hint: e.hint }
  }
}

let patched = false
export async function pgliteAdapter(db: PGlite): Promise<PrismaPGlite> {
  const factory = new PrismaPGlite(db)
  if (!patched) {
    const queryable = Object.getPrototypeOf(Object.getPrototypeOf(await factory.connect()))
    const performIO = queryable.performIO as (query: Query) => Promise<Results | undefined>
    queryable.performIO = async function performIOFilled(this: unknown, query: Query) {
      const args = query.args.map((arg, i) => typeof arg === 'string' && query.argTypes?.[i]?.scalarType === 'bytes' ? Buffer.from(arg, 'base64') : arg)
      return withUtcTimestamps(await performIO.call(this, { ...query, args }))
    }
    queryable.onError = function onError(e: unknown) {
      if (e instanceof messages.DatabaseError) {
        throw new DriverAdapterError({ originalCode: e.code, originalMessage: e.message, ...toAdapterKind(e) } as never)
      }
      throw e
    }
    patched = true
  }
  return factory
}

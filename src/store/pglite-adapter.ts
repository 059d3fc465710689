// Two gaps of pglite-prisma-adapter 0.6.1, filled the way @prisma/adapter-pg does it, once per
// process on the adapter's shared prototype:
// - Postgres errors are not mapped to Prisma's driver-adapter error kinds, so a duplicate email
//   would surface as a bare DriverAdapterError instead of P2002;
// - Bytes arguments reach PGlite as Prisma's base64 strings, which bytea refuses.
import { PGlite, messages } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { DriverAdapterError } from '@prisma/driver-adapter-utils'

interface Query { sql: string; args: unknown[]; argTypes?: Array<{ scalarType?: string } | undefined> }
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
    const performIO = queryable.performIO as (query: Query) => Promise<unknown>
    queryable.performIO = function performIOWithBytes(this: unknown, query: Query) {
      const args = query.args.map((arg, i) => typeof arg === 'string' && query.argTypes?.[i]?.scalarType === 'bytes' ? Buffer.from(arg, 'base64') : arg)
      return performIO.call(this, { ...query, args })
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

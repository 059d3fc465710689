// Cursor pagination: newest first by a timestamp with the id as tie-breaker (keyset, so pages
// stay stable while rows are added). The cursor is opaque to clients: base64url JSON of the
// last row's key.
import { z } from 'zod'
import { problems } from './problem.ts'

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(100).default(25).describe('Page size, 1 to 100'),
  cursor: z.string().max(512).optional().describe('nextCursor of the previous page'),
}

export interface Page<T> { items: T[]; nextCursor: string | null }

interface Key { at: string; id: string }
const keySchema = z.object({ at: z.iso.datetime(), id: z.string().min(1).max(256) })

export function decodeCursor(cursor: string | undefined): { at: Date; id: string } | undefined {
  if (cursor === undefined) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    parsed = undefined
  }
  const key = keySchema.safeParse(parsed)
  if (!key.success) throw problems.validation('the cursor is not one this API gave out', [{ path: 'cursor', message: 'invalid cursor' }])
  return { at: new Date(key.data.at), id: key.data.id }
}

function encodeCursor(key: Key): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

/** The where-clause for "after the cursor" in (field desc, id desc) order. */
export function afterCursor(field: string, cursor: { at: Date; id: string } | undefined): Record<string, unknown> {
  if (!cursor) return {}
  return { OR: [{ [field]: { lt: cursor.at } }, { [field]: cursor.at, id: { lt: cursor.id } }] }
}

export function descending(field: string) {
  return [{ [field]: 'desc' as const }, { id: 'desc' as const }]
}

/** Rows were fetched with take: limit + 1; the extra one says whether there is a next page. */
export function toPage<R extends { id: string }, T>(rows: R[], limit: number, at: (row: R) => Date, map: (row: R) => T): Page<T> {
  const more = rows.length > limit
  const items = more ? rows.slice(0, limit) : rows
  const last = items.at(-1)
  return { items: items.map(map), nextCursor: more && last ? encodeCursor({ at: at(last).toISOString(), id: last.id }) : null }
}

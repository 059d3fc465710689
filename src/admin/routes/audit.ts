// The audit log: query with cursor pagination, and export streamed as CSV or a JSON array.
import { Readable } from 'node:stream'
import { route } from '../route.ts'
import { auditEventJson, auditExportQuery, auditQuery, pageOf } from '../schemas.ts'
import { csvRow } from '../csv.ts'
import type { AuditEventJson } from '../data/audit.ts'

const COLUMNS = ['id', 'at', 'type', 'outcome', 'actor', 'userId', 'tenantId', 'clientId', 'ip', 'userAgent', 'requestId', 'details'] as const satisfies ReadonlyArray<keyof AuditEventJson>

async function* csv(batches: AsyncGenerator<AuditEventJson[]>) {
  yield csvRow([...COLUMNS])
  for await (const batch of batches) yield batch.map((e) => csvRow(COLUMNS.map((c) => e[c]))).join('')
}

async function* json(batches: AsyncGenerator<AuditEventJson[]>) {
  yield '['
  let first = true
  for await (const batch of batches) {
    for (const event of batch) {
      yield `${first ? '' : ','}\n${JSON.stringify(event)}`
      first = false
    }
  }
  yield '\n]\n'
}

export const auditRoutes = [
  route({
    method: 'get', path: '/audit', tag: 'audit', summary: 'Query the audit log, newest first', permission: 'audit:read',
    query: auditQuery, response: pageOf(auditEventJson),
    handler: ({ data, query }) => data.audit.list(query),
  }),
  route({
    method: 'get', path: '/audit/export', tag: 'audit', summary: 'Export the audit log (streamed; same filters)', permission: 'audit:read',
    query: auditExportQuery, produces: ['text/csv', 'application/json'],
    async handler({ ctx, data, query }) {
      const { format, ...filters } = query
      const stamp = new Date().toISOString().replace(/[:.]/g, '-')
      ctx.set('Content-Disposition', `attachment; filename="audit-${stamp}.${format}"`)
      ctx.set('Cache-Control', 'no-store')
      ctx.type = format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8'
      // Batches are read from the database as the client reads the response (keyset cursor),
      // so an export of any size holds one batch in memory.
      const batches = data.audit.all(filters)
      ctx.body = Readable.from(format === 'csv' ? csv(batches) : json(batches))
      return ctx.body
    },
  }),
]

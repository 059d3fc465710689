// Tenant scope: which rows an administrator may see. Every admin query (admin-*.ts) is built
// from one of these filters, so a tenant administrator's view of another tenant's row is exactly
// that of a missing row (404, not counted, not listed). Combine them with AND, never by spreading
// into a where object: `{ id, ...tenantWhere }` would let the scope's `id` replace the asked one.
// See docs/adr/0240-admin-scope-in-queries.md.
import type { Prisma } from '../generated/prisma/client.ts'

export type TenantScope = { kind: 'global' } | { kind: 'tenant'; tenantId: string }

export const GLOBAL: TenantScope = { kind: 'global' }

export function userWhere(scope: TenantScope): Prisma.UserWhereInput {
  return scope.kind === 'global' ? {} : { tenantId: scope.tenantId }
}

/** Roles one may read: the tenant's own and the global ones (read-only to tenant administrators). */
export function roleReadWhere(scope: TenantScope): Prisma.RoleWhereInput {
  return scope.kind === 'global' ? {} : { OR: [{ tenantId: scope.tenantId }, { tenantId: null }] }
}

/** Roles one may change or delete. */
export function roleWriteWhere(scope: TenantScope): Prisma.RoleWhereInput {
  return scope.kind === 'global' ? {} : { tenantId: scope.tenantId }
}

export function clientWhere(scope: TenantScope): Prisma.ClientWhereInput {
  return scope.kind === 'global' ? {} : { tenantId: scope.tenantId }
}

export function tenantWhere(scope: TenantScope): Prisma.TenantWhereInput {
  return scope.kind === 'global' ? {} : { id: scope.tenantId }
}

export function sessionWhere(scope: TenantScope): Prisma.UserSessionWhereInput {
  return scope.kind === 'global' ? {} : { user: { tenantId: scope.tenantId } }
}

/**
 * The tenant a new row of a tenant administrator belongs to: their own, whatever was asked. A
 * different tenant is refused rather than silently replaced, so the caller learns it.
 */
export function tenantForNewRow(scope: TenantScope, requested: string | null | undefined): { ok: true; tenantId: string | null | undefined } | { ok: false } {
  if (scope.kind === 'global') return { ok: true, tenantId: requested }
  if (requested !== undefined && requested !== scope.tenantId) return { ok: false }
  return { ok: true, tenantId: scope.tenantId }
}

/**
 * One page of a keyset (cursor) listing, newest first by a timestamp with the id as tie-breaker,
 * so pages stay stable while rows are added: `take` rows after the last row of the previous page.
 */
export interface Keyset { take: number; after?: { at: Date; id: string } | undefined }

/** The where-clause for "after the cursor" in (field desc, id desc) order. */
export function afterKey(field: string, after: Keyset['after']): Record<string, unknown> {
  if (!after) return {}
  return { OR: [{ [field]: { lt: after.at } }, { [field]: after.at, id: { lt: after.id } }] }
}

export function newestFirst(field: string) {
  return [{ [field]: 'desc' as const }, { id: 'desc' as const }]
}

// Initial access tokens for dynamic client registration (their policy, uses and revocation), and
// the Client rows the RFC 7591/7592 endpoints write. The token values live in oidc-provider's
// store; these rows are keyed by a hash of the token's jti.
import type { DbOrTx, Db } from './db.ts'
import { inTransaction } from './db.ts'
import type { TenantScope } from './admin-scope.ts'
import type { Prisma } from '../generated/prisma/client.ts'

export type { RegistrationToken } from '../generated/prisma/client.ts'

export interface NewRegistrationTokenRow {
  id: string
  tenantId: string | null
  description: string
  allowedRedirectHosts: string[]
  allowedGrantTypes: string[]
  clientType: string
  expiresAt: Date
  maxUses: number
  createdBy: string
}

export function insertRegistrationToken(db: DbOrTx, row: NewRegistrationTokenRow) {
  return db.registrationToken.create({ data: row })
}

function tokenWhere(scope: TenantScope): Prisma.RegistrationTokenWhereInput {
  return scope.kind === 'global' ? {} : { tenantId: scope.tenantId }
}

/** Newest first, within the scope: a tenant administrator sees only their tenant's tokens. */
export function listRegistrationTokensInScope(db: DbOrTx, scope: TenantScope, page: { take: number; after?: { at: Date; id: string } | undefined }) {
  const after = page.after ? { OR: [{ createdAt: { lt: page.after.at } }, { createdAt: page.after.at, id: { lt: page.after.id } }] } : {}
  return db.registrationToken.findMany({
    where: { AND: [tokenWhere(scope), after] },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: page.take,
  })
}

export function findRegistrationTokenInScope(db: DbOrTx, scope: TenantScope, id: string) {
  return db.registrationToken.findFirst({ where: { AND: [{ id }, tokenWhere(scope)] } })
}

export function findRegistrationToken(db: DbOrTx, id: string) {
  return db.registrationToken.findUnique({ where: { id } })
}

/** The token a dynamically registered client was registered with. */
export function findRegistrationTokenOfClient(db: DbOrTx, clientId: string) {
  return db.registrationToken.findFirst({ where: { clientIds: { has: clientId } } })
}

/** Revokes the token at `at` (a revoked token stays revoked: the first moment is kept). */
export async function revokeRegistrationToken(db: DbOrTx, id: string, at: Date): Promise<void> {
  await db.registrationToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } })
}

export interface DynamicClientRow {
  id: string
  name: string
  metadata: object
  secretHash: string | null
  tenantId: string | null
}

/**
 * Stores a client registered at the RFC 7591 endpoint and spends one use of the token it was
 * registered with, in one transaction: the use is counted only with the client stored, and a
 * token spent, revoked or expired meanwhile (another registration, an administrator) stores
 * nothing. Returns false in that case.
 */
export async function insertDynamicClientSpendingToken(db: Db, tokenId: string, now: Date, row: DynamicClientRow): Promise<boolean> {
  return inTransaction(db, async (tx) => {
    const spent = await tx.$executeRaw`
      UPDATE "RegistrationToken"
         SET "uses" = "uses" + 1, "clientIds" = array_append("clientIds", ${row.id})
       WHERE "id" = ${tokenId} AND "uses" < "maxUses" AND "revokedAt" IS NULL AND "expiresAt" > ${now}`
    if (spent !== 1) return false
    await tx.client.create({ data: { ...row, registeredBy: 'dynamic', firstParty: false } })
    return true
  })
}

/** Replaces a dynamically registered client's metadata (RFC 7592 update); never touches another client. */
export async function updateDynamicClient(db: DbOrTx, id: string, data: { name: string; metadata: object; secretHash: string | null }): Promise<boolean> {
  const { count } = await db.client.updateMany({ where: { id, registeredBy: 'dynamic' }, data })
  return count === 1
}

/** Deletes a dynamically registered client (RFC 7592 delete); never another client. */
export async function deleteDynamicClient(db: DbOrTx, id: string): Promise<boolean> {
  const { count } = await db.client.deleteMany({ where: { id, registeredBy: 'dynamic' } })
  return count === 1
}

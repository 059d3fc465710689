// Single-use links sent by email (AccountToken rows): only the keyed digest of a token is stored.
// The rules (purposes, lifetimes, what a check answers) are src/identity/account-links.ts.
import type { DbOrTx, Db } from './db.ts'

export type { AccountToken } from '../generated/prisma/client.ts'

/**
 * Stores a new link, deleting on the way the rows that expired before `pruneBefore` (the expiry
 * index makes that cheap). One transaction: the new row is never written without the pruning.
 */
export async function insertAccountTokenPruningOld(
  db: Db,
  data: { purpose: string; digest: string; userId: string | null; tenantId: string | null; email: string; expiresAt: Date; createdAt: Date },
  pruneBefore: Date,
): Promise<{ id: string }> {
  const [, created] = await db.$transaction([
    db.accountToken.deleteMany({ where: { expiresAt: { lt: pruneBefore } } }),
    db.accountToken.create({ data, select: { id: true } }),
  ])
  return created
}

/** The link of this purpose whose digest is one of `digests` (the current key's and older keys'). */
export function findAccountTokenByDigest(db: DbOrTx, purpose: string, digests: string[]) {
  return db.accountToken.findFirst({ where: { purpose, digest: { in: digests } } })
}

/** Marks the link used if it is unused and unexpired at `now`: true when this call used it. */
export async function useAccountToken(db: DbOrTx, id: string, now: Date): Promise<boolean> {
  const { count } = await db.accountToken.updateMany({ where: { id, usedAt: null, expiresAt: { gt: now } }, data: { usedAt: now } })
  return count === 1
}

/**
 * Deletes the unused links of a purpose of one owner (a person, or an address without an account:
 * `userId: null`), except `exceptId` when given.
 */
export async function deleteUnusedAccountTokens(
  db: DbOrTx,
  input: { owner: { userId: string } | { email: string; userId: null }; purpose: string; exceptId?: string | undefined },
): Promise<void> {
  await db.accountToken.deleteMany({
    where: { ...input.owner, purpose: input.purpose, usedAt: null, ...(input.exceptId ? { id: { not: input.exceptId } } : {}) },
  })
}

export async function deleteAccountToken(db: DbOrTx, id: string): Promise<void> {
  await db.accountToken.deleteMany({ where: { id } })
}

/** When the newest link of this purpose was issued to the person. */
export async function findLatestAccountTokenIssuedAt(db: DbOrTx, userId: string, purpose: string): Promise<Date | undefined> {
  const last = await db.accountToken.findFirst({ where: { userId, purpose }, orderBy: { createdAt: 'desc' }, select: { createdAt: true } })
  return last?.createdAt
}

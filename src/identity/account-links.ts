// Single-use links sent by email (verify an address, reset a password, accept an invitation).
// The token is 32 random bytes; only its keyed digest (bound to the purpose) is stored, so a
// database reader cannot use a pending link, and a token of one purpose is worthless for another.
// Redemption is one conditional update (unused and unexpired), so two concurrent uses of one
// link cannot both succeed.
import type { Db } from '../queries/db.ts'
import { deleteAccountToken, deleteUnusedAccountTokens, findAccountTokenByDigest, findLatestAccountTokenIssuedAt, insertAccountTokenPruningOld, useAccountToken } from '../queries/account-tokens.ts'
import type { SecretBox } from '../security/encryption.ts'
import type { Clock } from '../security/clock.ts'
import { randomSecret } from '../security/secrets.ts'

export type LinkPurpose = 'verify_email' | 'reset_password' | 'invite'

export interface LinkStore { prisma: Db; box: SecretBox; clock: Clock }

/** What a redeemed (or inspected) link is about. */
export interface LinkRecord { id: string; purpose: LinkPurpose; userId: string | null; tenantId: string | null; email: string; expiresAt: Date }

export type LinkCheck =
  | { ok: true; link: LinkRecord }
  /** unknown: never issued, replaced by a newer link, or mistyped; each gets its own page. */
  | { ok: false; reason: 'unknown' | 'expired' | 'used'; link?: LinkRecord }

const TOKEN = /^[A-Za-z0-9_-]{43}$/
/** Expired and used rows are kept this long (so a late click says "expired", not "unknown"). */
const KEEP_DAYS = 30

const digestPurpose = (purpose: LinkPurpose) => `account-link:${purpose}`

export async function issueLink(
  store: LinkStore,
  input: { purpose: LinkPurpose; email: string; userId?: string | undefined; tenantId?: string | null | undefined; ttlSeconds: number },
): Promise<{ token: string; id: string; expiresAt: Date }> {
  const { prisma, box, clock } = store
  const token = randomSecret(32)
  const now = clock.now()
  const expiresAt = new Date(now + input.ttlSeconds * 1000)
  // Rows long past their expiry go on the way.
  const created = await insertAccountTokenPruningOld(prisma, {
    purpose: input.purpose, digest: box.digest(digestPurpose(input.purpose), token),
    userId: input.userId ?? null, tenantId: input.tenantId ?? null, email: input.email, expiresAt, createdAt: new Date(now),
  }, new Date(now - KEEP_DAYS * 86_400_000))
  return { token, id: created.id, expiresAt }
}

/** Looks a link up without using it (pages show a form first; mail scanners prefetch links). */
export async function inspectLink(store: LinkStore, purpose: LinkPurpose, token: unknown): Promise<LinkCheck> {
  const row = await find(store, purpose, token)
  if (!row) return { ok: false, reason: 'unknown' }
  if (row.usedAt) return { ok: false, reason: 'used', link: row }
  if (row.expiresAt.getTime() <= store.clock.now()) return { ok: false, reason: 'expired', link: row }
  return { ok: true, link: row }
}

/** Uses the link: succeeds once, while it is unexpired. */
export async function redeemLink(store: LinkStore, purpose: LinkPurpose, token: unknown): Promise<LinkCheck> {
  const checked = await inspectLink(store, purpose, token)
  if (!checked.ok) return checked
  const now = store.clock.date()
  // Lost the race to a concurrent use (or expired in between).
  if (!(await useAccountToken(store.prisma, checked.link.id, now))) return { ok: false, reason: 'used', link: checked.link }
  return checked
}

/**
 * Once a new link was sent, the earlier unused ones of the same purpose (for the person, or for the
 * address when there is no account yet) stop working: only the newest link in the inbox counts.
 */
export async function voidOtherLinks(prisma: Db, input: { purpose: LinkPurpose; keepId: string; userId?: string; email?: string }): Promise<void> {
  const owner = input.userId ? { userId: input.userId } : input.email ? { email: input.email, userId: null } : undefined
  if (!owner) return
  await deleteUnusedAccountTokens(prisma, { owner, purpose: input.purpose, exceptId: input.keepId })
}

/** Removes a link that was never delivered (the mail could not be sent). */
export async function discardLink(prisma: Db, id: string): Promise<void> {
  await deleteAccountToken(prisma, id)
}

/** When the newest link of this purpose was issued to the person (resends are throttled on it). */
export function lastLinkIssuedAt(prisma: Db, userId: string, purpose: LinkPurpose): Promise<Date | undefined> {
  return findLatestAccountTokenIssuedAt(prisma, userId, purpose)
}

async function find(store: LinkStore, purpose: LinkPurpose, token: unknown) {
  if (typeof token !== 'string' || !TOKEN.test(token)) return undefined
  const row = await findAccountTokenByDigest(store.prisma, purpose, store.box.digestCandidates(digestPurpose(purpose), token))
  return row ? { ...row, purpose } : undefined
}

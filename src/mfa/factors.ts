// A person's second factors: what they can use to sign in, and the facts the MFA policy needs.
import { inTransaction, type Db, type DbOrTx } from '../queries/db.ts'
import { countVerifiedFactors, findMfaFactsSourceOfUser, insertVerifiedFactor, listVerifiedFactorsOfUser, type MfaFactor } from '../queries/mfa-factors.ts'
import { countUnusedBackupCodes } from '../queries/backup-codes.ts'
import { lockUserRow } from '../queries/users.ts'
import type { MfaFacts } from './requirement.ts'

export type FactorKind = 'totp' | 'email' | 'sms' | 'whatsapp' | 'webauthn'

export interface FactorView {
  id: string
  kind: FactorKind
  label: string
  /** Destination with most characters hidden (for email/phone factors). */
  hint?: string | undefined
  createdAt: Date
  lastUsedAt: Date | null
}

export function maskDestination(kind: FactorKind, destination: string | null): string | undefined {
  if (!destination) return undefined
  if (kind === 'email') {
    const [local = '', domain = ''] = destination.split('@')
    return `${local.slice(0, 1)}${'•'.repeat(Math.max(1, Math.min(local.length - 1, 6)))}@${domain}`
  }
  return `${'•'.repeat(Math.max(0, destination.length - 2))}${destination.slice(-2)}`
}

export async function listVerifiedFactors(prisma: Db, userId: string): Promise<FactorView[]> {
  const rows = await listVerifiedFactorsOfUser(prisma, userId)
  return rows.map((f) => ({ id: f.id, kind: f.kind, label: f.label, hint: maskDestination(f.kind, f.destination), createdAt: f.createdAt, lastUsedAt: f.lastUsedAt }))
}

export type UserMfaFacts = Pick<MfaFacts, 'hasVerifiedFactor' | 'roleRequiresMfa'>

/**
 * What userMfaFactsOf reads: the roles' MFA flags and the count of verified factors. The reads that
 * fetch the user anyway (the password check, the provider's account: identity/users.ts) return
 * this shape, so the policy needs no statement of its own there.
 */
export interface MfaFactsSource {
  roles: Array<{ role: { mfaRequired: boolean } }>
  _count: { mfaFactors: number }
}

/** The user-side facts of the MFA policy (the request side comes from the client and params). */
export async function userMfaFacts(prisma: Db, userId: string): Promise<UserMfaFacts> {
  const user = await findMfaFactsSourceOfUser(prisma, userId)
  return user ? userMfaFactsOf(user) : { hasVerifiedFactor: false, roleRequiresMfa: false }
}

/** The same facts from a user read that returned them (MfaFactsSource). */
export function userMfaFactsOf(user: MfaFactsSource): UserMfaFacts {
  return { hasVerifiedFactor: user._count.mfaFactors > 0, roleRequiresMfa: user.roles.some((r) => r.role.mfaRequired) }
}

interface ClientLike { [key: string]: unknown }

/** The client-side facts: its MFA policy and step-up age (our extra client metadata). */
export function clientMfaFacts(client: unknown): Pick<MfaFacts, 'clientRequiresMfa' | 'clientMaxAge'> {
  const c = client as ClientLike | undefined
  const maxAge = c?.['urn:iam:mfa_max_age']
  return { clientRequiresMfa: c?.['urn:iam:mfa_policy'] === 'required', clientMaxAge: typeof maxAge === 'number' ? maxAge : undefined }
}

/**
 * Whether something already stands for a second factor: a verified factor — usable on this server
 * or not (an SMS factor while SMS is not configured still belongs to the person, who signs in with
 * a backup code or has an administrator reset it) — or an unused backup code. Until then the
 * password (or the account session) is all the account has, so a first factor may be added on its
 * strength alone; after, only on the strength of a fresh second factor.
 */
export async function hasSecondFactor(prisma: DbOrTx, userId: string): Promise<boolean> {
  if (await countVerifiedFactors(prisma, userId)) return true
  return (await countUnusedBackupCodes(prisma, userId)) > 0
}

export type NewVerifiedFactor = Parameters<typeof insertVerifiedFactor>[1]

/**
 * Stores a verified factor. `asFirst`: the caller allowed it on the strength of the password (or
 * account session) alone, because the account had no second factor when it looked; it is stored
 * only if that is still true at the moment of writing. The check and the write run in one
 * transaction holding the user's row, so two enrolments racing cannot both be "the first".
 * Returns null when the account has a second factor by now.
 */
export async function addVerifiedFactor(prisma: Db, data: NewVerifiedFactor, opts: { asFirst: boolean }): Promise<MfaFactor | null> {
  if (!opts.asFirst) return insertVerifiedFactor(prisma, data)
  return inTransaction(prisma, async (tx) => {
    await lockUserRow(tx, data.userId)
    if (await hasSecondFactor(tx, data.userId)) return null
    return insertVerifiedFactor(tx, data)
  })
}

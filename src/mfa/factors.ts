// A person's second factors: what they can use to sign in, and the facts the MFA policy needs.
import type { PrismaClient } from '../store/database.ts'
import type { MfaFactor, Prisma } from '../generated/prisma/client.ts'
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

export async function listVerifiedFactors(prisma: PrismaClient, userId: string): Promise<FactorView[]> {
  const rows = await prisma.mfaFactor.findMany({ where: { userId, verified: true }, orderBy: { createdAt: 'asc' } })
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

const MFA_FACTS_SELECT = {
  roles: { select: { role: { select: { mfaRequired: true } } } },
  _count: { select: { mfaFactors: { where: { verified: true } } } },
} as const

/** The user-side facts of the MFA policy (the request side comes from the client and params). */
export async function userMfaFacts(prisma: PrismaClient, userId: string): Promise<UserMfaFacts> {
  const user = await prisma.user.findUnique({ where: { id: userId }, select: MFA_FACTS_SELECT })
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

/** What the checks below read: the client, or a transaction's client. */
type FactorReader = Pick<PrismaClient, 'mfaFactor' | 'backupCode'>

/**
 * Whether something already stands for a second factor: a verified factor — usable on this server
 * or not (an SMS factor while SMS is not configured still belongs to the person, who signs in with
 * a backup code or has an administrator reset it) — or an unused backup code. Until then the
 * password (or the account session) is all the account has, so a first factor may be added on its
 * strength alone; after, only on the strength of a fresh second factor.
 */
export async function hasSecondFactor(prisma: FactorReader, userId: string): Promise<boolean> {
  if (await prisma.mfaFactor.count({ where: { userId, verified: true } })) return true
  return (await prisma.backupCode.count({ where: { userId, usedAt: null } })) > 0
}

export type NewVerifiedFactor = Omit<Prisma.MfaFactorUncheckedCreateInput, 'verified' | 'id'>

/**
 * Stores a verified factor. `asFirst`: the caller allowed it on the strength of the password (or
 * account session) alone, because the account had no second factor when it looked; it is stored
 * only if that is still true at the moment of writing. The check and the write run in one
 * transaction holding the user's row, so two enrolments racing cannot both be "the first".
 * Returns null when the account has a second factor by now.
 */
export async function addVerifiedFactor(prisma: PrismaClient, data: NewVerifiedFactor, opts: { asFirst: boolean }): Promise<MfaFactor | null> {
  if (!opts.asFirst) return prisma.mfaFactor.create({ data: { ...data, verified: true } })
  return prisma.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT "id" FROM "User" WHERE "id" = ${data.userId} FOR UPDATE`
    if (await hasSecondFactor(tx, data.userId)) return null
    return tx.mfaFactor.create({ data: { ...data, verified: true } })
  })
}

// MfaFactor rows: a person's second factors.
import type { Prisma } from '../generated/prisma/client.ts'
import type { Db, DbOrTx } from './db.ts'

export type { MfaFactor } from '../generated/prisma/client.ts'

/** The person's verified WebAuthn credentials, oldest first. */
export async function listWebauthnCredentials(db: DbOrTx, userId: string) {
  return db.mfaFactor.findMany({ where: { userId, kind: 'webauthn', verified: true, credentialId: { not: null } }, orderBy: { createdAt: 'asc' } })
}

/** The factor holding this WebAuthn credential id (whoever's it is). */
export async function findFactorByCredentialId(db: DbOrTx, credentialId: string) {
  return db.mfaFactor.findUnique({ where: { credentialId } })
}

/** Whether any factor holds this WebAuthn credential id already. */
export async function credentialIdTaken(db: DbOrTx, credentialId: string): Promise<boolean> {
  return (await db.mfaFactor.findUnique({ where: { credentialId }, select: { id: true } })) !== null
}

/**
 * Records a WebAuthn use: the new signature counter and the time. Conditional on the counter the
 * answer was checked against, so two uses cannot both move it. True when recorded.
 */
export async function recordWebauthnUse(db: DbOrTx, id: string, checkedSignCount: number, signCount: number, at: Date): Promise<boolean> {
  const { count } = await db.mfaFactor.updateMany({ where: { id, signCount: checkedSignCount }, data: { signCount, lastUsedAt: at } })
  return count === 1
}

/** Whether the person has a verified authenticator app. */
export async function hasVerifiedTotp(db: DbOrTx, userId: string): Promise<boolean> {
  return (await db.mfaFactor.findFirst({ where: { userId, kind: 'totp', verified: true }, select: { id: true } })) !== null
}

/** One of the person's verified factors, by id (null when it is not theirs, not verified, or gone). */
export async function findVerifiedFactorOfUser(db: DbOrTx, userId: string, id: string) {
  return db.mfaFactor.findFirst({ where: { id, userId, verified: true } })
}

/** The person's verified authenticator app, if any. */
export async function findVerifiedTotpFactor(db: DbOrTx, userId: string) {
  return db.mfaFactor.findFirst({ where: { userId, kind: 'totp', verified: true } })
}

/** Records that a factor was just used to sign in. */
export async function markFactorUsed(db: DbOrTx, id: string, at: Date): Promise<void> {
  await db.mfaFactor.update({ where: { id }, data: { lastUsedAt: at } })
}

/** How many verified factors the person has. */
export function countVerifiedFactors(db: DbOrTx, userId: string): Promise<number> {
  return db.mfaFactor.count({ where: { userId, verified: true } })
}

/** The person's verified factors of one kind. */
export function listVerifiedFactorsOfKind(db: DbOrTx, userId: string, kind: 'totp' | 'email' | 'sms' | 'whatsapp' | 'webauthn') {
  return db.mfaFactor.findMany({ where: { userId, kind, verified: true } })
}

/** Whether the person has a verified factor of this kind sending codes to `destination`. */
export async function hasVerifiedFactorAt(db: DbOrTx, userId: string, kind: 'email' | 'sms' | 'whatsapp', destination: string): Promise<boolean> {
  return (await db.mfaFactor.findFirst({ where: { userId, kind, destination, verified: true }, select: { id: true } })) !== null
}

/** Deletes the person's factor `id`: false when it is not there (or not theirs). */
export async function deleteFactorOfUser(db: DbOrTx, id: string, userId: string): Promise<boolean> {
  const { count } = await db.mfaFactor.deleteMany({ where: { id, userId } })
  return count === 1
}

/** The person's verified factors, oldest first. */
export function listVerifiedFactorsOfUser(db: DbOrTx, userId: string) {
  return db.mfaFactor.findMany({ where: { userId, verified: true }, orderBy: { createdAt: 'asc' } })
}

/** The roles' MFA flags and the count of verified factors of a user (MfaFactsSource, src/mfa/factors.ts), or null. */
export function findMfaFactsSourceOfUser(db: DbOrTx, userId: string) {
  return db.user.findUnique({
    where: { id: userId },
    select: { roles: { select: { role: { select: { mfaRequired: true } } } }, _count: { select: { mfaFactors: { where: { verified: true } } } } },
  })
}

/** Stores a factor, verified. */
export function insertVerifiedFactor(db: DbOrTx, data: Omit<Prisma.MfaFactorUncheckedCreateInput, 'verified' | 'id'>) {
  return db.mfaFactor.create({ data: { ...data, verified: true } })
}

/**
 * Moves a TOTP factor's last accepted time step forward to `step`, if it is behind: of a code
 * presented twice (or two requests racing), one wins. True when this call did.
 */
export async function advanceTotpStep(db: DbOrTx, id: string, step: number, at: Date): Promise<boolean> {
  const { count } = await db.mfaFactor.updateMany({
    where: { id, OR: [{ lastUsedStep: null }, { lastUsedStep: { lt: step } }] },
    data: { lastUsedStep: step, lastUsedAt: at },
  })
  return count === 1
}

/** The user's enrolled second factors: what and when, never the secret, destination or credential. */
export function listVerifiedFactorSummaries(db: DbOrTx, userId: string) {
  return db.mfaFactor.findMany({ where: { userId, verified: true }, orderBy: { createdAt: 'asc' }, select: { id: true, kind: true, label: true, createdAt: true, lastUsedAt: true } })
}

/** Deletes every second factor, backup code and open challenge of the user, in one transaction. */
export async function deleteSecondFactorsOf(db: Db, userId: string): Promise<{ factors: number; backupCodes: number }> {
  const [factors, backupCodes] = await db.$transaction([
    db.mfaFactor.deleteMany({ where: { userId } }),
    db.backupCode.deleteMany({ where: { userId } }),
    db.mfaChallenge.deleteMany({ where: { userId } }),
  ])
  return { factors: factors.count, backupCodes: backupCodes.count }
}

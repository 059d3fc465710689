// MfaChallenge rows: the one outstanding one-time code (email, SMS, WhatsApp) or WebAuthn
// challenge per person and purpose. Consuming and counting are conditional updates, so concurrent
// answers cannot both win and concurrent guesses cannot exceed the limit.
import type { Db, DbOrTx } from './db.ts'

export type { MfaChallenge } from '../generated/prisma/client.ts'

export interface NewMfaChallenge {
  userId: string
  purpose: string
  codeHash: string
  maxAttempts: number
  expiresAt: Date
  factorId?: string | null | undefined
  destination?: string | null | undefined
}

/** Stores `challenge` as the only one of its person and purpose: every earlier one is deleted with it, in one transaction. */
export async function replaceMfaChallenge(db: Db, challenge: NewMfaChallenge): Promise<void> {
  const { userId, purpose } = challenge
  await db.$transaction([
    db.mfaChallenge.deleteMany({ where: { userId, purpose } }),
    db.mfaChallenge.create({
      data: {
        userId, purpose, codeHash: challenge.codeHash, maxAttempts: challenge.maxAttempts, expiresAt: challenge.expiresAt,
        ...(challenge.factorId !== undefined ? { factorId: challenge.factorId } : {}),
        ...(challenge.destination !== undefined ? { destination: challenge.destination } : {}),
      },
    }),
  ])
}

/** The newest challenge of this person and purpose, consumed or not. */
export async function findLatestMfaChallenge(db: DbOrTx, userId: string, purpose: string) {
  return db.mfaChallenge.findFirst({ where: { userId, purpose }, orderBy: { createdAt: 'desc' } })
}

/** The newest challenge of this person and purpose not consumed yet. */
export async function findLatestOpenMfaChallenge(db: DbOrTx, userId: string, purpose: string) {
  return db.mfaChallenge.findFirst({ where: { userId, purpose, consumedAt: null }, orderBy: { createdAt: 'desc' } })
}

/** The newest challenge of this person and purpose that stores `codeHash` (WebAuthn: the challenge itself). */
export async function findMfaChallengeByCode(db: DbOrTx, userId: string, purpose: string, codeHash: string) {
  return db.mfaChallenge.findFirst({ where: { userId, purpose, codeHash }, orderBy: { createdAt: 'desc' } })
}

/**
 * Marks the challenge consumed at `at` unless it already is (`countAttempt`: the answer also counts
 * as an attempt). True for the one caller that consumed it.
 */
export async function consumeMfaChallenge(db: DbOrTx, id: string, at: Date, options: { countAttempt?: boolean } = {}): Promise<boolean> {
  const { count } = await db.mfaChallenge.updateMany({
    where: { id, consumedAt: null },
    data: { consumedAt: at, ...(options.countAttempt ? { attempts: { increment: 1 } } : {}) },
  })
  return count === 1
}

/** Counts one guess, only while the challenge is open and below `maxAttempts`. True when counted. */
export async function countMfaChallengeAttempt(db: DbOrTx, id: string, maxAttempts: number): Promise<boolean> {
  const { count } = await db.mfaChallenge.updateMany({
    where: { id, consumedAt: null, attempts: { lt: maxAttempts } },
    data: { attempts: { increment: 1 } },
  })
  return count === 1
}

/** The guesses counted so far (undefined when the challenge is gone). */
export async function mfaChallengeAttempts(db: DbOrTx, id: string): Promise<number | undefined> {
  return (await db.mfaChallenge.findUnique({ where: { id }, select: { attempts: true } }))?.attempts
}

/** Deletes the challenges made for the person's factor `factorId`. */
export async function deleteMfaChallengesOfFactor(db: DbOrTx, userId: string, factorId: string): Promise<void> {
  await db.mfaChallenge.deleteMany({ where: { userId, factorId } })
}

/**
 * Stores a single-use form's row (one attempt, no code to guess: `codeHash` names the form), and
 * deletes on the way the person's rows of this purpose that expired before `now` or were used:
 * one transaction.
 */
export async function createSingleUseForm(db: Db, form: { userId: string; purpose: string; codeHash: string; expiresAt: Date }, now: Date): Promise<void> {
  const { userId, purpose } = form
  await db.$transaction([
    db.mfaChallenge.deleteMany({ where: { userId, purpose, OR: [{ expiresAt: { lt: now } }, { consumedAt: { not: null } }] } }),
    db.mfaChallenge.create({ data: { ...form, maxAttempts: 1 } }),
  ])
}

/** Uses the single-use form up if it is unused and unexpired at `now`: true for the one caller that did. */
export async function useSingleUseForm(db: DbOrTx, form: { userId: string; purpose: string; codeHash: string }, now: Date): Promise<boolean> {
  const { count } = await db.mfaChallenge.updateMany({
    where: { ...form, consumedAt: null, expiresAt: { gt: now } },
    data: { consumedAt: now, attempts: { increment: 1 } },
  })
  return count === 1
}

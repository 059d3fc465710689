// A person's passkeys (MfaFactor rows of kind webauthn) as the account area lists and names them.
import type { DbOrTx } from './db.ts'

/** The person's verified passkeys, oldest first: what and when, never the key or credential id. */
export function listPasskeySummaries(db: DbOrTx, userId: string) {
  return db.mfaFactor.findMany({ where: { userId, kind: 'webauthn', verified: true }, orderBy: { createdAt: 'asc' }, select: { id: true, label: true, createdAt: true, lastUsedAt: true } })
}

/** Names the person's passkey `id`: false when it is not there (or not theirs, or not a passkey). */
export async function renamePasskeyOfUser(db: DbOrTx, id: string, userId: string, label: string): Promise<boolean> {
  const { count } = await db.mfaFactor.updateMany({ where: { id, userId, kind: 'webauthn', verified: true }, data: { label } })
  return count === 1
}

/**
 * Records a passkey sign-in's time. The password's failure count is left alone: a passkey says
 * nothing about who has been guessing the password.
 */
export async function recordPasskeySignIn(db: DbOrTx, userId: string, at: Date): Promise<void> {
  await db.user.updateMany({ where: { id: userId }, data: { lastLoginAt: at } })
}

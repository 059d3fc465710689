// User.passkeyOfferDeclinedAt: when the person answered "Not now" to creating a passkey.
import type { DbOrTx } from './db.ts'

/** When the person last declined the passkey offer (null: never). */
export async function findPasskeyOfferDeclinedAt(db: DbOrTx, userId: string): Promise<Date | null> {
  return (await db.user.findUnique({ where: { id: userId }, select: { passkeyOfferDeclinedAt: true } }))?.passkeyOfferDeclinedAt ?? null
}

/** Records that the person declined the passkey offer at `at`. */
export async function recordPasskeyOfferDeclined(db: DbOrTx, userId: string, at: Date): Promise<void> {
  await db.user.updateMany({ where: { id: userId }, data: { passkeyOfferDeclinedAt: at } })
}

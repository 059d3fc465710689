// Remembered consents (Consent rows): what a person allowed each application. The rules (what is
// remembered, how it is described, what revoking ends) are src/identity/consents.ts.
import type { DbOrTx } from './db.ts'

/** What the row stores: space-separated scopes and claims, and { resource indicator: "scope scope" }. */
export interface ConsentColumns { scopes: string; claims: string; resources: Record<string, string> }

/** What the person allowed the client (its stored columns), or null. */
export function findConsentOf(db: DbOrTx, userId: string, clientId: string) {
  return db.consent.findUnique({ where: { userId_clientId: { userId, clientId } }, select: { scopes: true, claims: true, resources: true } })
}

/** Stores what the person allows the client now (replacing what the row held). */
export async function upsertConsent(db: DbOrTx, userId: string, clientId: string, data: ConsentColumns): Promise<void> {
  await db.consent.upsert({
    where: { userId_clientId: { userId, clientId } },
    update: data,
    create: { userId, clientId, ...data },
  })
}

/** The person's consents with each client's name, most recently changed first. */
export function listConsentsWithClientName(db: DbOrTx, userId: string) {
  return db.consent.findMany({
    where: { userId },
    include: { client: { select: { name: true } } },
    orderBy: { updatedAt: 'desc' },
  })
}

/** Deletes the person's consent to the client: false when there was none. */
export async function deleteConsent(db: DbOrTx, userId: string, clientId: string): Promise<boolean> {
  const { count } = await db.consent.deleteMany({ where: { userId, clientId } })
  return count > 0
}

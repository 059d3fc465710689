// FederatedIdentity rows: which local user an upstream identity provider's subject is.
import type { Db, DbOrTx } from './db.ts'

/** The link of this upstream subject, with its user. */
export function findFederatedLink(db: DbOrTx, provider: string, subject: string) {
  return db.federatedIdentity.findUnique({ where: { provider_subject: { provider, subject } }, include: { user: true } })
}

export function createFederatedLink(db: DbOrTx, input: { provider: string; subject: string; userId: string; email: string | null }) {
  return db.federatedIdentity.create({ data: input })
}

export interface ProvisionedUser {
  tenantId: string
  email: string
  emailVerified: boolean
  displayName: string | null
  givenName: string | null
  familyName: string | null
  lastLoginAt: Date
  link: { provider: string; subject: string; email: string | null }
  /** Assigned with source null: the person's own from now on. */
  roleIds: string[]
}

/**
 * Creates the user, their link and their roles in one nested write: all exist together or none
 * does. Throws a unique violation (errors.ts) when the email or the link exists already.
 * Returns the user's id and the link's.
 */
export async function createUserWithFederatedLink(db: DbOrTx, input: ProvisionedUser): Promise<{ userId: string; linkId: string }> {
  const user = await db.user.create({
    data: {
      tenantId: input.tenantId, email: input.email, emailVerified: input.emailVerified,
      displayName: input.displayName, givenName: input.givenName, familyName: input.familyName,
      lastLoginAt: input.lastLoginAt,
      federatedIdentities: { create: input.link },
      roles: { create: input.roleIds.map((roleId) => ({ roleId })) },
    },
    include: { federatedIdentities: true },
  })
  return { userId: user.id, linkId: user.federatedIdentities[0]!.id }
}

/** Notes a sign-in at `at` on the link and on the user, in one transaction (`email`, when given, replaces the link's). */
export async function recordFederatedSignInAt(db: Db, linkId: string, userId: string, email: string | undefined, at: Date): Promise<void> {
  await db.$transaction([
    db.federatedIdentity.update({ where: { id: linkId }, data: { lastLoginAt: at, ...(email ? { email } : {}) } }),
    db.user.update({ where: { id: userId }, data: { lastLoginAt: at } }),
  ])
}

/** The person's links, oldest first. */
export function listFederatedLinksOfUser(db: DbOrTx, userId: string) {
  return db.federatedIdentity.findMany({ where: { userId }, orderBy: { createdAt: 'asc' } })
}

/** Deletes the person's link `id`: false when it is not there (or not theirs). */
export async function deleteFederatedLinkOfUser(db: DbOrTx, id: string, userId: string): Promise<boolean> {
  const { count } = await db.federatedIdentity.deleteMany({ where: { id, userId } })
  return count === 1
}

// findAccount for oidc-provider: the claims each scope releases, read from the user record.
import type { Account, AccountClaims } from 'oidc-provider'
import type { PrismaClient } from '../store/database.ts'
import { findActiveUserWithRoles } from '../identity/users.ts'

/** Unknown or disabled users have no account: their sessions stop being valid. */
export async function findAccount(prisma: PrismaClient, id: string): Promise<Account | undefined> {
  const user = await findActiveUserWithRoles(prisma, id)
  if (!user) return undefined
  return {
    accountId: user.id,
    async claims(): Promise<AccountClaims> {
      // oidc-provider filters these down to what the granted scopes and claims allow.
      return {
        sub: user.id,
        name: user.displayName ?? ([user.givenName, user.familyName].filter(Boolean).join(' ') || undefined),
        given_name: user.givenName ?? undefined,
        family_name: user.familyName ?? undefined,
        preferred_username: user.username ?? user.email,
        updated_at: Math.floor(user.updatedAt.getTime() / 1000),
        email: user.email,
        email_verified: user.emailVerified,
        phone_number: user.phone ?? undefined,
        phone_number_verified: user.phone ? user.phoneVerified : undefined,
        roles: user.roles.map((r) => r.role.name).sort(),
        tenant: user.tenant.slug,
      }
    },
  }
}

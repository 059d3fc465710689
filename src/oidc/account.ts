// findAccount for oidc-provider: the claims each scope releases, read from the user record.
import type { Account, AccountClaims, KoaContextWithOIDC } from 'oidc-provider'
import type { PrismaClient } from '../store/database.ts'
import { findActiveUserWithRoles } from '../identity/users.ts'

type ActiveUser = NonNullable<Awaited<ReturnType<typeof findActiveUserWithRoles>>>

/**
 * How long /me may answer from a per-process copy of the user. Resource servers call userinfo on
 * every request they serve, and the read (user, tenant, roles) was most of its cost. Only userinfo
 * reads the copy: sign-ins, token responses and ID tokens always read the database. Disabling a
 * user or ending their sessions revokes their grants, which /me checks on every call; a changed
 * name or role shows there at most this much later.
 */
export const USERINFO_ACCOUNT_TTL_MS = 2_000
const USERINFO_CACHE_MAX = 10_000

/** oidc-provider's findAccount: the database, except for userinfo (see USERINFO_ACCOUNT_TTL_MS). */
export function createAccountFinder(prisma: PrismaClient) {
  const recent = new Map<string, { user: ActiveUser; until: number }>()
  return async function findAccountFor(ctx: KoaContextWithOIDC, id: string): Promise<Account | undefined> {
    if (ctx.oidc?.route !== 'userinfo') return findAccount(prisma, id)
    const hit = recent.get(id)
    if (hit && hit.until > Date.now()) return accountOf(hit.user)
    const user = await findActiveUserWithRoles(prisma, id)
    recent.delete(id)
    if (!user) return undefined
    // Oldest first (insertion order): past the bound, the oldest copy goes.
    if (recent.size >= USERINFO_CACHE_MAX) recent.delete(recent.keys().next().value!)
    recent.set(id, { user, until: Date.now() + USERINFO_ACCOUNT_TTL_MS })
    return accountOf(user)
  }
}

/** Unknown or disabled users have no account: their sessions stop being valid. */
async function findAccount(prisma: PrismaClient, id: string): Promise<Account | undefined> {
  const user = await findActiveUserWithRoles(prisma, id)
  return user ? accountOf(user) : undefined
}

function accountOf(user: ActiveUser): Account {
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

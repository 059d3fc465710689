// findAccount for oidc-provider: the claims each scope releases, read from the user record.
import type { Account, AccountClaims, KoaContextWithOIDC } from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import { createRecentReads } from '../store/recent-reads.ts'
import { findActiveAccount, type ActiveAccountRow } from '../queries/users.ts'
import { userMfaFactsOf, type UserMfaFacts } from '../mfa/factors.ts'

/**
 * How long /me may answer one access token from a per-process copy of the user. Resource servers
 * call userinfo on every request they serve, and reading the user (tenant, roles) was most of its
 * cost. The copy belongs to one access token: a new sign-in or refresh gets a new token, so it sees
 * the database as it is, as do sign-ins, token responses and ID tokens, which never use the copy.
 * Disabling a user or ending their sessions revokes their grants, which /me checks on every call;
 * a changed name or role shows to an old token at most this much later.
 */
export const USERINFO_ACCOUNT_TTL_MS = 2_000
const USERINFO_CACHE_MAX = 10_000

/** oidc-provider's findAccount: the database, except for userinfo (see USERINFO_ACCOUNT_TTL_MS). */
export function createAccountFinder(prisma: Db) {
  const recent = createRecentReads<ActiveAccountRow>({ ttlMs: USERINFO_ACCOUNT_TTL_MS, maxEntries: USERINFO_CACHE_MAX })
  return async function findAccountFor(ctx: KoaContextWithOIDC, id: string, token?: { jti?: string }): Promise<Account | undefined> {
    if (ctx.oidc?.route !== 'userinfo' || !token?.jti) return findAccount(prisma, id)
    const key = `${token.jti}:${id}`
    const hit = recent.get(key)
    if (hit) return accountOf(hit.value)
    const user = await findActiveAccount(prisma, id)
    if (!user) return undefined
    recent.set(key, user)
    return accountOf(user)
  }
}

/** Unknown or disabled users have no account: their sessions stop being valid. */
async function findAccount(prisma: Db, id: string): Promise<Account | undefined> {
  const user = await findActiveAccount(prisma, id)
  return user ? accountOf(user) : undefined
}

/** The MFA policy's user facts, read with the account (see mfaFactsOfAccount). */
const MFA_FACTS = 'urn:iam:mfa_facts'

function accountOf(user: ActiveAccountRow): Account {
  return {
    accountId: user.id,
    [MFA_FACTS]: userMfaFactsOf(user),
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
        locale: user.locale ?? undefined,
        roles: user.roles.map((r) => r.role.name).sort(),
        tenant: user.tenant.slug,
      }
    },
  }
}

/**
 * The MFA policy's user facts of the account oidc-provider loaded for this request (its loadAccount
 * runs before the prompt checks), so that the check needs no statement of its own; undefined for
 * an account that is not ours or not loaded.
 */
export function mfaFactsOfAccount(account: Account | undefined, accountId: string): UserMfaFacts | undefined {
  if (account?.accountId !== accountId) return undefined
  return account[MFA_FACTS] as UserMfaFacts | undefined
}

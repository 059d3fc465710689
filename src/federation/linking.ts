// Which local account an upstream sign-in is: the linked one; or, when none is linked, a local
// account with the same email — never linked silently: the person proves that account first (its
// password), because an upstream's email claim is not proof of owning our account; or a new
// account (just-in-time provisioning, when the upstream allows it).
import type { Db } from '../queries/db.ts'
import { isUniqueViolation } from '../queries/errors.ts'
import { createFederatedLink, createUserWithFederatedLink, findFederatedLink, listFederatedLinksOfUser, recordFederatedSignInAt } from '../queries/federated-identities.ts'
import { hasVerifiedTotp } from '../queries/mfa-factors.ts'
import { findUserByEmail } from '../queries/users.ts'
import { systemClock, type Clock } from '../security/clock.ts'
import { emailSchema } from '../identity/users.ts'
import { ensureRole } from '../identity/roles.ts'
import { DEFAULT_TENANT_SLUG, ensureDefaultTenant, findTenantBySlug } from '../identity/tenants.ts'
import type { UpstreamSettings } from './config.ts'
import type { UpstreamIdentity } from './upstream.ts'

export type AccountResolution =
  | { kind: 'linked'; userId: string; linkId: string }
  | { kind: 'provisioned'; userId: string; linkId: string; tenant: string; roles: string[] }
  | { kind: 'disabled'; userId: string }
  /** `proof`: how the person can show the local account is theirs (none: an administrator must link it). */
  | { kind: 'link_required'; userId: string; email: string; proof: 'password' | 'totp' | 'none' }
  | { kind: 'no_account'; why: 'jit_disabled' | 'no_email' | 'email_unverified' | 'jit_tenant_missing' }

export async function resolveAccount(prisma: Db, settings: UpstreamSettings, identity: UpstreamIdentity, clock: Clock = systemClock): Promise<AccountResolution> {
  return resolve(prisma, settings, identity, clock, false)
}

async function resolve(prisma: Db, settings: UpstreamSettings, identity: UpstreamIdentity, clock: Clock, retried: boolean): Promise<AccountResolution> {
  const link = await findFederatedLink(prisma, settings.id, identity.subject)
  if (link) return link.user.status === 'active' ? { kind: 'linked', userId: link.userId, linkId: link.id } : { kind: 'disabled', userId: link.userId }

  if (identity.email) {
    const local = await findUserByEmail(prisma, identity.email)
    if (local) {
      // The account's password, or else its authenticator app (an account with no password).
      const totp = local.passwordHash ? false : await hasVerifiedTotp(prisma, local.id)
      return { kind: 'link_required', userId: local.id, email: local.email, proof: local.passwordHash ? 'password' : totp ? 'totp' : 'none' }
    }
  }
  if (!settings.jit.enabled) return { kind: 'no_account', why: 'jit_disabled' }
  const email = identity.email ? emailSchema.safeParse(identity.email) : undefined
  if (!email?.success) return { kind: 'no_account', why: 'no_email' }
  if (!identity.emailTrusted) return { kind: 'no_account', why: 'email_unverified' }

  const tenant = settings.jit.tenant === DEFAULT_TENANT_SLUG ? await ensureDefaultTenant(prisma) : await findTenantBySlug(prisma, settings.jit.tenant)
  if (!tenant) return { kind: 'no_account', why: 'jit_tenant_missing' }
  const roles = await Promise.all(settings.jit.roles.map((name) => ensureRole(prisma, name)))
  try {
    // One nested write: the user, the link and the default roles exist together or not at all.
    const { userId, linkId } = await createUserWithFederatedLink(prisma, {
      tenantId: tenant.id, email: email.data, emailVerified: identity.emailVerified,
      displayName: identity.name ?? null, givenName: identity.givenName ?? null, familyName: identity.familyName ?? null,
      lastLoginAt: clock.date(),
      link: { provider: settings.id, subject: identity.subject, email: identity.email ?? null },
      // Default roles are the person's own from now on (source null): the upstream's mapping does not remove them.
      roleIds: roles.map((r) => r.id),
    })
    return { kind: 'provisioned', userId, linkId, tenant: tenant.slug, roles: roles.map((r) => r.name) }
  } catch (err) {
    // Another sign-in created the link or the email in between: resolve again, once.
    if (!retried && isUniqueViolation(err)) return resolve(prisma, settings, identity, clock, true)
    throw err
  }
}

/** Links an upstream subject to a local user (after the person proved that account). */
export async function createLink(prisma: Db, input: { provider: string; subject: string; userId: string; email?: string | undefined }) {
  return createFederatedLink(prisma, { provider: input.provider, subject: input.subject, userId: input.userId, email: input.email ?? null })
}

/** Notes the sign-in on the link and the user (the upstream's current email is kept for display). */
export async function recordFederatedSignIn(prisma: Db, linkId: string, userId: string, email: string | undefined, clock: Clock = systemClock): Promise<void> {
  await recordFederatedSignInAt(prisma, linkId, userId, email, clock.date())
}

export async function listLinks(prisma: Db, userId: string) {
  return listFederatedLinksOfUser(prisma, userId)
}

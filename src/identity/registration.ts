// Creating an account yourself: who may (REGISTRATION_MODE, or the tenant's own mode), with an
// email link to prove the address, or with an invitation link that already proves it.
//
// Registering an address that already has an account answers exactly like a new registration
// ("check your email") and mails that address instead, so the form cannot be used to find out
// who has an account. When the mail cannot be sent, nothing is kept: the new account and its link
// are deleted again, and the person may simply try later.
import type { Db } from '../queries/db.ts'
import { isUniqueViolation } from '../queries/errors.ts'
import { findClientTenantRegistration } from '../queries/clients.ts'
import { findTenantRegistration } from '../queries/tenants.ts'
import { deleteUser, findUserByEmail, markEmailVerified } from '../queries/users.ts'
import type { Config } from '../config.ts'
import type { Mailer } from '../mail/mailer.ts'
import { alreadyRegisteredMail, invitationMail, selfServiceUrl, verificationMail, type InvitationFrom, type LinkMailContext } from '../mail/link-mails.ts'
import type { Locale } from '../i18n/locales.ts'
import { messageLocale } from '../i18n/recipient-locale.ts'
import { discardLink, inspectLink, issueLink, lastLinkIssuedAt, redeemLink, voidOtherLinks, type LinkCheck, type LinkStore } from './account-links.ts'
import { hashPassword } from './passwords.ts'
import { createUser, emailSchema } from './users.ts'
import { DEFAULT_TENANT_SLUG } from './tenants.ts'

export type RegistrationMode = 'closed' | 'invite' | 'open'
const MODES = new Set<string>(['closed', 'invite', 'open'])

export interface RegistrationDeps extends LinkStore {
  mail: LinkMailContext
  /** Absent without SMTP: open registration is then not offered. */
  mailer?: Mailer | undefined
  settings: Config['registration']
}

/**
 * The registration mode where a client's users live: the client's tenant, or the default tenant
 * for clients without one; a tenant without its own mode follows REGISTRATION_MODE.
 */
export async function registrationForClient(prisma: Db, clientId: string, defaultMode: RegistrationMode): Promise<{ mode: RegistrationMode; tenantId?: string | undefined }> {
  const tenant = await findClientTenantRegistration(prisma, clientId) ?? await findTenantRegistration(prisma, { slug: DEFAULT_TENANT_SLUG })
  return { mode: modeOf(tenant?.registrationMode, defaultMode), tenantId: tenant?.id }
}

export async function registrationForTenant(prisma: Db, tenantId: string | null, defaultMode: RegistrationMode): Promise<RegistrationMode> {
  const tenant = await findTenantRegistration(prisma, tenantId ? { id: tenantId } : { slug: DEFAULT_TENANT_SLUG })
  return modeOf(tenant?.registrationMode, defaultMode)
}

function modeOf(value: string | null | undefined, defaultMode: RegistrationMode): RegistrationMode {
  if (value === null || value === undefined) return defaultMode
  // A value this version does not know (written by hand, or by a newer version): the safe choice.
  return MODES.has(value) ? value as RegistrationMode : 'closed'
}

export type RegistrationResult =
  | { outcome: 'created'; userId: string }
  /** The address has an account: it was told by mail; the page must not say so. */
  | { outcome: 'exists'; userId: string }
  | { outcome: 'mail_failed'; userId?: string | undefined; existing: boolean; error: string }

export async function registerWithEmail(
  deps: RegistrationDeps,
  /** `locale`: the registration page's, which the mails are written in (an existing account's own preference first). */
  input: { email: string; displayName?: string | undefined; password: string; tenantId?: string | undefined; locale?: Locale | undefined },
): Promise<RegistrationResult> {
  const { prisma, mailer } = deps
  if (!mailer) throw new Error('registration by email needs SMTP')
  const email = emailSchema.parse(input.email.normalize('NFKC'))
  const existing = await findUserByEmail(prisma, email)
  if (existing) return tellExistingAccount(deps, mailer, existing.id, email, input.password, messageLocale(existing.locale, input.locale))

  let user
  try {
    user = await createUser(prisma, { email, displayName: input.displayName, password: input.password, tenantId: input.tenantId, emailVerified: false })
  } catch (err) {
    // Registered a moment ago by a concurrent request: the same answer as any existing account.
    if (isUniqueViolation(err)) {
      const raced = await findUserByEmail(prisma, email)
      if (raced) return tellExistingAccount(deps, mailer, raced.id, email, undefined, messageLocale(raced.locale, input.locale))
    }
    throw err
  }
  const link = await issueLink(deps, { purpose: 'verify_email', email, userId: user.id, tenantId: user.tenantId, ttlSeconds: deps.settings.verificationTtl })
  try {
    await mailer.send(verificationMail(deps.mail, email, link.token, deps.settings.verificationTtl, messageLocale(undefined, input.locale)))
  } catch (err) {
    // Nothing half-done: an account nobody can confirm would only block the address.
    await deleteUser(prisma, user.id)
    return { outcome: 'mail_failed', existing: false, error: errorText(err) }
  }
  return { outcome: 'created', userId: user.id }
}

async function tellExistingAccount(deps: RegistrationDeps, mailer: Mailer, userId: string, email: string, password: string | undefined, locale: Locale): Promise<RegistrationResult> {
  // The same slow work a new account does (hashing its password), so timing tells nothing either.
  if (password !== undefined) await hashPassword(password)
  try {
    await mailer.send(alreadyRegisteredMail(deps.mail, email, locale))
  } catch (err) {
    return { outcome: 'mail_failed', userId, existing: true, error: errorText(err) }
  }
  return { outcome: 'exists', userId }
}

export type SendLinkResult =
  | { ok: true }
  | { ok: false; reason: 'throttled'; retryAfter: number }
  | { ok: false; reason: 'send_failed'; error: string }

/**
 * Sends a new verification link to an account's address (after a held sign-in). At most one per
 * `throttleSeconds`; the new link replaces the earlier ones once it has been sent. Written in the
 * account's saved language, else the page's (`requested`).
 */
export async function resendVerification(deps: RegistrationDeps, user: { id: string; email: string; tenantId: string; locale?: string | null }, throttleSeconds: number, requested?: Locale): Promise<SendLinkResult> {
  const { prisma, mailer, clock } = deps
  if (!mailer) return { ok: false, reason: 'send_failed', error: 'SMTP is not configured' }
  const last = await lastLinkIssuedAt(prisma, user.id, 'verify_email')
  const wait = last ? Math.ceil((last.getTime() + throttleSeconds * 1000 - clock.now()) / 1000) : 0
  if (wait > 0) return { ok: false, reason: 'throttled', retryAfter: wait }
  const link = await issueLink(deps, { purpose: 'verify_email', email: user.email, userId: user.id, tenantId: user.tenantId, ttlSeconds: deps.settings.verificationTtl })
  try {
    await mailer.send(verificationMail(deps.mail, user.email, link.token, deps.settings.verificationTtl, messageLocale(user.locale, requested)))
  } catch (err) {
    // Never sent: the link is removed, and the earlier ones keep working.
    await discardLink(prisma, link.id)
    return { ok: false, reason: 'send_failed', error: errorText(err) }
  }
  await voidOtherLinks(prisma, { userId: user.id, purpose: 'verify_email', keepId: link.id })
  return { ok: true }
}

/** Uses a verification link: the account's address is verified (if it is still the one the link was sent to). */
export async function verifyEmailWithLink(deps: LinkStore, token: unknown): Promise<LinkCheck> {
  const redeemed = await redeemLink(deps, 'verify_email', token)
  if (!redeemed.ok) return redeemed
  // The account is gone or its address changed since: the link proves nothing any more.
  if (!await markEmailVerified(deps.prisma, redeemed.link.userId ?? '', redeemed.link.email)) return { ok: false, reason: 'unknown', link: redeemed.link }
  return redeemed
}

export class InvitationError extends Error {
  override name = 'InvitationError'
}

/**
 * Invites `email` to create an account in the tenant (the `user invite` command; the admin API
 * reuses it). Returns the link, to print or to mail (`send`); an earlier pending invitation of the
 * address stops working. The mail is in `locale` (nobody's preference is known yet: DEFAULT_LOCALE
 * unless the inviter chose) and names who invited (`from.inviter`) and to which tenant.
 */
export async function createInvitation(
  deps: LinkStore & { mail: LinkMailContext; settings: Pick<Config['registration'], 'mode' | 'invitationTtl'> },
  input: { email: string; tenantId?: string | undefined; send?: Mailer | undefined; locale?: Locale | undefined; from?: InvitationFrom | undefined },
): Promise<{ url: string; expiresAt: Date; id: string }> {
  const { prisma } = deps
  const parsed = emailSchema.safeParse(input.email.normalize('NFKC'))
  if (!parsed.success) throw new InvitationError(`${input.email} is not a valid email address`)
  const email = parsed.data
  if (await findUserByEmail(prisma, email)) throw new InvitationError(`${email} already has an account`)
  const mode = await registrationForTenant(prisma, input.tenantId ?? null, deps.settings.mode)
  if (mode === 'closed') throw new InvitationError('registration is closed for this tenant: set its registration mode (or REGISTRATION_MODE) to invite or open first')
  const tenantId = input.tenantId ?? (await findTenantRegistration(prisma, { slug: DEFAULT_TENANT_SLUG }))?.id
  const ttl = deps.settings.invitationTtl
  const link = await issueLink(deps, { purpose: 'invite', email, tenantId, ttlSeconds: ttl })
  if (input.send) {
    try {
      await input.send.send(invitationMail(deps.mail, email, link.token, ttl, messageLocale(undefined, input.locale), input.from))
    } catch (err) {
      await discardLink(prisma, link.id)
      throw new InvitationError(`the invitation could not be mailed (${errorText(err)}); nothing was saved`)
    }
  }
  await voidOtherLinks(prisma, { email, purpose: 'invite', keepId: link.id })
  return { url: selfServiceUrl(deps.mail.issuer, 'invitation', link.token), expiresAt: link.expiresAt, id: link.id }
}

export type InvitationResult =
  | { ok: true; userId: string; tenantId: string | null }
  | { ok: false; reason: 'unknown' | 'expired' | 'used' | 'closed' | 'exists' }

/** Creates the invited account: the link proved the address, so it is verified. */
export async function acceptInvitation(
  deps: LinkStore & { defaultMode: RegistrationMode },
  token: unknown,
  input: { displayName?: string | undefined; password: string },
): Promise<InvitationResult> {
  const { prisma } = deps
  const pending = await inspectLink(deps, 'invite', token)
  if (!pending.ok) return { ok: false, reason: pending.reason }
  // Closed since the invitation was made: refused, and the link is kept should it open again.
  if (await registrationForTenant(prisma, pending.link.tenantId, deps.defaultMode) === 'closed') return { ok: false, reason: 'closed' }
  const redeemed = await redeemLink(deps, 'invite', token)
  if (!redeemed.ok) return { ok: false, reason: redeemed.reason }
  const { email, tenantId } = redeemed.link
  try {
    const user = await createUser(prisma, { email, displayName: input.displayName, password: input.password, tenantId: tenantId ?? undefined, emailVerified: true })
    return { ok: true, userId: user.id, tenantId: user.tenantId }
  } catch (err) {
    if (isUniqueViolation(err)) return { ok: false, reason: 'exists' }
    throw err
  }
}

/** Why a send failed, for operators (never contains the link). */
function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 200)
}

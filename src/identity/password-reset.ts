// Password reset by email. Asking for a link answers the same whoever asks (see
// src/self-service/routes.ts: the work that depends on the address runs after the answer);
// completing it sets the new password, proves the address, clears any lockout and ends every
// session and grant of the account, so whoever knew the old password is out.
import type { Context } from 'koa'
import type Provider from 'oidc-provider'
import type { AuditWriter } from '../audit/audit.ts'
import type { Mailer } from '../mail/mailer.ts'
import { passwordResetMail, type LinkMailContext } from '../mail/link-mails.ts'
import type { Locale } from '../i18n/locales.ts'
import { messageLocale } from '../i18n/recipient-locale.ts'
import { discardLink, issueLink, redeemLink, voidOtherLinks, type LinkStore } from './account-links.ts'
import { hashPassword } from './passwords.ts'
import { endAllSessionsOf } from './sessions.ts'
import { failureAccount } from '../security/lockout.ts'
import { emailSchema } from './users.ts'
import { findUserByEmail, markEmailVerified, setPasswordOfActiveUserAfterReset, userExists } from '../queries/users.ts'
import { deleteSignInFailures } from '../queries/sign-in-failures.ts'
import { deleteUnusedAccountTokens } from '../queries/account-tokens.ts'

export type ResetRequestResult =
  | { outcome: 'sent'; userId: string }
  /** No link: no account, a disabled one, or one without a password (it signs in elsewhere). */
  | { outcome: 'not_sent'; reason: 'no_account' | 'disabled' | 'no_password'; userId?: string | undefined }
  | { outcome: 'send_failed'; userId: string; error: string }

/**
 * Sends a reset link to the account of `email`, if there is one that signs in with a password.
 * Accounts without a password (provisioned by an upstream identity provider) get none: a local
 * password would let them bypass the upstream that is meant to control their sign-in. The mail is
 * in the account's saved language, else the one of the page that asked (`requested`).
 */
export async function requestPasswordReset(
  deps: LinkStore & { mailer: Mailer; mail: LinkMailContext; resetTtl: number },
  typedEmail: string,
  requested?: Locale,
): Promise<ResetRequestResult> {
  const { prisma, mailer } = deps
  const parsed = emailSchema.safeParse(typedEmail.normalize('NFKC'))
  const user = parsed.success ? await findUserByEmail(prisma, parsed.data) : null
  if (!user) return { outcome: 'not_sent', reason: 'no_account' }
  if (user.status !== 'active') return { outcome: 'not_sent', reason: 'disabled', userId: user.id }
  if (!user.passwordHash) return { outcome: 'not_sent', reason: 'no_password', userId: user.id }
  const link = await issueLink(deps, { purpose: 'reset_password', email: user.email, userId: user.id, tenantId: user.tenantId, ttlSeconds: deps.resetTtl })
  try {
    await mailer.send(passwordResetMail(deps.mail, user.email, link.token, deps.resetTtl, messageLocale(user.locale, requested)))
  } catch (err) {
    // Never sent, so never usable: removed. The earlier links keep working.
    await discardLink(prisma, link.id)
    return { outcome: 'send_failed', userId: user.id, error: (err instanceof Error ? err.message : String(err)).slice(0, 200) }
  }
  await voidOtherLinks(prisma, { userId: user.id, purpose: 'reset_password', keepId: link.id })
  return { outcome: 'sent', userId: user.id }
}

export type ResetResult =
  | { ok: true; userId: string; sessionsEnded: number; grantsRevoked: number }
  | { ok: false; reason: 'unknown' | 'expired' | 'used' | 'disabled' }

/**
 * Uses a reset link and sets `password` (already checked against the policy). The link is spent
 * first: if anything after fails, the person asks for a new link, and a link can never set two
 * passwords.
 */
export async function completePasswordReset(
  deps: LinkStore & { provider: Provider; audit: AuditWriter },
  token: unknown,
  password: string,
  ctx: Context,
): Promise<ResetResult> {
  const { prisma, clock } = deps
  const redeemed = await redeemLink(deps, 'reset_password', token)
  if (!redeemed.ok) return { ok: false, reason: redeemed.reason }
  const passwordHash = await hashPassword(password)
  const userId = redeemed.link.userId ?? ''
  // Whoever locked the account by guessing is irrelevant now: the owner proved their address.
  if (!(await setPasswordOfActiveUserAfterReset(prisma, userId, passwordHash, clock.date()))) {
    return { ok: false, reason: (await userExists(prisma, userId)) ? 'disabled' : 'unknown' }
  }
  // The per-address and account-wide failure counts too (src/security/lockout.ts): every lock ends.
  await deleteSignInFailures(prisma, failureAccount({ userId }))
  // The link reached this address: it is verified (unless the account's address changed since).
  await markEmailVerified(prisma, userId, redeemed.link.email)
  // Any other pending reset link is void too: it was sent for the password that is gone.
  await deleteUnusedAccountTokens(prisma, { owner: { userId }, purpose: 'reset_password' })
  const ended = await endAllSessionsOf(deps, userId, { reason: 'password_reset', ctx })
  return { ok: true, userId, sessionsEnded: ended.sessions, grantsRevoked: ended.grants }
}

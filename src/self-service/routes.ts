// /self-service/: the pages the emailed links open (verify an address, reset a password, accept an
// invitation) and the "Forgot your password?" form. They need no sign-in and no interaction: a
// link may be opened in another browser, long after the sign-in that led to it.
//
// Links are used only by a POST from their page: mail scanners fetch (GET) links to check them,
// and must not spend them. Every form's CSRF token has the 'self-service' scope (checked by the
// area's guard, src/middleware/csrf-guard.ts).
import Router from '@koa/router'
import type { Context } from 'koa'
import type Provider from 'oidc-provider'
import { z } from 'zod'
import type { Config } from '../config.ts'
import type { Db } from '../queries/db.ts'
import { findUserNames } from '../queries/users.ts'
import type { AuditWriter } from '../audit/audit.ts'
import type { Csrf } from '../security/csrf.ts'
import type { Clock } from '../security/clock.ts'
import type { Logger } from '../observability/logger.ts'
import type { SecretBox } from '../security/encryption.ts'
import type { Mailer } from '../mail/mailer.ts'
import type { RateLimits } from '../security/rate-limits.ts'
import { tooManyRequests } from '../security/rate-limits.ts'
import { pageContext, renderPage, type PageName } from '../pages/render.ts'
import { describeLifetime } from '../mail/link-mails.ts'
import { inspectLink, type LinkCheck, type LinkPurpose, type LinkStore } from '../identity/account-links.ts'
import { checkNewPassword, passwordHint } from '../identity/password-policy.ts'
import { completePasswordReset, requestPasswordReset } from '../identity/password-reset.ts'
import { acceptInvitation, registrationForTenant, verifyEmailWithLink } from '../identity/registration.ts'
import { MAX_PASSWORD_LENGTH } from '../identity/users.ts'

export interface SelfServiceDeps {
  config: Pick<Config, 'issuer' | 'siteName' | 'registration' | 'passwordMinLength'>
  prisma: Db
  provider: Provider
  audit: AuditWriter
  csrf: Csrf
  clock: Clock
  logger: Logger
  limits: RateLimits
  mfa: { box: SecretBox }
  /** Absent without SMTP: password reset by email is then not offered. */
  mailer?: Mailer | undefined
}

// The sign-in a reset was asked from (an interaction uid), to lead back there when done.
const RETURN_COOKIE = 'iam.ss.return'
const UID = /^[A-Za-z0-9_-]{1,64}$/

const tokenField = z.string().max(128)
const tokenOf = (ctx: Context) => {
  const token = (ctx.request.body as Record<string, unknown> | undefined)?.token
  return typeof token === 'string' ? token : undefined
}
const passwordField = z.string().max(MAX_PASSWORD_LENGTH, `Use at most ${MAX_PASSWORD_LENGTH} characters.`)
const newPasswordForm = z.object({ token: tokenField, password: passwordField, confirm: passwordField, name: z.string().trim().max(100, 'Use at most 100 characters for your name.').optional() })
const forgotForm = z.object({
  email: z.string().trim().min(1, 'Enter your email address.').max(254, 'That email address is too long.').pipe(z.email('Enter a valid email address, like name@example.com.')),
  interaction: z.string().regex(UID).optional().or(z.literal('')),
})

export function createSelfServiceRouter(deps: SelfServiceDeps): Router {
  const { config, prisma, audit, csrf, logger, mailer } = deps
  const router = new Router({ prefix: '/self-service' })
  const links = (): LinkStore => ({ prisma, box: deps.mfa.box, clock: deps.clock })
  const mail = { siteName: config.siteName, issuer: config.issuer }

  function page(ctx: Context, name: PageName, data: Record<string, unknown>) {
    ctx.set('Cache-Control', 'no-store')
    ctx.type = 'html'
    ctx.body = renderPage(name, pageContext(ctx, config.siteName, csrf), data)
  }

  function errorPage(ctx: Context, status: number, title: string, message: string, back: { href: string; label: string }) {
    ctx.status = status
    page(ctx, 'error', { title, message, backHref: back.href, backLabel: back.label })
  }

  const toAccount = { href: '/account', label: 'Go to your account' }
  const newResetLink = { href: '/self-service/forgot-password', label: 'Get a new link' }

  /** A link that cannot be used: what happened, and how to get one that works. */
  function linkRefused(ctx: Context, purpose: LinkPurpose, reason: 'unknown' | 'expired' | 'used') {
    const status = reason === 'unknown' ? 404 : 410
    const what = {
      unknown: 'This link is not valid. It may have been copied incompletely, or replaced by a newer link we sent you.',
      expired: 'This link has expired.',
      used: 'This link has already been used. Each link works once.',
    }[reason]
    if (purpose === 'reset_password') {
      return errorPage(ctx, status, reason === 'expired' ? 'Link expired' : 'Link not usable', `${what} Ask for a new link to choose your password; it works for ${describeLifetime(config.registration.resetTtl)}.`, newResetLink)
    }
    if (purpose === 'verify_email') {
      const next = reason === 'used'
        ? 'If you confirmed your address with it, you can simply sign in.'
        : 'Sign in with your email and password: we will offer to send you a new link.'
      return errorPage(ctx, status, reason === 'expired' ? 'Link expired' : 'Link not usable', `${what} ${next}`, { href: '/account', label: 'Sign in' })
    }
    return errorPage(ctx, status, reason === 'expired' ? 'Invitation expired' : 'Invitation not usable', `${what} Ask the person who invited you to send a new invitation.`, toAccount)
  }

  async function auditLinkRefusal(ctx: Context, type: string, checked: Extract<LinkCheck, { ok: false }>, stage: 'open' | 'use') {
    await audit.record(ctx, { type, outcome: 'failure', userId: checked.link?.userId ?? undefined, tenantId: checked.link?.tenantId ?? undefined, details: { reason: `link_${checked.reason}`, stage } })
  }

  // --- Email verification -------------------------------------------------------------------

  router.get('/verify-email', async (ctx) => {
    const checked = await inspectLink(links(), 'verify_email', ctx.query.token)
    if (!checked.ok) {
      await auditLinkRefusal(ctx, 'email_verified', checked, 'open')
      return linkRefused(ctx, 'verify_email', checked.reason)
    }
    page(ctx, 'verify-email', { email: checked.link.email, token: ctx.query.token, action: '/self-service/verify-email' })
  })

  router.post('/verify-email', async (ctx) => {
    const verified = await verifyEmailWithLink(links(), tokenOf(ctx))
    if (!verified.ok) {
      await auditLinkRefusal(ctx, 'email_verified', verified, 'use')
      return linkRefused(ctx, 'verify_email', verified.reason)
    }
    await audit.record(ctx, { type: 'email_verified', outcome: 'success', userId: verified.link.userId ?? undefined, tenantId: verified.link.tenantId ?? undefined })
    page(ctx, 'notice', {
      title: 'Your email address is confirmed',
      message: `Thank you: ${verified.link.email} is confirmed. You can now sign in.`,
      detail: 'If you were signing in to an application, go back to its page and sign in there.',
      backHref: '/account', backLabel: 'Sign in to your account',
    })
  })

  // --- Password reset ----------------------------------------------------------------------

  function resetUnavailable(ctx: Context) {
    return errorPage(ctx, 404, 'Password reset is not available', 'Passwords cannot be reset by email on this server. Contact your administrator to get a new password.', toAccount)
  }

  function backToSignIn(uid: string | undefined) {
    return uid ? { backHref: `/interaction/${uid}`, backLabel: 'Back to sign in' } : { backHref: '/account', backLabel: 'Back to sign in' }
  }

  router.get('/forgot-password', async (ctx) => {
    if (!mailer) return resetUnavailable(ctx)
    const uid = typeof ctx.query.interaction === 'string' && UID.test(ctx.query.interaction) ? ctx.query.interaction : undefined
    page(ctx, 'forgot-password', { action: '/self-service/forgot-password', interaction: uid, ...backToSignIn(uid) })
  })

  router.post('/forgot-password', async (ctx) => {
    if (!mailer) return resetUnavailable(ctx)
    const body = (ctx.request.body ?? {}) as Record<string, unknown>
    const uid = typeof body.interaction === 'string' && UID.test(body.interaction) ? body.interaction : undefined
    const parsed = forgotForm.safeParse(body)
    if (!parsed.success) {
      await audit.record(ctx, { type: 'password_reset_requested', outcome: 'failure', details: { reason: 'invalid_form' } })
      ctx.status = 400
      return page(ctx, 'forgot-password', {
        action: '/self-service/forgot-password', interaction: uid, ...backToSignIn(uid),
        email: typeof body.email === 'string' ? body.email.slice(0, 254) : '', error: parsed.error.issues[0]!.message,
      })
    }
    const email = parsed.data.email
    // Known and unknown addresses count alike, so a refusal tells nothing either.
    const limited = await deps.limits.consume('resetRequest', { ip: ctx.ip, account: email }, { ctx })
    if (!limited.ok) {
      return page(ctx, 'forgot-password', { action: '/self-service/forgot-password', interaction: uid, ...backToSignIn(uid), email, error: tooManyRequests(ctx, limited.retryAfter, 'Too many reset links were asked for.') })
    }
    // Whether mail can go out is checked for every address alike (a greeting, nothing sent): an
    // outage gets its own clear page, and that page says nothing about the address either.
    try {
      await mailer.check()
    } catch (err) {
      logger.warn({ err: { message: (err as Error).message }, reqId: ctx.state.requestId }, 'password reset: the mail server is not reachable')
      await audit.record(ctx, { type: 'password_reset_requested', outcome: 'failure', details: { reason: 'mail_unavailable' } })
      return errorPage(ctx, 503, 'We cannot send email right now', 'Our mail server is not answering, so we cannot send you a link. Nothing was changed. Please try again in a few minutes.', { href: `/self-service/forgot-password${uid ? `?interaction=${uid}` : ''}`, label: 'Try again' })
    }
    if (uid) ctx.cookies.set(RETURN_COOKIE, uid, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/self-service', maxAge: config.registration.resetTtl * 1000, overwrite: true })
    // Everything that depends on whether the address has an account happens after the answer:
    // the response (status, headers, body, timing) is the same for every address. A send that
    // fails later is logged and audited, and its link deleted (it was never delivered).
    setImmediate(() => {
      requestPasswordReset({ ...links(), mailer, mail, resetTtl: config.registration.resetTtl }, email)
        .then((result) => audit.record(ctx, {
          type: 'password_reset_requested',
          outcome: result.outcome === 'sent' ? 'success' : 'failure',
          userId: result.userId,
          details: result.outcome === 'sent' ? {} : result.outcome === 'send_failed' ? { reason: 'mail_failed', error: result.error } : { reason: result.reason },
        }))
        .catch((err: unknown) => logger.error({ err, reqId: ctx.state.requestId }, 'password reset request failed'))
    })
    page(ctx, 'notice', {
      title: 'Check your email',
      message: `If an account exists for the address you entered, we have sent it a link to choose a new password. The link works once, for ${describeLifetime(config.registration.resetTtl)}.`,
      detail: 'Nothing arrived after a few minutes? Check your spam folder and the address you typed, or ask again.',
      ...backToSignIn(uid),
    })
  })

  async function resetForm(ctx: Context, token: string, email: string, extra: { error?: string; errorField?: string } = {}) {
    page(ctx, 'reset-password', {
      action: '/self-service/reset-password', token, username: email,
      hint: passwordHint(config.passwordMinLength), minLength: config.passwordMinLength, ...extra,
    })
  }

  router.get('/reset-password', async (ctx) => {
    const checked = await inspectLink(links(), 'reset_password', ctx.query.token)
    if (!checked.ok) {
      await auditLinkRefusal(ctx, 'password_reset', checked, 'open')
      return linkRefused(ctx, 'reset_password', checked.reason)
    }
    return resetForm(ctx, String(ctx.query.token), checked.link.email)
  })

  router.post('/reset-password', async (ctx) => {
    const parsed = newPasswordForm.safeParse(ctx.request.body ?? {})
    // Read apart from the form: a password that is refused must not make the link look invalid.
    const token = tokenOf(ctx)
    const checked = await inspectLink(links(), 'reset_password', token)
    if (!checked.ok) {
      await auditLinkRefusal(ctx, 'password_reset', checked, 'use')
      return linkRefused(ctx, 'reset_password', checked.reason)
    }
    const { link } = checked
    const refuse = async (reason: string, error: string, errorField: string) => {
      await audit.record(ctx, { type: 'password_reset', outcome: 'failure', userId: link.userId ?? undefined, details: { reason } })
      ctx.status = 400
      return resetForm(ctx, token!, link.email, { error, errorField })
    }
    if (!parsed.success) return refuse('invalid_form', parsed.error.issues[0]!.message, 'password')
    const user = await findUserNames(prisma, link.userId ?? '')
    const policy = checkNewPassword(parsed.data.password, { minLength: config.passwordMinLength, userInputs: [link.email, user?.username, user?.displayName, user?.givenName, user?.familyName] })
    if (!policy.ok) return refuse('password_policy', policy.message, 'password')
    if (parsed.data.password !== parsed.data.confirm) return refuse('password_mismatch', 'The two passwords do not match.', 'confirm')

    const done = await completePasswordReset({ ...links(), provider: deps.provider, audit }, token, parsed.data.password, ctx)
    if (!done.ok) {
      await audit.record(ctx, { type: 'password_reset', outcome: 'failure', userId: link.userId ?? undefined, details: { reason: done.reason === 'disabled' ? 'account_disabled' : `link_${done.reason}`, stage: 'use' } })
      if (done.reason === 'disabled') return errorPage(ctx, 403, 'Account disabled', 'This account is disabled, so its password cannot be changed. Contact your administrator.', toAccount)
      return linkRefused(ctx, 'reset_password', done.reason)
    }
    await audit.record(ctx, { type: 'password_reset', outcome: 'success', userId: done.userId, tenantId: link.tenantId ?? undefined, details: { sessionsEnded: done.sessionsEnded, grantsRevoked: done.grantsRevoked } })
    page(ctx, 'notice', {
      title: 'Your password was changed',
      message: 'You can now sign in with your new password. For your safety you were signed out everywhere, and applications will ask you to sign in again.',
      ...(await returnToSignIn(ctx)),
    })
  })

  /** Back to the sign-in the reset was asked from, when this browser has it and it is still open. */
  async function returnToSignIn(ctx: Context): Promise<{ backHref: string; backLabel: string }> {
    const uid = ctx.cookies.get(RETURN_COOKIE, { signed: true })
    ctx.cookies.set(RETURN_COOKIE, null, { signed: true, path: '/self-service', overwrite: true })
    if (uid && UID.test(uid) && await deps.provider.Interaction.find(uid)) return { backHref: `/interaction/${uid}`, backLabel: 'Continue to sign in' }
    return { backHref: '/account', backLabel: 'Sign in to your account' }
  }

  // --- Invitations -------------------------------------------------------------------------

  async function invitationForm(ctx: Context, token: string, email: string, extra: { name?: string; error?: string; errorField?: string } = {}) {
    page(ctx, 'register', {
      action: '/self-service/invitation', token, email, invited: true,
      hint: passwordHint(config.passwordMinLength), minLength: config.passwordMinLength,
      backHref: '/account', backLabel: 'I already have an account: sign in', ...extra,
    })
  }

  function registrationClosed(ctx: Context) {
    return errorPage(ctx, 403, 'Registration is closed', 'New accounts cannot be created here any more, even with an invitation. If you need one, ask your administrator.', toAccount)
  }

  router.get('/invitation', async (ctx) => {
    const checked = await inspectLink(links(), 'invite', ctx.query.token)
    if (!checked.ok) {
      await auditLinkRefusal(ctx, 'registration', checked, 'open')
      return linkRefused(ctx, 'invite', checked.reason)
    }
    if (await registrationForTenant(prisma, checked.link.tenantId, config.registration.mode) === 'closed') {
      await audit.record(ctx, { type: 'registration', outcome: 'failure', tenantId: checked.link.tenantId ?? undefined, details: { reason: 'mode_closed', method: 'invite' } })
      return registrationClosed(ctx)
    }
    return invitationForm(ctx, String(ctx.query.token), checked.link.email)
  })

  router.post('/invitation', async (ctx) => {
    const parsed = newPasswordForm.safeParse(ctx.request.body ?? {})
    const token = tokenOf(ctx)
    const checked = await inspectLink(links(), 'invite', token)
    if (!checked.ok) {
      await auditLinkRefusal(ctx, 'registration', checked, 'use')
      return linkRefused(ctx, 'invite', checked.reason)
    }
    const { link } = checked
    const name = parsed.success ? parsed.data.name : undefined
    const refuse = async (reason: string, error: string, errorField: string) => {
      await audit.record(ctx, { type: 'registration', outcome: 'failure', tenantId: link.tenantId ?? undefined, details: { reason, method: 'invite' } })
      ctx.status = 400
      return invitationForm(ctx, token!, link.email, { name, error, errorField })
    }
    if (!parsed.success) return refuse('invalid_form', parsed.error.issues[0]!.message, String(parsed.error.issues[0]!.path[0] ?? 'password'))
    const policy = checkNewPassword(parsed.data.password, { minLength: config.passwordMinLength, userInputs: [link.email, name] })
    if (!policy.ok) return refuse('password_policy', policy.message, 'password')
    if (parsed.data.password !== parsed.data.confirm) return refuse('password_mismatch', 'The two passwords do not match.', 'confirm')

    const accepted = await acceptInvitation({ ...links(), defaultMode: config.registration.mode }, token, { displayName: name || undefined, password: parsed.data.password })
    if (!accepted.ok) {
      await audit.record(ctx, { type: 'registration', outcome: 'failure', tenantId: link.tenantId ?? undefined, details: { reason: ['unknown', 'expired', 'used'].includes(accepted.reason) ? `link_${accepted.reason}` : accepted.reason, method: 'invite', stage: 'use' } })
      if (accepted.reason === 'closed') return registrationClosed(ctx)
      if (accepted.reason === 'exists') return errorPage(ctx, 409, 'You already have an account', `There is already an account for ${link.email}. Sign in with it; if you have forgotten its password, you can choose a new one.`, toAccount)
      return linkRefused(ctx, 'invite', accepted.reason)
    }
    await audit.record(ctx, { type: 'registration', outcome: 'success', userId: accepted.userId, tenantId: accepted.tenantId ?? undefined, details: { method: 'invite' } })
    page(ctx, 'notice', {
      title: 'Your account is ready',
      message: `Your account for ${link.email} is set up. Sign in with your email address and the password you chose.`,
      backHref: '/account', backLabel: 'Sign in to your account',
    })
  })

  return router
}

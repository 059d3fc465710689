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
import type { Translator } from '../i18n/catalogs.ts'
import { inspectLink, type LinkCheck, type LinkPurpose, type LinkStore } from '../identity/account-links.ts'
import { checkNewPassword } from '../identity/password-policy.ts'
import { formIssueText, passwordHintText, passwordRefusalText } from '../pages/self-service-text.ts'
import { pageWords } from '../pages/page-text.ts'
import { spellDuration, spellWait } from '../i18n/durations.ts'
import { completePasswordReset, requestPasswordReset } from '../identity/password-reset.ts'
import { localeOfRequest } from '../i18n/request.ts'
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
// The forms' messages are catalog keys (src/pages/self-service-text.ts words them for the page).
const passwordField = z.string().max(MAX_PASSWORD_LENGTH, 'reset.passwordTooLong')
const newPasswordForm = z.object({ token: tokenField, password: passwordField, confirm: passwordField, name: z.string().trim().max(100, 'register.errorNameTooLong').optional() })
const NEW_PASSWORD_MESSAGES = ['reset.passwordTooLong', 'register.errorNameTooLong']
const forgotForm = z.object({
  email: z.string().trim().min(1, 'reset.errorEmailMissing').max(254, 'reset.errorEmailTooLong').pipe(z.email('reset.errorEmailInvalid')),
  interaction: z.string().regex(UID).optional().or(z.literal('')),
})
const FORGOT_MESSAGES = ['reset.errorEmailMissing', 'reset.errorEmailTooLong', 'reset.errorEmailInvalid']

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

  /** A link that cannot be used: what happened, and how to get one that works. */
  function linkRefused(ctx: Context, purpose: LinkPurpose, reason: 'unknown' | 'expired' | 'used') {
    const status = reason === 'unknown' ? 404 : 410
    const i18n = pageWords(ctx, 'error')
    if (purpose === 'reset_password') {
      const lifetime = spellDuration(config.registration.resetTtl, i18n.locale)
      const message = { unknown: i18n.t('reset.linkUnknown', { lifetime }), expired: i18n.t('reset.linkExpired', { lifetime }), used: i18n.t('reset.linkUsed', { lifetime }) }[reason]
      return errorPage(ctx, status, reason === 'expired' ? i18n.t('reset.linkExpiredTitle') : i18n.t('reset.linkUnusableTitle'), message, { href: '/self-service/forgot-password', label: i18n.t('reset.newLink') })
    }
    if (purpose === 'verify_email') {
      const message = { unknown: i18n.t('verify.linkUnknown'), expired: i18n.t('verify.linkExpired'), used: i18n.t('verify.linkUsed') }[reason]
      return errorPage(ctx, status, reason === 'expired' ? i18n.t('verify.linkExpiredTitle') : i18n.t('verify.linkUnusableTitle'), message, { href: '/account', label: i18n.t('verify.signIn') })
    }
    const message = { unknown: i18n.t('register.invitationUnknown'), expired: i18n.t('register.invitationExpired'), used: i18n.t('register.invitationUsed') }[reason]
    return errorPage(ctx, status, reason === 'expired' ? i18n.t('register.invitationExpiredTitle') : i18n.t('register.invitationUnusableTitle'), message, { href: '/account', label: i18n.t('register.toAccount') })
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
    const i18n = pageWords(ctx, 'notice')
    page(ctx, 'notice', {
      title: i18n.t('verify.confirmedTitle'),
      message: i18n.t('verify.confirmedMessage', { email: verified.link.email }),
      detail: i18n.t('verify.confirmedDetail'),
      backHref: '/account', backLabel: i18n.t('verify.signInToAccount'),
    })
  })

  // --- Password reset ----------------------------------------------------------------------

  function resetUnavailable(ctx: Context) {
    const i18n = pageWords(ctx, 'error')
    return errorPage(ctx, 404, i18n.t('reset.unavailableTitle'), i18n.t('reset.unavailableMessage'), { href: '/account', label: i18n.t('reset.toAccount') })
  }

  /** The way back to the sign-in a reset was asked from, labelled for `name`'s page. */
  function backToSignIn(ctx: Context, name: PageName, uid: string | undefined) {
    return { backHref: uid ? `/interaction/${uid}` : '/account', backLabel: pageWords(ctx, name).t('reset.backToSignIn') }
  }

  router.get('/forgot-password', async (ctx) => {
    if (!mailer) return resetUnavailable(ctx)
    const uid = typeof ctx.query.interaction === 'string' && UID.test(ctx.query.interaction) ? ctx.query.interaction : undefined
    page(ctx, 'forgot-password', { action: '/self-service/forgot-password', interaction: uid, ...backToSignIn(ctx, 'forgot-password', uid) })
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
        action: '/self-service/forgot-password', interaction: uid, ...backToSignIn(ctx, 'forgot-password', uid),
        email: typeof body.email === 'string' ? body.email.slice(0, 254) : '',
        error: formIssueText(pageWords(ctx, 'forgot-password'), parsed.error.issues[0]!.message, FORGOT_MESSAGES, 'reset.errorEmailInvalid'),
      })
    }
    const email = parsed.data.email
    // Known and unknown addresses count alike, so a refusal tells nothing either.
    const limited = await deps.limits.consume('resetRequest', { ip: ctx.ip, account: email }, { ctx })
    if (!limited.ok) {
      tooManyRequests(ctx, limited.retryAfter)
      const i18n = pageWords(ctx, 'forgot-password')
      return page(ctx, 'forgot-password', { action: '/self-service/forgot-password', interaction: uid, ...backToSignIn(ctx, 'forgot-password', uid), email, error: i18n.t('reset.tooMany', { wait: spellWait(limited.retryAfter, i18n.locale) }) })
    }
    // Whether mail can go out is checked for every address alike (a greeting, nothing sent): an
    // outage gets its own clear page, and that page says nothing about the address either.
    try {
      await mailer.check()
    } catch (err) {
      logger.warn({ err: { message: (err as Error).message }, reqId: ctx.state.requestId }, 'password reset: the mail server is not reachable')
      await audit.record(ctx, { type: 'password_reset_requested', outcome: 'failure', details: { reason: 'mail_unavailable' } })
      const i18n = pageWords(ctx, 'error')
      return errorPage(ctx, 503, i18n.t('reset.mailDownTitle'), i18n.t('reset.mailDownMessage'), { href: `/self-service/forgot-password${uid ? `?interaction=${uid}` : ''}`, label: i18n.t('reset.tryAgain') })
    }
    if (uid) ctx.cookies.set(RETURN_COOKIE, uid, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/self-service', maxAge: config.registration.resetTtl * 1000, overwrite: true })
    // Everything that depends on whether the address has an account happens after the answer:
    // the response (status, headers, body, timing) is the same for every address. A send that
    // fails later is logged and audited, and its link deleted (it was never delivered).
    setImmediate(() => {
      requestPasswordReset({ ...links(), mailer, mail, resetTtl: config.registration.resetTtl }, email, localeOfRequest(ctx))
        .then((result) => audit.record(ctx, {
          type: 'password_reset_requested',
          outcome: result.outcome === 'sent' ? 'success' : 'failure',
          userId: result.userId,
          details: result.outcome === 'sent' ? {} : result.outcome === 'send_failed' ? { reason: 'mail_failed', error: result.error } : { reason: result.reason },
        }))
        .catch((err: unknown) => logger.error({ err, reqId: ctx.state.requestId }, 'password reset request failed'))
    })
    const i18n = pageWords(ctx, 'notice')
    page(ctx, 'notice', {
      title: i18n.t('reset.sentTitle'),
      message: i18n.t('reset.sentMessage', { lifetime: spellDuration(config.registration.resetTtl, i18n.locale) }),
      detail: i18n.t('reset.sentDetail'),
      ...backToSignIn(ctx, 'notice', uid),
    })
  })

  async function resetForm(ctx: Context, token: string, email: string, extra: { error?: string; errorField?: string } = {}) {
    page(ctx, 'reset-password', {
      action: '/self-service/reset-password', token, username: email,
      hint: passwordHintText(pageWords(ctx, 'reset-password'), config.passwordMinLength), minLength: config.passwordMinLength, ...extra,
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
    const i18n = pageWords(ctx, 'reset-password')
    if (!parsed.success) return refuse('invalid_form', formIssueText(i18n, parsed.error.issues[0]!.message, NEW_PASSWORD_MESSAGES, 'reset.passwordTooLong'), 'password')
    const user = await findUserNames(prisma, link.userId ?? '')
    const policy = checkNewPassword(parsed.data.password, { minLength: config.passwordMinLength, userInputs: [link.email, user?.username, user?.displayName, user?.givenName, user?.familyName] })
    if (!policy.ok) return refuse('password_policy', passwordRefusalText(i18n, policy, config.passwordMinLength), 'password')
    if (parsed.data.password !== parsed.data.confirm) return refuse('password_mismatch', i18n.t('reset.passwordMismatch'), 'confirm')

    const done = await completePasswordReset({ ...links(), provider: deps.provider, audit }, token, parsed.data.password, ctx)
    if (!done.ok) {
      await audit.record(ctx, { type: 'password_reset', outcome: 'failure', userId: link.userId ?? undefined, details: { reason: done.reason === 'disabled' ? 'account_disabled' : `link_${done.reason}`, stage: 'use' } })
      if (done.reason === 'disabled') {
        const i18n = pageWords(ctx, 'error')
        return errorPage(ctx, 403, i18n.t('reset.disabledTitle'), i18n.t('reset.disabledMessage'), { href: '/account', label: i18n.t('reset.toAccount') })
      }
      return linkRefused(ctx, 'reset_password', done.reason)
    }
    await audit.record(ctx, { type: 'password_reset', outcome: 'success', userId: done.userId, tenantId: link.tenantId ?? undefined, details: { sessionsEnded: done.sessionsEnded, grantsRevoked: done.grantsRevoked } })
    const words = pageWords(ctx, 'notice')
    page(ctx, 'notice', {
      title: words.t('reset.doneTitle'),
      message: words.t('reset.doneMessage'),
      ...(await returnToSignIn(ctx, words)),
    })
  })

  /** Back to the sign-in the reset was asked from, when this browser has it and it is still open. */
  async function returnToSignIn(ctx: Context, i18n: Translator): Promise<{ backHref: string; backLabel: string }> {
    const uid = ctx.cookies.get(RETURN_COOKIE, { signed: true })
    ctx.cookies.set(RETURN_COOKIE, null, { signed: true, path: '/self-service', overwrite: true })
    if (uid && UID.test(uid) && await deps.provider.Interaction.find(uid)) return { backHref: `/interaction/${uid}`, backLabel: i18n.t('reset.continueToSignIn') }
    return { backHref: '/account', backLabel: i18n.t('reset.signInToAccount') }
  }

  // --- Invitations -------------------------------------------------------------------------

  async function invitationForm(ctx: Context, token: string, email: string, extra: { name?: string; error?: string; errorField?: string } = {}) {
    page(ctx, 'register', {
      action: '/self-service/invitation', token, email, invited: true,
      hint: passwordHintText(pageWords(ctx, 'register'), config.passwordMinLength), minLength: config.passwordMinLength,
      backHref: '/account', ...extra,
    })
  }

  function registrationClosed(ctx: Context) {
    const i18n = pageWords(ctx, 'error')
    return errorPage(ctx, 403, i18n.t('register.closedTitle'), i18n.t('register.invitationClosedMessage'), { href: '/account', label: i18n.t('register.toAccount') })
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
    const i18n = pageWords(ctx, 'register')
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      const field = String(issue.path[0] ?? 'password')
      return refuse('invalid_form', formIssueText(i18n, issue.message, NEW_PASSWORD_MESSAGES, field === 'name' ? 'register.errorNameTooLong' : 'reset.passwordTooLong'), field)
    }
    const policy = checkNewPassword(parsed.data.password, { minLength: config.passwordMinLength, userInputs: [link.email, name] })
    if (!policy.ok) return refuse('password_policy', passwordRefusalText(i18n, policy, config.passwordMinLength), 'password')
    if (parsed.data.password !== parsed.data.confirm) return refuse('password_mismatch', i18n.t('reset.passwordMismatch'), 'confirm')

    const accepted = await acceptInvitation({ ...links(), defaultMode: config.registration.mode }, token, { displayName: name || undefined, password: parsed.data.password })
    if (!accepted.ok) {
      await audit.record(ctx, { type: 'registration', outcome: 'failure', tenantId: link.tenantId ?? undefined, details: { reason: ['unknown', 'expired', 'used'].includes(accepted.reason) ? `link_${accepted.reason}` : accepted.reason, method: 'invite', stage: 'use' } })
      if (accepted.reason === 'closed') return registrationClosed(ctx)
      if (accepted.reason === 'exists') {
        const words = pageWords(ctx, 'error')
        return errorPage(ctx, 409, words.t('register.existsTitle'), words.t('register.existsMessage', { email: link.email }), { href: '/account', label: words.t('register.toAccount') })
      }
      return linkRefused(ctx, 'invite', accepted.reason)
    }
    await audit.record(ctx, { type: 'registration', outcome: 'success', userId: accepted.userId, tenantId: accepted.tenantId ?? undefined, details: { method: 'invite' } })
    const words = pageWords(ctx, 'notice')
    page(ctx, 'notice', {
      title: words.t('register.readyTitle'),
      message: words.t('register.readyMessage', { email: link.email }),
      backHref: '/account', backLabel: words.t('register.signInToAccount'),
    })
  })

  return router
}

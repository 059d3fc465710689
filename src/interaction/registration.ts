// Inside a sign-in: "Create an account" (open registration) and the hold of accounts whose email
// is not verified yet (REQUIRE_VERIFIED_EMAIL), with its "send a new link" button. The links in
// the emails lead to /self-service/ (src/self-service/routes.ts), which needs no interaction.
import type Router from '@koa/router'
import type { Context } from 'koa'
import { z } from 'zod'
import type { Config } from '../config.ts'
import type { Mailer } from '../mail/mailer.ts'
import type { SecretBox } from '../security/encryption.ts'
import { describeLifetime } from '../mail/link-mails.ts'
import { maskDestination } from '../mfa/factors.ts'
import { checkNewPassword, passwordHint } from '../identity/password-policy.ts'
import { MAX_PASSWORD_LENGTH } from '../identity/users.ts'
import { registerWithEmail, registrationForClient, resendVerification, type RegistrationDeps } from '../identity/registration.ts'
import { tooManyRequests } from '../security/rate-limits.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'

export interface RegistrationRouteDeps {
  config: Pick<Config, 'issuer' | 'siteName' | 'registration' | 'passwordMinLength'>
  mailer?: Mailer | undefined
  box: SecretBox
}

/** What the password step asks of this module. */
export interface SelfServiceHooks {
  passwordMinLength: number
  /** The "Create an account" and "Forgot your password?" links of the login page, where offered. */
  loginLinks(details: Details): Promise<{ registerHref?: string; forgotHref?: string }>
  /**
   * After a right password: holds an account whose email is not verified (and answers with the
   * page saying so); false to go on signing in.
   */
  holdUnverified(ctx: Context, details: Details, user: { userId: string; email: string; emailVerified: boolean }): Promise<boolean>
}

// The account held at sign-in, kept in the interaction (server-side) for the resend button.
const HOLD = 'iam:verifyHold'
interface HoldState { accountId: string }

/** Between two verification mails to one account (a held person pressing "send" repeatedly). */
export const VERIFICATION_RESEND_SECONDS = 60

const registerForm = z.object({
  email: z.string().trim().min(1, 'Enter your email address.').max(254, 'That email address is too long.').pipe(z.email('Enter a valid email address, like name@example.com.')),
  name: z.string().trim().max(100, 'Use at most 100 characters for your name.').optional(),
  password: z.string().min(1, 'Choose a password.').max(MAX_PASSWORD_LENGTH, `Use at most ${MAX_PASSWORD_LENGTH} characters.`),
  confirm: z.string().max(MAX_PASSWORD_LENGTH),
})

export function registerRegistrationRoutes(
  router: Router, kit: InteractionKit, deps: RegistrationRouteDeps,
  hooks: { afterPrimary(ctx: Context, details: Details, accountId: string, amr: string[]): Promise<void> },
): SelfServiceHooks {
  const { prisma, audit, page, load, clientName } = kit
  const { config, mailer } = deps
  const registration: RegistrationDeps = {
    prisma, box: deps.box, clock: kit.clock, mailer,
    mail: { siteName: config.siteName, issuer: config.issuer }, settings: config.registration,
  }

  /** Open registration is offered where the client's tenant is open and mail can be sent. */
  async function availability(details: Details) {
    const where = await registrationForClient(prisma, String(details.params.client_id), config.registration.mode)
    return { ...where, offered: where.mode === 'open' && Boolean(mailer) }
  }

  async function refuseRegistration(ctx: Context, details: Details, mode: string) {
    await audit.record(ctx, { type: 'registration', outcome: 'failure', clientId: String(details.params.client_id), details: { reason: mode === 'open' ? 'mail_not_configured' : `mode_${mode}` } })
    const back = { backHref: `/interaction/${details.uid}`, backLabel: 'Back to sign in' }
    if (mode === 'open') {
      ctx.status = 404
      return page(ctx, 'error', { title: 'Registration is not available', message: 'New accounts cannot be created on this server right now. Contact your administrator.', ...back }, details.uid)
    }
    ctx.status = 403
    const message = mode === 'invite'
      ? 'Accounts here are created by invitation only. Ask your administrator for an invitation: it comes by email with a link to set up your account.'
      : 'New accounts cannot be created here. If you need one, ask your administrator.'
    return page(ctx, 'error', { title: 'Registration is closed', message, ...back }, details.uid)
  }

  async function renderForm(ctx: Context, details: Details, state: { email?: string; name?: string; error?: string; errorField?: string }) {
    page(ctx, 'register', {
      action: `/interaction/${details.uid}/register`, client: await clientName(details),
      hint: passwordHint(config.passwordMinLength), minLength: config.passwordMinLength,
      backHref: `/interaction/${details.uid}`, backLabel: 'I already have an account: sign in', ...state,
    }, details.uid)
  }

  router.get('/:uid/register', load, async (ctx) => {
    const details = ctx.state.interaction as Details
    if (details.prompt.name !== 'login') return ctx.redirect(`/interaction/${details.uid}`)
    const { mode, offered } = await availability(details)
    if (!offered) return refuseRegistration(ctx, details, mode)
    return renderForm(ctx, details, {})
  })

  router.post('/:uid/register', load, async (ctx) => {
    const details = ctx.state.interaction as Details
    if (details.prompt.name !== 'login') return ctx.redirect(`/interaction/${details.uid}`)
    const clientId = String(details.params.client_id)
    const { mode, offered, tenantId } = await availability(details)
    if (!offered) return refuseRegistration(ctx, details, mode)
    const body = formBody(ctx)
    const typed = { email: typeof body.email === 'string' ? body.email.slice(0, 254) : '', name: typeof body.name === 'string' ? body.name.slice(0, 100) : '' }
    const refuse = async (status: number, reason: string, error: string, errorField: string) => {
      await audit.record(ctx, { type: 'registration', outcome: 'failure', clientId, details: { reason } })
      ctx.status = status
      return renderForm(ctx, details, { ...typed, error, errorField })
    }
    const parsed = registerForm.safeParse(body)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      return refuse(400, 'invalid_form', issue.message, String(issue.path[0] ?? 'email'))
    }
    const { email, name, password, confirm } = parsed.data
    const policy = checkNewPassword(password, { minLength: config.passwordMinLength, userInputs: [email, name] })
    if (!policy.ok) return refuse(400, 'password_policy', policy.message, 'password')
    if (password !== confirm) return refuse(400, 'password_mismatch', 'The two passwords do not match.', 'confirm')
    // Counted only for forms that would create an account and send a mail: fixing a typo is free.
    const limited = await kit.limits.consume('registration', { ip: ctx.ip, account: email }, { ctx, clientId })
    if (!limited.ok) return renderForm(ctx, details, { ...typed, error: tooManyRequests(ctx, limited.retryAfter, 'Too many accounts were asked for.'), errorField: 'email' })

    const result = await registerWithEmail(registration, { email, displayName: name || undefined, password, tenantId })
    if (result.outcome === 'mail_failed') {
      await audit.record(ctx, { type: 'registration', outcome: 'failure', userId: result.userId, clientId, details: { reason: 'mail_failed', error: result.error } })
      ctx.status = 503
      return page(ctx, 'error', {
        title: 'We could not send the email',
        message: 'Creating an account needs an email to confirm your address, and our mail server did not accept it just now. Nothing was saved. Please try again in a few minutes.',
        backHref: `/interaction/${details.uid}/register`, backLabel: 'Try again',
      }, details.uid)
    }
    if (result.outcome === 'exists') {
      await audit.record(ctx, { type: 'registration', outcome: 'failure', userId: result.userId, clientId, details: { reason: 'email_taken' } })
    } else {
      await audit.record(ctx, { type: 'registration', outcome: 'success', userId: result.userId, tenantId, clientId, details: { method: 'open' } })
      await audit.record(ctx, { type: 'email_verification_sent', outcome: 'success', userId: result.userId, clientId, details: { reason: 'registration' } })
      // Verification not required: the new account signs in right away (the link still verifies
      // the address later). This path tells a new address from a taken one; see README.
      if (!config.registration.requireVerifiedEmail) return hooks.afterPrimary(ctx, details, result.userId, ['pwd'])
    }
    return page(ctx, 'notice', {
      title: 'Check your email',
      message: `We sent an email to ${email}. Open the link in it to confirm your address and finish creating your account; it works for ${describeLifetime(config.registration.verificationTtl)}.`,
      detail: 'Once you have confirmed it, come back here and sign in. Nothing arrived? Check your spam folder.',
      backHref: `/interaction/${details.uid}`, backLabel: 'Continue to sign in',
    }, details.uid)
  })

  async function renderHold(ctx: Context, details: Details, email: string, extra: { notice?: string; error?: string } = {}) {
    page(ctx, 'notice', {
      title: 'Confirm your email address first',
      message: `Your password is right, but your email address ${maskDestination('email', email)} is not confirmed yet. Open the link we emailed you, then sign in again.`,
      detail: 'Cannot find the email, or the link has expired? We can send a new one.',
      form: mailer ? { action: `/interaction/${details.uid}/verify-email/resend`, label: 'Send a new link' } : undefined,
      backHref: `/interaction/${details.uid}`, backLabel: 'Back to sign in', ...extra,
    }, details.uid)
  }

  router.post('/:uid/verify-email/resend', load, async (ctx) => {
    const details = ctx.state.interaction as Details
    const accountId = kit.readState<HoldState>(details, HOLD)?.accountId
    if (!accountId || details.prompt.name !== 'login') return ctx.redirect(`/interaction/${details.uid}`)
    const clientId = String(details.params.client_id)
    const user = await prisma.user.findUnique({ where: { id: accountId } })
    if (!user || user.status !== 'active' || user.emailVerified) return ctx.redirect(`/interaction/${details.uid}`)
    const limited = await kit.limits.consume('codeSend', { ip: ctx.ip, account: user.email }, { ctx, userId: user.id, clientId })
    if (!limited.ok) return renderHold(ctx, details, user.email, { error: tooManyRequests(ctx, limited.retryAfter, 'Too many emails were asked for.') })
    const sent = await resendVerification(registration, user, VERIFICATION_RESEND_SECONDS)
    await audit.record(ctx, { type: 'email_verification_sent', outcome: sent.ok ? 'success' : 'failure', userId: user.id, clientId, details: sent.ok ? { reason: 'resend' } : { reason: sent.reason, ...(sent.reason === 'send_failed' ? { error: sent.error } : {}) } })
    if (sent.ok) return renderHold(ctx, details, user.email, { notice: `We sent a new link to ${maskDestination('email', user.email)}. It works for ${describeLifetime(config.registration.verificationTtl)}; earlier links no longer do.` })
    if (sent.reason === 'throttled') {
      return renderHold(ctx, details, user.email, { error: tooManyRequests(ctx, sent.retryAfter, 'We sent you a link a moment ago: look for that one first.') })
    }
    ctx.status = 503
    return renderHold(ctx, details, user.email, { error: 'We could not send the email just now. Please try again in a few minutes.' })
  })

  return {
    passwordMinLength: config.passwordMinLength,

    async loginLinks(details) {
      if (!mailer) return {}
      const { offered } = await availability(details)
      return {
        forgotHref: `/self-service/forgot-password?interaction=${encodeURIComponent(details.uid)}`,
        ...(offered ? { registerHref: `/interaction/${details.uid}/register` } : {}),
      }
    },

    async holdUnverified(ctx, details, user) {
      if (!config.registration.requireVerifiedEmail || user.emailVerified) return false
      const { userId } = user
      await audit.record(ctx, { type: 'login', outcome: 'failure', userId, clientId: String(details.params.client_id), details: { reason: 'email_unverified', method: 'pwd' } })
      await kit.provider.interactionResult(ctx.req, ctx.res, { [HOLD]: { accountId: userId } satisfies HoldState }, { mergeWithLastSubmission: false })
      ctx.status = 403
      await renderHold(ctx, details, user.email)
      return true
    },
  }
}

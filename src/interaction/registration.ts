// The registration step, inside a sign-in: "Create an account" (open registration), and the login
// page's links to it and to "Forgot your password?". The links in the emails lead to
// /self-service/ (src/self-service/routes.ts), which needs no interaction. The hold of accounts
// whose email is not verified yet is its own step (verify-hold.ts).
import type { Context } from 'koa'
import { z } from 'zod'
import type { Config } from '../config.ts'
import type { Mailer } from '../mail/mailer.ts'
import type { SecretBox } from '../security/encryption.ts'
import { checkNewPassword } from '../identity/password-policy.ts'
import { formIssueText, passwordHintText, passwordRefusalText } from '../pages/self-service-text.ts'
import { pageWords } from '../pages/page-text.ts'
import { spellDuration, spellWait } from '../i18n/durations.ts'
import { MAX_PASSWORD_LENGTH } from '../identity/users.ts'
import { registerWithEmail, registrationForClient, type RegistrationDeps } from '../identity/registration.ts'
import { localeOfRequest } from '../i18n/request.ts'
import { tooManyRequests } from '../security/rate-limits.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'
import type { InteractionStep } from './steps.ts'

export interface RegistrationRouteDeps {
  config: Pick<Config, 'issuer' | 'siteName' | 'registration' | 'passwordMinLength'>
  mailer?: Mailer | undefined
  box: SecretBox
}

/** What identity/registration.ts needs, from the interaction's dependencies. */
export function registrationDepsOf(kit: InteractionKit, deps: RegistrationRouteDeps): RegistrationDeps {
  const { config, mailer } = deps
  return {
    prisma: kit.prisma, box: deps.box, clock: kit.clock, mailer,
    mail: { siteName: config.siteName, issuer: config.issuer }, settings: config.registration,
  }
}

// The messages are catalog keys (src/pages/self-service-text.ts words them for the page).
const registerForm = z.object({
  email: z.string().trim().min(1, 'register.errorEmailMissing').max(254, 'register.errorEmailTooLong').pipe(z.email('register.errorEmailInvalid')),
  name: z.string().trim().max(100, 'register.errorNameTooLong').optional(),
  password: z.string().min(1, 'register.errorPasswordMissing').max(MAX_PASSWORD_LENGTH, 'reset.passwordTooLong'),
  confirm: z.string().max(MAX_PASSWORD_LENGTH, 'reset.passwordTooLong'),
})
const REGISTER_MESSAGES = ['register.errorEmailMissing', 'register.errorEmailTooLong', 'register.errorEmailInvalid', 'register.errorNameTooLong', 'register.errorPasswordMissing', 'reset.passwordTooLong']
/** For an issue the schema does not word (a field missing from a hand-made request). */
const FIELD_FALLBACK: Record<string, string> = { email: 'register.errorEmailMissing', name: 'register.errorNameTooLong', password: 'register.errorPasswordMissing', confirm: 'reset.passwordMismatch' }

/** At the login prompt: the registration form, at its own URL (GET/POST /interaction/:uid/register). */
export function createRegistrationStep(
  kit: InteractionKit, deps: RegistrationRouteDeps,
  hooks: { afterPrimary(ctx: Context, details: Details, accountId: string, amr: string[]): Promise<void> },
): InteractionStep & {
  /** The "Create an account" and "Forgot your password?" links of the login page, where offered. */
  loginLinks(details: Details): Promise<{ registerHref?: string; forgotHref?: string }>
} {
  const { prisma, audit, page, clientName } = kit
  const { config, mailer } = deps
  const registration = registrationDepsOf(kit, deps)

  /** Open registration is offered where the client's tenant is open and mail can be sent. */
  async function availability(details: Details) {
    const where = await registrationForClient(prisma, String(details.params.client_id), config.registration.mode)
    return { ...where, offered: where.mode === 'open' && Boolean(mailer) }
  }

  async function refuseRegistration(ctx: Context, details: Details, mode: string) {
    await audit.record(ctx, { type: 'registration', outcome: 'failure', clientId: String(details.params.client_id), details: { reason: mode === 'open' ? 'mail_not_configured' : `mode_${mode}` } })
    const i18n = pageWords(ctx, 'error')
    const back = { backHref: `/interaction/${details.uid}`, backLabel: i18n.t('register.backToSignIn') }
    if (mode === 'open') {
      ctx.status = 404
      return page(ctx, 'error', { title: i18n.t('register.unavailableTitle'), message: i18n.t('register.unavailableMessage'), ...back })
    }
    ctx.status = 403
    const message = mode === 'invite' ? i18n.t('register.inviteOnlyMessage') : i18n.t('register.closedMessage')
    return page(ctx, 'error', { title: i18n.t('register.closedTitle'), message, ...back })
  }

  async function renderForm(ctx: Context, details: Details, state: { email?: string; name?: string; error?: string; errorField?: string }) {
    page(ctx, 'register', {
      action: `/interaction/${details.uid}/register`, client: await clientName(details),
      hint: passwordHintText(pageWords(ctx, 'register'), config.passwordMinLength), minLength: config.passwordMinLength,
      backHref: `/interaction/${details.uid}`, ...state,
    })
  }

  async function showForm(ctx: Context, details: Details) {
    const { mode, offered } = await availability(details)
    if (!offered) return refuseRegistration(ctx, details, mode)
    return renderForm(ctx, details, {})
  }

  async function register(ctx: Context, details: Details) {
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
    const i18n = pageWords(ctx, 'register')
    const parsed = registerForm.safeParse(body)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      const field = String(issue.path[0] ?? 'email')
      return refuse(400, 'invalid_form', formIssueText(i18n, issue.message, REGISTER_MESSAGES, FIELD_FALLBACK[field] ?? 'register.errorEmailInvalid'), field)
    }
    const { email, name, password, confirm } = parsed.data
    const policy = checkNewPassword(password, { minLength: config.passwordMinLength, userInputs: [email, name] })
    if (!policy.ok) return refuse(400, 'password_policy', passwordRefusalText(i18n, policy, config.passwordMinLength), 'password')
    if (password !== confirm) return refuse(400, 'password_mismatch', i18n.t('reset.passwordMismatch'), 'confirm')
    // Counted only for forms that would create an account and send a mail: fixing a typo is free.
    const limited = await kit.limits.consume('registration', { ip: ctx.ip, account: email }, { ctx, clientId })
    if (!limited.ok) {
      tooManyRequests(ctx, limited.retryAfter)
      return renderForm(ctx, details, { ...typed, error: i18n.t('register.tooMany', { wait: spellWait(limited.retryAfter, i18n.locale) }), errorField: 'email' })
    }

    const result = await registerWithEmail(registration, { email, displayName: name || undefined, password, tenantId, locale: localeOfRequest(ctx) })
    if (result.outcome === 'mail_failed') {
      await audit.record(ctx, { type: 'registration', outcome: 'failure', userId: result.userId, clientId, details: { reason: 'mail_failed', error: result.error } })
      ctx.status = 503
      const words = pageWords(ctx, 'error')
      return page(ctx, 'error', {
        title: words.t('register.mailFailedTitle'),
        message: words.t('register.mailFailedMessage'),
        backHref: `/interaction/${details.uid}/register`, backLabel: words.t('register.tryAgain'),
      })
    }
    if (result.outcome === 'exists') {
      await audit.record(ctx, { type: 'registration', outcome: 'failure', userId: result.userId, clientId, details: { reason: 'email_taken' } })
    } else {
      await audit.record(ctx, { type: 'registration', outcome: 'success', userId: result.userId, tenantId, clientId, details: { method: 'open' } })
      await audit.record(ctx, { type: 'email_verification_sent', outcome: 'success', userId: result.userId, clientId, details: { reason: 'registration' } })
      // Verification not required: the new account signs in right away (the link still verifies
      // the address later). This path tells a new address from a taken one; see docs/accounts.md#registration.
      if (!config.registration.requireVerifiedEmail) return hooks.afterPrimary(ctx, details, result.userId, ['pwd'])
    }
    const words = pageWords(ctx, 'notice')
    return page(ctx, 'notice', {
      title: words.t('register.checkEmailTitle'),
      message: words.t('register.checkEmailMessage', { email, lifetime: spellDuration(config.registration.verificationTtl, words.locale) }),
      detail: words.t('register.checkEmailDetail'),
      backHref: `/interaction/${details.uid}`, backLabel: words.t('register.continueToSignIn'),
    })
  }

  return {
    name: 'registration',
    applies: (details) => details.prompt.name === 'login',
    routes: [
      { method: 'get', path: '/:uid/register', when: 'step', handle: showForm },
      { method: 'post', path: '/:uid/register', when: 'step', handle: register },
    ],

    async loginLinks(details) {
      if (!mailer) return {}
      const { offered } = await availability(details)
      return {
        forgotHref: `/self-service/forgot-password?interaction=${encodeURIComponent(details.uid)}`,
        ...(offered ? { registerHref: `/interaction/${details.uid}/register` } : {}),
      }
    },

  }
}

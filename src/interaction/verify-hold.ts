// The e-mail hold step: after a right password, an account whose email is not verified yet
// (REQUIRE_VERIFIED_EMAIL) is held with a page saying so and a "send a new link" button.
import type { Context } from 'koa'
import { maskDestination } from '../mfa/factors.ts'
import { resendVerification } from '../identity/registration.ts'
import { localeOfRequest } from '../i18n/request.ts'
import { findUserById } from '../queries/users.ts'
import { tooManyRequests } from '../security/rate-limits.ts'
import { pageWords } from '../pages/page-text.ts'
import { spellDuration, spellWait } from '../i18n/durations.ts'
import type { Details, InteractionKit } from './kit.ts'
import { registrationDepsOf, type RegistrationRouteDeps } from './registration.ts'
import { stateOfKindIn } from './state.ts'
import type { InteractionStep } from './steps.ts'

/** Between two verification mails to one account (a held person pressing "send" repeatedly). */
export const VERIFICATION_RESEND_SECONDS = 60

/**
 * At the login prompt, once an unverified account was held (state 'verify-hold'). Its page is the
 * answer to the password and to "send a new link"; reloading the interaction shows the login form.
 */
export function createVerifyHoldStep(kit: InteractionKit, deps: RegistrationRouteDeps): InteractionStep & {
  /**
   * After a right password: holds an account whose email is not verified (and answers with the
   * page saying so); false to go on signing in.
   */
  holdUnverified(ctx: Context, details: Details, user: { userId: string; email: string; emailVerified: boolean }): Promise<boolean>
} {
  const { prisma, audit, page } = kit
  const { config, mailer } = deps
  const registration = registrationDepsOf(kit, deps)
  const held = stateOfKindIn('verify-hold')

  async function renderHold(ctx: Context, details: Details, email: string, extra: { notice?: string; error?: string } = {}) {
    const i18n = pageWords(ctx, 'notice')
    page(ctx, 'notice', {
      title: i18n.t('verify.holdTitle'),
      message: i18n.t('verify.holdMessage', { email: maskDestination('email', email) ?? '' }),
      detail: i18n.t('verify.holdDetail'),
      form: mailer ? { action: `/interaction/${details.uid}/verify-email/resend`, label: i18n.t('verify.sendNewLink') } : undefined,
      backHref: `/interaction/${details.uid}`, backLabel: i18n.t('verify.backToSignIn'), ...extra,
    })
  }

  return {
    name: 'verify-hold',
    applies: (details, state) => details.prompt.name === 'login' && held(state) !== undefined,
    routes: [{
      method: 'post', path: '/:uid/verify-email/resend', when: 'step',
      async handle(ctx, details, state) {
        const { accountId } = held(state)!
        const clientId = String(details.params.client_id)
        const user = await findUserById(prisma, accountId)
        if (!user || user.status !== 'active' || user.emailVerified) return ctx.redirect(`/interaction/${details.uid}`)
        const limited = await kit.limits.consume('codeSend', { ip: ctx.ip, account: user.email }, { ctx, userId: user.id, clientId })
        const i18n = pageWords(ctx, 'notice')
        if (!limited.ok) {
          tooManyRequests(ctx, limited.retryAfter)
          return renderHold(ctx, details, user.email, { error: i18n.t('verify.tooMany', { wait: spellWait(limited.retryAfter, i18n.locale) }) })
        }
        const sent = await resendVerification(registration, user, VERIFICATION_RESEND_SECONDS, localeOfRequest(ctx))
        await audit.record(ctx, { type: 'email_verification_sent', outcome: sent.ok ? 'success' : 'failure', userId: user.id, clientId, details: sent.ok ? { reason: 'resend' } : { reason: sent.reason, ...(sent.reason === 'send_failed' ? { error: sent.error } : {}) } })
        if (sent.ok) return renderHold(ctx, details, user.email, { notice: i18n.t('verify.resent', { email: maskDestination('email', user.email) ?? '', lifetime: spellDuration(config.registration.verificationTtl, i18n.locale) }) })
        if (sent.reason === 'throttled') {
          tooManyRequests(ctx, sent.retryAfter)
          return renderHold(ctx, details, user.email, { error: i18n.t('verify.throttled', { wait: spellWait(sent.retryAfter, i18n.locale) }) })
        }
        ctx.status = 503
        return renderHold(ctx, details, user.email, { error: i18n.t('verify.sendFailed') })
      },
    }],

    async holdUnverified(ctx, details, user) {
      if (!config.registration.requireVerifiedEmail || user.emailVerified) return false
      const { userId } = user
      await audit.record(ctx, { type: 'login', outcome: 'failure', userId, clientId: String(details.params.client_id), details: { reason: 'email_unverified', method: 'pwd' } })
      await kit.keepState(ctx, { step: 'verify-hold', accountId: userId })
      ctx.status = 403
      await renderHold(ctx, details, user.email)
      return true
    },
  }
}

// /account/password: the person changes their password, with the current one. Afterwards they
// stay signed in here and every other session (and what applications got in them) ends; see
// src/identity/password-change.ts.
import type Router from '@koa/router'
import type { Context } from 'koa'
import { z } from 'zod'
import type { Config } from '../config.ts'
import type { LockoutSettings } from '../security/lockout.ts'
import { MAX_PASSWORD_LENGTH } from '../identity/users.ts'
import { changePassword } from '../identity/password-change.ts'
import { checkNewPassword } from '../identity/password-policy.ts'
import { passwordRefusalText } from '../pages/self-service-text.ts'
import { currentSessionUid } from '../identity/sessions.ts'
import { ACCOUNT_CLIENT_ID } from './relying-party.ts'
import { createAccountPages, signedInOrRedirect, type AccountAreaDeps } from './pages.ts'
import { spellWait } from '../i18n/durations.ts'

export interface AccountPasswordDeps extends AccountAreaDeps {
  lockout: LockoutSettings
  passwordMinLength: number
}

/** What the password page needs beyond the account area's own deps (app.ts passes them through). */
export interface PasswordExtras {
  config: Config
}

const PASSWORD = '/account/password'
// The issues' messages are catalog keys (the page's translator says them).
const field = z.string().max(MAX_PASSWORD_LENGTH, 'account.passwordTooLong')
const passwordForm = z.object({
  current: z.string().min(1, 'account.passwordTypeCurrent').pipe(field),
  password: z.string().min(1, 'account.passwordChooseNew').pipe(field),
  confirm: field,
})
type FieldName = 'current' | 'password' | 'confirm'

export function registerPasswordRoutes(router: Router, deps: AccountPasswordDeps): void {
  const { csrf, siteName } = deps
  const pages = createAccountPages(csrf, siteName)

  async function signedIn(ctx: Context) {
    return (await signedInOrRedirect(ctx, deps, deps.readSession(ctx), PASSWORD))?.user
  }

  function form(ctx: Context, user: { email: string; username: string | null; passwordHash: string | null }, extra: Record<string, unknown> = {}) {
    pages.page(ctx, 'account-password', {
      hasPassword: Boolean(user.passwordHash),
      username: user.username ?? user.email,
      minLength: deps.passwordMinLength,
      ...extra,
    })
  }

  router.get(PASSWORD, async (ctx) => {
    const user = await signedIn(ctx)
    if (!user) return
    form(ctx, user, { notice: ctx.query.done === 'changed' ? pages.i18n(ctx, 'account-password').t('account.passwordChanged') : undefined })
  })

  router.post(PASSWORD, async (ctx) => {
    const user = await signedIn(ctx)
    if (!user) return
    const i18n = pages.i18n(ctx, 'account-password')
    const { t } = i18n
    const refused = (status: number, error: string, errorField: FieldName) => {
      ctx.status = status
      form(ctx, user, { error, errorField })
    }
    if (!user.passwordHash) return refused(400, t('account.passwordNoPassword'), 'current')
    const parsed = passwordForm.safeParse(ctx.request.body ?? {})
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      const name = issue.path[0]
      const message = issue.message.startsWith('account.') ? t(issue.message, { max: MAX_PASSWORD_LENGTH }) : t('account.passwordFillIn')
      return refused(400, message, name === 'password' || name === 'confirm' ? name : 'current')
    }
    const { current, password, confirm } = parsed.data
    if (password !== confirm) return refused(400, t('account.passwordMismatch'), 'confirm')

    const result = await changePassword(deps, user.id, { current, next: password }, {
      ctx, clientId: ACCOUNT_CLIENT_ID, keepSessionUid: await currentSessionUid(deps.provider, ctx, user.id),
    })
    if (!result.ok) {
      if (result.retryAfter) ctx.set('Retry-After', String(result.retryAfter))
      // The policy's reason, judged again as changePassword judged it, for the page's words.
      const policy = result.reason === 'policy'
        ? checkNewPassword(password, { minLength: deps.passwordMinLength, userInputs: [user.email, user.username, user.displayName, user.givenName, user.familyName] })
        : undefined
      const message = result.reason === 'locked' && result.retryAfter ? t('account.passwordLocked', { wait: spellWait(result.retryAfter, i18n.locale) })
        : result.reason === 'wrong_current_password' ? t(result.message.includes('meanwhile') ? 'account.passwordChangedMeanwhile' : 'account.passwordWrong')
        : result.reason === 'no_password' ? t('account.passwordNoPassword')
        : policy && !policy.ok ? passwordRefusalText(i18n, policy, deps.passwordMinLength)
        : result.message
      return refused(result.reason === 'locked' ? 429 : 400, message, result.reason === 'policy' ? 'password' : 'current')
    }
    ctx.status = 303
    ctx.redirect(`${PASSWORD}?done=changed`)
  })
}

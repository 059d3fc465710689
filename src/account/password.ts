// /account/password: the person changes their password, with the current one. Afterwards they
// stay signed in here and every other session (and what applications got in them) ends; see
// src/identity/password-change.ts.
import type Router from '@koa/router'
import type { Context } from 'koa'
import { z } from 'zod'
import type { Config } from '../config.ts'
import type { LockoutSettings } from '../security/lockout.ts'
import { MAX_PASSWORD_LENGTH } from '../identity/users.ts'
import { passwordHint } from '../identity/password-policy.ts'
import { changePassword } from '../identity/password-change.ts'
import { currentSessionUid } from '../identity/sessions.ts'
import { ACCOUNT_CLIENT_ID } from './relying-party.ts'
import { createAccountPages, signedInOrRedirect, type AccountAreaDeps } from './pages.ts'

export interface AccountPasswordDeps extends AccountAreaDeps {
  lockout: LockoutSettings
  passwordMinLength: number
}

/** What the password page needs beyond the account area's own deps (app.ts passes them through). */
export interface PasswordExtras {
  config: Config
}

const PASSWORD = '/account/password'
const field = z.string().max(MAX_PASSWORD_LENGTH, `Use at most ${MAX_PASSWORD_LENGTH} characters.`)
const passwordForm = z.object({
  current: z.string().min(1, 'Type your current password.').pipe(field),
  password: z.string().min(1, 'Choose a new password.').pipe(field),
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
      hint: passwordHint(deps.passwordMinLength),
      ...extra,
    })
  }

  router.get(PASSWORD, async (ctx) => {
    const user = await signedIn(ctx)
    if (!user) return
    form(ctx, user, { notice: ctx.query.done === 'changed' ? 'Your password was changed. You were signed out everywhere else: sign in there with the new password.' : undefined })
  })

  router.post(PASSWORD, async (ctx) => {
    const user = await signedIn(ctx)
    if (!user) return
    const refused = (status: number, error: string, errorField: FieldName) => {
      ctx.status = status
      form(ctx, user, { error, errorField })
    }
    if (!user.passwordHash) return refused(400, 'Your account has no password: you sign in another way.', 'current')
    const parsed = passwordForm.safeParse(ctx.request.body ?? {})
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      const name = issue.path[0]
      return refused(400, issue.message.startsWith('Invalid') ? 'Fill in every field.' : issue.message, name === 'password' || name === 'confirm' ? name : 'current')
    }
    const { current, password, confirm } = parsed.data
    if (password !== confirm) return refused(400, 'The two new passwords are not the same. Type them again.', 'confirm')

    const result = await changePassword(deps, user.id, { current, next: password }, {
      ctx, clientId: ACCOUNT_CLIENT_ID, keepSessionUid: await currentSessionUid(deps.provider, ctx, user.id),
    })
    if (!result.ok) {
      if (result.retryAfter) ctx.set('Retry-After', String(result.retryAfter))
      return refused(result.reason === 'locked' ? 429 : 400, result.message, result.reason === 'policy' ? 'password' : 'current')
    }
    ctx.status = 303
    ctx.redirect(`${PASSWORD}?done=changed`)
  })
}

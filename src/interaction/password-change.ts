// The password-change step: after a one-time password (an administrator's, expired on first use),
// the person chooses their own before the sign-in goes on, then sees that it is saved (with a link
// to the admin console for an administrator: the seeded admin starts here) and continues.
import type { Context } from 'koa'
import { errors } from 'oidc-provider'
import { z } from 'zod'
import { MAX_PASSWORD_LENGTH, setPassword } from '../identity/users.ts'
import { checkNewPassword } from '../identity/password-policy.ts'
import { pageText } from '../pages/page-text.ts'
import { passwordHintText, passwordRefusalText } from '../pages/self-service-text.ts'
import { verifyPassword } from '../identity/passwords.ts'
import { findUserById } from '../queries/users.ts'
import { ADMIN_PERMISSIONS } from '../admin/permissions.ts'
import { CONSOLE_PATH } from '../admin/console-assets.ts'
import { permissionsOf } from '../identity/roles.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'
import { stateOfKindIn } from './state.ts'
import { backToInteraction, type InteractionStep } from './steps.ts'

// The password policy (identity/password-policy.ts) and the match are checked after parsing; a
// refused field is answered in the page's language (refusedField).
const newPasswordForm = z.object({
  password: z.string().min(1).max(MAX_PASSWORD_LENGTH),
  confirm: z.string().max(MAX_PASSWORD_LENGTH),
})

export interface PasswordChangeHooks {
  /** Called once the new password is set: continues to MFA or finishes the login. */
  afterPrimary(ctx: Context, details: Details, accountId: string, amr: string[]): Promise<void>
  passwordMinLength: number
}

/** At the login prompt, once the one-time password was proven (state 'password-change'). */
export function createPasswordChangeStep(kit: InteractionKit, hooks: PasswordChangeHooks): InteractionStep {
  const { prisma, audit, page, clientName } = kit

  async function renderChangePassword(ctx: Context, details: Details, accountId: string, state: { error?: string; errorField?: string }) {
    const user = await findUserById(prisma, accountId)
    page(ctx, 'change-password', {
      action: `/interaction/${details.uid}/password`, client: await clientName(details),
      username: user?.username ?? user?.email ?? '', minLength: hooks.passwordMinLength, hint: passwordHintText(pageText(ctx), hooks.passwordMinLength), ...state,
    })
  }

  /** The confirmation: the password is saved, the sign-in is not finished yet. */
  async function renderChanged(ctx: Context, details: Details, accountId: string) {
    const held = await permissionsOf(prisma, accountId)
    const administrator = ADMIN_PERMISSIONS.some((p) => held.has(p))
    page(ctx, 'change-password', {
      changed: true, action: `/interaction/${details.uid}/password/continue`, client: await clientName(details),
      ...(administrator ? { consoleHref: CONSOLE_PATH } : {}),
    })
  }

  const pending = stateOfKindIn('password-change')
  /**
   * Whether the interaction's account still has to change its password. The state stays
   * 'password-change' until Continue; the account row says which page of the step is due, so a
   * reload, a second tab or a form sent twice cannot skip the change or set it twice.
   */
  async function mustChange(accountId: string): Promise<boolean> {
    const user = await findUserById(prisma, accountId)
    if (!user || user.status !== 'active') throw new errors.SessionNotFound('account gone')
    return user.passwordExpired
  }

  return {
    name: 'password-change',
    applies: (details, state) => details.prompt.name === 'login' && pending(state) !== undefined,
    async render(ctx, details, state) {
      const { accountId } = pending(state)!
      return await mustChange(accountId) ? renderChangePassword(ctx, details, accountId, {}) : renderChanged(ctx, details, accountId)
    },
    routes: [{
      method: 'post', path: '/:uid/password', when: 'step',
      async handle(ctx, details, state) {
        const { accountId } = pending(state)!
        // Already changed (the form sent twice, or from a stale tab): the confirmation shows.
        if (!await mustChange(accountId)) return backToInteraction(ctx, details)
        const parsed = newPasswordForm.safeParse(formBody(ctx))
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!
          const tr = pageText(ctx)
          ctx.status = 400
          const error = issue.code === 'too_big' ? tr.t('password.tooLong', { max: String(MAX_PASSWORD_LENGTH) }) : tr.t('password.enterNew')
          return renderChangePassword(ctx, details, accountId, { error, errorField: issue.path[0] === 'confirm' ? 'confirm' : 'password' })
        }
        const user = await findUserById(prisma, accountId)
        if (!user || user.status !== 'active') throw new errors.SessionNotFound('account gone')
        const policy = checkNewPassword(parsed.data.password, { minLength: hooks.passwordMinLength, userInputs: [user.email, user.username, user.displayName, user.givenName, user.familyName] })
        const mismatch = policy.ok && parsed.data.password !== parsed.data.confirm
        if (!policy.ok || mismatch) {
          await audit.record(ctx, { type: 'password_change', outcome: 'failure', userId: accountId, clientId: String(details.params.client_id), details: { reason: policy.ok ? 'password_mismatch' : 'password_policy' } })
          ctx.status = 400
          return renderChangePassword(ctx, details, accountId, policy.ok
            ? { error: pageText(ctx).t('password.mismatch'), errorField: 'confirm' }
            : { error: passwordRefusalText(pageText(ctx), policy, hooks.passwordMinLength), errorField: 'password' })
        }
        if (await verifyPassword(user.passwordHash, parsed.data.password)) {
          ctx.status = 400
          return renderChangePassword(ctx, details, accountId, { error: pageText(ctx).t('password.sameAsOneTime'), errorField: 'password' })
        }
        await setPassword(prisma, accountId, parsed.data.password)
        await audit.record(ctx, { type: 'password_change', outcome: 'success', userId: accountId, clientId: String(details.params.client_id), details: { reason: 'one-time password replaced' } })
        // The confirmation (GET /interaction/:uid), then Continue.
        ctx.status = 303
        return backToInteraction(ctx, details)
      },
    }, {
      method: 'post', path: '/:uid/password/continue', when: 'step',
      async handle(ctx, details, state) {
        const { accountId } = pending(state)!
        // Only once the new password is saved: until then the change form shows again.
        if (await mustChange(accountId)) return backToInteraction(ctx, details)
        return hooks.afterPrimary(ctx, details, accountId, ['pwd'])
      },
    }],
  }
}

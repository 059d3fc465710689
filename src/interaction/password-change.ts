// The password-change step: after a one-time password (an administrator's, expired on first use),
// the person chooses their own before the sign-in goes on.
import type { Context } from 'koa'
import { errors } from 'oidc-provider'
import { z } from 'zod'
import { MAX_PASSWORD_LENGTH, setPassword } from '../identity/users.ts'
import { checkNewPassword, passwordHint } from '../identity/password-policy.ts'
import { verifyPassword } from '../identity/passwords.ts'
import { findUserById } from '../queries/users.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'
import { stateOfKindIn } from './state.ts'
import type { InteractionStep } from './steps.ts'

// The password policy (identity/password-policy.ts) and the match are checked after parsing.
const newPasswordForm = z.object({
  password: z.string().min(1, 'Choose a new password.').max(MAX_PASSWORD_LENGTH, `Use at most ${MAX_PASSWORD_LENGTH} characters.`),
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
      username: user?.username ?? user?.email ?? '', minLength: hooks.passwordMinLength, hint: passwordHint(hooks.passwordMinLength), ...state,
    })
  }

  const pending = stateOfKindIn('password-change')

  return {
    name: 'password-change',
    applies: (details, state) => details.prompt.name === 'login' && pending(state) !== undefined,
    render: (ctx, details, state) => renderChangePassword(ctx, details, pending(state)!.accountId, {}),
    routes: [{
      method: 'post', path: '/:uid/password', when: 'step',
      async handle(ctx, details, state) {
        const { accountId } = pending(state)!
        const parsed = newPasswordForm.safeParse(formBody(ctx))
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!
          ctx.status = 400
          return renderChangePassword(ctx, details, accountId, { error: issue.message, errorField: issue.path[0] === 'confirm' ? 'confirm' : 'password' })
        }
        const user = await findUserById(prisma, accountId)
        if (!user || user.status !== 'active') throw new errors.SessionNotFound('account gone')
        const policy = checkNewPassword(parsed.data.password, { minLength: hooks.passwordMinLength, userInputs: [user.email, user.username, user.displayName, user.givenName, user.familyName] })
        const mismatch = policy.ok && parsed.data.password !== parsed.data.confirm
        if (!policy.ok || mismatch) {
          await audit.record(ctx, { type: 'password_change', outcome: 'failure', userId: accountId, clientId: String(details.params.client_id), details: { reason: policy.ok ? 'password_mismatch' : 'password_policy' } })
          ctx.status = 400
          return renderChangePassword(ctx, details, accountId, policy.ok ? { error: 'The two passwords do not match.', errorField: 'confirm' } : { error: policy.message, errorField: 'password' })
        }
        if (await verifyPassword(user.passwordHash, parsed.data.password)) {
          ctx.status = 400
          return renderChangePassword(ctx, details, accountId, { error: 'Choose a password different from the one-time password.', errorField: 'password' })
        }
        await setPassword(prisma, accountId, parsed.data.password)
        await audit.record(ctx, { type: 'password_change', outcome: 'success', userId: accountId, clientId: String(details.params.client_id), details: { reason: 'one-time password replaced' } })
        return hooks.afterPrimary(ctx, details, accountId, ['pwd'])
      },
    }],
  }
}

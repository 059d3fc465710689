// The password step: the login form, and the new-password form for one-time passwords.
import type Router from '@koa/router'
import type { Context } from 'koa'
import { errors } from 'oidc-provider'
import { z } from 'zod'
import { authenticateWithPassword, MAX_PASSWORD_LENGTH, setPassword } from '../identity/users.ts'
import { checkNewPassword, passwordHint } from '../identity/password-policy.ts'
import { verifyPassword } from '../identity/passwords.ts'
import type { UserMfaFacts } from '../mfa/factors.ts'
import { passwordGuard, signInRefusedMessage } from '../security/lockout.ts'
import { tooManyRequests } from '../security/rate-limits.ts'
import { readDeviceCookie, writeDeviceCookie } from '../security/device-cookie.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'
import type { SelfServiceHooks } from './registration.ts'

const loginForm = z.object({
  login: z.string().trim().min(1, 'Enter your email or username.').max(320),
  password: z.string().min(1, 'Enter your password.').max(MAX_PASSWORD_LENGTH),
})

// The password policy (identity/password-policy.ts) and the match are checked after parsing.
const newPasswordForm = z.object({
  password: z.string().min(1, 'Choose a new password.').max(MAX_PASSWORD_LENGTH, `Use at most ${MAX_PASSWORD_LENGTH} characters.`),
  confirm: z.string().max(MAX_PASSWORD_LENGTH),
})

// Between the one-time password and the new one: the person proved the one-time password.
const PASSWORD_CHANGE = 'iam:passwordChange'
interface PasswordChangeState { accountId: string }

export interface LoginHooks {
  /** Called once the password is proven: continues to MFA or finishes the login. */
  afterPrimary(ctx: Context, details: Details, accountId: string, amr: string[], facts?: UserMfaFacts): Promise<void>
  /** Upstream identity providers (interaction/federation.ts): their buttons and home-realm discovery. */
  federation: {
    buttons(details: Details): Array<{ label: string; action: string }>
    homeRealmByEmail: boolean
    /** Starts the upstream owning the typed email's domain and answers; false when there is none. */
    startFromTypedLogin(ctx: Context, details: Details, login: string): Promise<boolean>
  }
  /** Registration, password reset links and the unverified-email hold (interaction/registration.ts). */
  selfService: SelfServiceHooks
}

export function registerLoginRoutes(router: Router, kit: InteractionKit, hooks: LoginHooks) {
  const { prisma, audit, page, load, saveState, readState, clientName } = kit

  async function renderLogin(ctx: Context, details: Details, state: { login?: string; error?: string; errorField?: string }) {
    page(ctx, 'login', {
      action: `/interaction/${details.uid}/login`, abortAction: `/interaction/${details.uid}/abort`,
      client: await clientName(details), login: state.login ?? details.params.login_hint, error: state.error, errorField: state.errorField,
      upstreams: hooks.federation.buttons(details), homeRealmByEmail: hooks.federation.homeRealmByEmail,
      ...(await hooks.selfService.loginLinks(details)),
    }, details.uid)
  }

  async function renderChangePassword(ctx: Context, details: Details, accountId: string, state: { error?: string; errorField?: string }) {
    const user = await prisma.user.findUnique({ where: { id: accountId } })
    page(ctx, 'change-password', {
      action: `/interaction/${details.uid}/password`, client: await clientName(details),
      username: user?.username ?? user?.email ?? '', minLength: hooks.selfService.passwordMinLength, hint: passwordHint(hooks.selfService.passwordMinLength), ...state,
    }, details.uid)
  }

  router.post('/:uid/login', load, async (ctx) => {
    const details = ctx.state.interaction as Details
    if (details.prompt.name !== 'login') return ctx.redirect(`/interaction/${details.uid}`)
    const clientId = String(details.params.client_id)
    const body = formBody(ctx)
    // Home-realm discovery: an email of an upstream's domain, typed without a password, signs in
    // there. With a password typed, the local account is checked (break-glass admin accounts).
    const typedLogin = typeof body.login === 'string' ? body.login.trim().slice(0, 320) : ''
    const typedPassword = typeof body.password === 'string' && body.password.length > 0
    if (typedLogin && !typedPassword && await hooks.federation.startFromTypedLogin(ctx, details, typedLogin)) return
    const parsed = loginForm.safeParse(body)
    if (!parsed.success) {
      ctx.status = 400
      const issue = parsed.error.issues[0]!
      const typed = typeof body.login === 'string' ? body.login.slice(0, 320) : ''
      return renderLogin(ctx, details, { login: typed, error: issue.message, errorField: issue.path[0] === 'password' ? 'password' : 'login' })
    }
    // Attempts count per address, and per typed login (known or not, so a refusal reveals nothing)
    // unless the browser's device cookie names the account: a stranger spending the account's
    // allowance must not keep its owner out (security/device-cookie.ts).
    const device = readDeviceCookie(ctx, kit.clock.now(), kit.lockout.deviceCookieDays)
    const limited = await kit.limits.consume('signIn', { ip: ctx.ip }, { ctx, clientId })
    if (!limited.ok) return renderLogin(ctx, details, { login: parsed.data.login, error: tooManyRequests(ctx, limited.retryAfter, 'Too many sign-in attempts.') })
    const result = await authenticateWithPassword(prisma, parsed.data.login, parsed.data.password, {
      ...passwordGuard(kit, ctx, clientId), device,
      admit: async (knownDevice) => knownDevice ? { ok: true } : kit.limits.consume('signIn', { account: parsed.data.login }, { ctx, clientId }),
    })
    if (!result.ok && result.reason === 'rate_limited') return renderLogin(ctx, details, { login: parsed.data.login, error: tooManyRequests(ctx, result.retryAfter, 'Too many sign-in attempts.') })
    if (!result.ok) {
      await audit.record(ctx, { type: 'login', outcome: 'failure', userId: result.userId, clientId, details: { reason: result.reason, method: 'pwd' } })
      // Not 401: that status promises a WWW-Authenticate challenge; this is a form to fill again.
      ctx.status = result.reason === 'disabled' ? 403 : 400
      // One text for a wrong password, an unknown login and a locked account: telling them apart
      // would tell who has an account here.
      const error = result.reason === 'disabled'
        ? 'This account is disabled. Contact your administrator.'
        : signInRefusedMessage(kit.lockout)
      return renderLogin(ctx, details, { login: parsed.data.login, error, errorField: 'both' })
    }
    // A known device leaves the account's count alone: it may be a stranger's.
    await kit.limits.succeeded('signIn', result.knownDevice ? { ip: ctx.ip } : { ip: ctx.ip, account: parsed.data.login })
    writeDeviceCookie(ctx, device, result.userId, kit.clock.now(), kit.lockout.deviceCookieDays)
    // Only now, after the right password, may the answer depend on the account's state.
    if (await hooks.selfService.holdUnverified(ctx, details, result)) return
    await audit.record(ctx, { type: 'login', outcome: 'success', userId: result.userId, clientId, details: { method: 'pwd', passwordExpired: result.passwordExpired } })
    if (result.passwordExpired) return saveState(ctx, details, PASSWORD_CHANGE, { accountId: result.userId } satisfies PasswordChangeState)
    return hooks.afterPrimary(ctx, details, result.userId, ['pwd'], result.mfa)
  })

  router.post('/:uid/password', load, async (ctx) => {
    const details = ctx.state.interaction as Details
    const accountId = readState<PasswordChangeState>(details, PASSWORD_CHANGE)?.accountId
    if (!accountId || details.prompt.name !== 'login') return ctx.redirect(`/interaction/${details.uid}`)
    const parsed = newPasswordForm.safeParse(formBody(ctx))
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      ctx.status = 400
      return renderChangePassword(ctx, details, accountId, { error: issue.message, errorField: issue.path[0] === 'confirm' ? 'confirm' : 'password' })
    }
    const user = await prisma.user.findUnique({ where: { id: accountId } })
    if (!user || user.status !== 'active') throw new errors.SessionNotFound('account gone')
    const policy = checkNewPassword(parsed.data.password, { minLength: hooks.selfService.passwordMinLength, userInputs: [user.email, user.username, user.displayName, user.givenName, user.familyName] })
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
  })

  return {
    renderLogin,
    /** Renders the new-password step when the interaction is in it. */
    async renderPending(ctx: Context, details: Details): Promise<boolean> {
      const pending = readState<PasswordChangeState>(details, PASSWORD_CHANGE)
      if (!pending || details.prompt.name !== 'login') return false
      await renderChangePassword(ctx, details, pending.accountId, {})
      return true
    },
  }
}

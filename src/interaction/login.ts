// The login step: the login form (password, home-realm discovery, links to registration and
// federation), at the provider's login prompt.
import type { Context } from 'koa'
import { z } from 'zod'
import { authenticateWithPassword, MAX_PASSWORD_LENGTH } from '../identity/users.ts'
import type { UserMfaFacts } from '../mfa/factors.ts'
import { passwordGuard, signInRefusedMessage } from '../security/lockout.ts'
import { pageText } from '../pages/page-text.ts'
import type { Translator } from '../i18n/catalogs.ts'
import { tooManyRequests } from '../security/rate-limits.ts'
import { readDeviceCookie, writeDeviceCookie } from '../security/device-cookie.ts'
import { formBody, type Details, type InteractionKit } from './kit.ts'
import type { InteractionStep } from './steps.ts'

const loginForm = z.object({
  login: z.string().trim().min(1, 'Enter your email or username.').max(320),
  password: z.string().min(1, 'Enter your password.').max(MAX_PASSWORD_LENGTH),
})

export interface LoginHooks {
  /** Called once the password is proven: continues to MFA or finishes the login. */
  afterPrimary(ctx: Context, details: Details, accountId: string, amr: string[], facts?: UserMfaFacts): Promise<void>
  /** Upstream identity providers (interaction/federation.ts): their buttons and home-realm discovery. */
  federation: {
    buttons(details: Details, tr?: Translator): Array<{ label: string; action: string }>
    homeRealmByEmail: boolean
    /** Starts the upstream a login_hint or domain_hint names and answers; false when there is none. */
    startFromHints(ctx: Context, details: Details): Promise<boolean>
    /** Starts the upstream owning the typed email's domain and answers; false when there is none. */
    startFromTypedLogin(ctx: Context, details: Details, login: string): Promise<boolean>
  }
  /** The offer to create a passkey after the password (interaction/passkey-offer.ts): true when it answered. */
  passkeyOffer?: {
    offer(ctx: Context, details: Details, accountId: string, amr: string[], capable: boolean): Promise<boolean>
  } | undefined
  /** Registration and password reset links (interaction/registration.ts), the unverified-email hold (interaction/verify-hold.ts). */
  selfService: {
    passwordMinLength: number
    /** The "Create an account" and "Forgot your password?" links of the login page, where offered. */
    loginLinks(details: Details): Promise<{ registerHref?: string; forgotHref?: string }>
    /**
     * After a right password: holds an account whose email is not verified (and answers with the
     * page saying so); false to go on signing in.
     */
    holdUnverified(ctx: Context, details: Details, user: { userId: string; email: string; emailVerified: boolean }): Promise<boolean>
  }
}

/** At the provider's login prompt (later steps of the same prompt come first in the table). */
export function createLoginStep(kit: InteractionKit, hooks: LoginHooks): InteractionStep & {
  /** The login page, with an error (the passkey sign-in answers with it: passkey-login.ts). */
  renderLogin(ctx: Context, details: Details, state: { login?: string; error?: string; errorField?: string; passkeyRefused?: boolean }): Promise<void>
} {
  const { prisma, audit, page, saveState, clientName } = kit

  async function renderLogin(ctx: Context, details: Details, state: { login?: string; error?: string; errorField?: string; passkeyRefused?: boolean }) {
    page(ctx, 'login', {
      action: `/interaction/${details.uid}/login`, abortAction: `/interaction/${details.uid}/abort`,
      passkeyAction: `/interaction/${details.uid}/passkey`, passkeyOptionsAction: `/interaction/${details.uid}/passkey/options`,
      client: await clientName(details), login: state.login ?? details.params.login_hint, error: state.error, errorField: state.errorField, passkeyRefused: state.passkeyRefused,
      upstreams: hooks.federation.buttons(details, pageText(ctx)), homeRealmByEmail: hooks.federation.homeRealmByEmail,
      ...(await hooks.selfService.loginLinks(details)),
    })
  }

  async function handleLogin(ctx: Context, details: Details) {
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
        : signInRefusedMessage(kit.lockout, pageText(ctx))
      return renderLogin(ctx, details, { login: parsed.data.login, error, errorField: 'both' })
    }
    // A known device leaves the account's count alone: it may be a stranger's.
    await kit.limits.succeeded('signIn', result.knownDevice ? { ip: ctx.ip } : { ip: ctx.ip, account: parsed.data.login })
    writeDeviceCookie(ctx, device, result.userId, kit.clock.now(), kit.lockout.deviceCookieDays)
    // Only now, after the right password, may the answer depend on the account's state.
    if (await hooks.selfService.holdUnverified(ctx, details, result)) return
    await audit.record(ctx, { type: 'login', outcome: 'success', userId: result.userId, clientId, details: { method: 'pwd', passwordExpired: result.passwordExpired } })
    if (result.passwordExpired) return saveState(ctx, details, { step: 'password-change', accountId: result.userId })
    // The page's script says whether this device has a passkey built in (no script: no offer).
    if (await hooks.passkeyOffer?.offer(ctx, details, result.userId, ['pwd'], body.passkey_capable === '1')) return
    return hooks.afterPrimary(ctx, details, result.userId, ['pwd'], result.mfa)
  }

  return {
    renderLogin,
    name: 'login',
    applies: (details) => details.prompt.name === 'login',
    async render(ctx, details) {
      // A login_hint or domain_hint of an upstream's domain goes straight there, once.
      if (await hooks.federation.startFromHints(ctx, details)) return
      return renderLogin(ctx, details, {})
    },
    routes: [{ method: 'post', path: '/:uid/login', when: 'step', handle: handleLogin }],
  }
}

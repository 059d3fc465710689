// /account: where a person sees who they are signed in as and signs out. It signs people in
// through this same OP as a first-party client; later issues add factors, sessions, passwords.
import Router from '@koa/router'
import type { Context } from 'koa'
import * as oidc from 'openid-client'
import { z } from 'zod'
import type { Db } from '../queries/db.ts'
import { findUserLocale, findUserStatus, findUserWithTenantAndRoles } from '../queries/users.ts'
import type { Csrf } from '../security/csrf.ts'
import type { Logger } from '../observability/logger.ts'
import { bindToBrowserSession, isBindingLive } from '../identity/sessions.ts'
import { ACCOUNT_CLIENT_ID, accountRedirectUri, accountSignedOutUri } from './relying-party.ts'
import { registerPasskeyRoutes } from './passkeys.ts'
import { registerSecurityRoutes, safeReturnPath, stepUpParameters, STEP_UP_MAX_AGE, type SecurityExtras } from './security.ts'
import { registerLinkedRoutes } from './linked.ts'
import { registerAppRoutes } from './apps.ts'
import { registerSessionRoutes, type SessionExtras } from './sessions.ts'
import { registerPasswordRoutes, type PasswordExtras } from './password.ts'
import { createAccountPages, type AccountSession } from './pages.ts'
import { secureCookieName } from '../security/cookie-names.ts'
import { registerLanguageRoutes, languageChoices } from './language.ts'

export interface AccountDeps {
  prisma: Db
  csrf: Csrf
  logger: Logger
  siteName: string
  issuer: string
  relyingParty: oidc.Configuration
  /** Upstream identity providers, for the names of linked sign-ins. */
  federation: { nameOf(id: string): string }
}

// On Path=/account: `__Secure-` over https (src/security/cookie-names.ts).
const SESSION_COOKIE = 'iam.account'
const TRANSACTION_COOKIE = 'iam.account.tx'
const SESSION_HOURS = 8

// sessionUid and sid: the provider session this sign-in came from (see liveSession below).
const accountSession = z.object({ sub: z.string(), idToken: z.string(), exp: z.number(), sessionUid: z.string(), sid: z.string() })
// returnTo: where to go after sign-in (a checked /account path); stepUp: a fresh second factor was asked for.
const transaction = z.object({ state: z.string(), nonce: z.string(), verifier: z.string(), returnTo: z.string().optional(), stepUp: z.boolean().optional() })

function readCookie<T>(ctx: Context, name: string, schema: z.ZodType<T>): T | undefined {
  const raw = ctx.cookies.get(secureCookieName(name, ctx.secure), { signed: true })
  if (!raw) return undefined
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

function writeCookie(ctx: Context, name: string, value: unknown, maxAge: number): void {
  ctx.cookies.set(secureCookieName(name, ctx.secure), Buffer.from(JSON.stringify(value)).toString('base64url'), {
    signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/account', maxAge, overwrite: true,
  })
}

function clearCookie(ctx: Context, name: string): void {
  // Secure too: a browser ignores a prefixed cookie's removal that is not.
  ctx.cookies.set(secureCookieName(name, ctx.secure), null, { signed: true, secure: ctx.secure, path: '/account', overwrite: true })
}

export function createAccountRouter(deps: AccountDeps & SecurityExtras & SessionExtras & PasswordExtras): Router {
  const { prisma, csrf, siteName, issuer, relyingParty } = deps
  const router = new Router()
  const { page, i18n } = createAccountPages(csrf, siteName)

  // The account area's sign-in is a signed cookie, but it holds only while the provider session it
  // came from does: checked on every request, so "sign out everywhere", a password reset or change,
  // an administrator ending the sessions or signing out ends it at once (docs/adr/0120).
  const live = new WeakMap<Context, AccountSession>()
  async function liveSession(ctx: Context): Promise<AccountSession | undefined> {
    const session = readCookie(ctx, SESSION_COOKIE, accountSession)
    if (!session || session.exp <= deps.clock.now()) return undefined
    if (!await isBindingLive(deps.provider, session, session.sub, ACCOUNT_CLIENT_ID)) return undefined
    return await findUserStatus(prisma, session.sub) === 'active' ? session : undefined
  }
  // Before every route under /account (registered first, so it runs first): the only way a route
  // learns who is signed in is readSession, which answers what this check let through.
  router.use('/account', async (ctx, next) => {
    if (ctx.cookies.get(secureCookieName(SESSION_COOKIE, ctx.secure))) {
      const session = await liveSession(ctx)
      if (session) {
        live.set(ctx, session)
        // The person's chosen language: the account area's pages are in it (src/i18n/negotiate.ts).
        ctx.state.savedLocale = await findUserLocale(prisma, session.sub)
      } else clearCookie(ctx, SESSION_COOKIE)
    }
    return next()
  })
  /** The signed-in person's account session, checked against the live state; undefined otherwise. */
  const readSession = (ctx: Context): AccountSession | undefined => live.get(ctx)

  router.get('/', (ctx) => ctx.redirect('/account'))

  /** The account page; false when the person is gone or no longer active. */
  async function showAccount(ctx: Context, userId: string, options: { unsupportedLanguage?: true } = {}): Promise<boolean> {
    const user = await findUserWithTenantAndRoles(prisma, userId)
    if (!user || user.status !== 'active') return false
    const { t } = i18n(ctx, 'account')
    page(ctx, 'account', {
      notice: ctx.method === 'GET' && ctx.query.done === 'language' ? t('account.languageSaved') : undefined,
      languageError: options.unsupportedLanguage ? t('account.languageUnsupported') : undefined,
      ...languageChoices(user.locale),
      name: user.displayName ?? user.email,
      email: user.email,
      username: user.username,
      tenant: user.tenant.name,
      roles: user.roles.map((r) => r.role.name).sort(),
    })
    return true
  }

  router.get('/account', async (ctx) => {
    const session = readSession(ctx)
    if (!session) return ctx.redirect('/account/login')
    if (!await showAccount(ctx, session.sub)) {
      clearCookie(ctx, SESSION_COOKIE)
      return ctx.redirect('/account/login')
    }
  })

  // ?return=/account/… comes back there; ?stepup=1 asks the OP for a fresh second factor.
  router.get('/account/login', (ctx) => {
    const returnTo = safeReturnPath(ctx.query.return)
    const stepUp = ctx.query.stepup === '1'
    const tx = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), ...(returnTo ? { returnTo } : {}), ...(stepUp ? { stepUp } : {}) }
    writeCookie(ctx, TRANSACTION_COOKIE, tx, 10 * 60 * 1000)
    return oidc.calculatePKCECodeChallenge(tx.verifier).then((challenge) => {
      ctx.redirect(oidc.buildAuthorizationUrl(relyingParty, {
        redirect_uri: accountRedirectUri(issuer), scope: 'openid profile email', state: tx.state, nonce: tx.nonce,
        code_challenge: challenge, code_challenge_method: 'S256', ...(stepUp ? stepUpParameters() : {}),
        // The session's id for this client in the ID token: the sign-in is bound to that session.
        claims: JSON.stringify({ id_token: { sid: null } }),
      }).href)
    })
  })

  router.get('/account/callback', async (ctx) => {
    const tx = readCookie(ctx, TRANSACTION_COOKIE, transaction)
    clearCookie(ctx, TRANSACTION_COOKIE)
    const words = (name: 'error' | 'notice') => i18n(ctx, name).t
    const retry = (name: 'error' | 'notice') => tx?.stepUp
      ? { backHref: tx.returnTo ?? '/account', backLabel: words(name)('account.goBack') }
      : { backHref: '/account/login', backLabel: words(name)('account.signInAgain') }
    const failed = (message: string, detail?: string) => {
      const t = words('error')
      ctx.status = 400
      page(ctx, 'error', { title: t('account.notSignedIn'), message: t(message), ...(detail ? { detail } : {}), ...retry('error') })
    }
    if (!tx) {
      const t = words('error')
      ctx.status = 400
      return page(ctx, 'error', { title: t('account.signInExpired'), message: t('account.signInExpiredMessage'), ...retry('error') })
    }
    // "Cancel" on the sign-in page comes back as access_denied: the person chose not to sign in,
    // which is no error of theirs or ours, so a plain page with the way back in (not the error page).
    if (ctx.query.error === 'access_denied') {
      const t = words('notice')
      const again = tx.stepUp ? retry('notice') : { backHref: tx.returnTo ? `/account/login?return=${encodeURIComponent(tx.returnTo)}` : '/account/login', backLabel: t('account.tryAgain') }
      return page(ctx, 'notice', {
        title: t('account.notSignedIn'),
        message: tx.stepUp ? t('account.stepUpCancelled') : t('account.signInCancelled'),
        ...again,
      })
    }
    if (ctx.query.error) return failed('account.signInIncomplete', String(ctx.query.error))
    const callbackUrl = new URL(ctx.originalUrl, accountRedirectUri(issuer))
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>
    try {
      tokens = await oidc.authorizationCodeGrant(relyingParty, callbackUrl, { pkceCodeVerifier: tx.verifier, expectedState: tx.state, expectedNonce: tx.nonce, ...(tx.stepUp ? { maxAge: STEP_UP_MAX_AGE } : {}) })
    } catch (err) {
      // `errorCode`: the logger redacts every field named `code` (it could be an authorization code).
      deps.logger.warn({ err: { name: (err as Error).name, errorCode: (err as { code?: string }).code }, reqId: ctx.state.requestId }, 'account sign-in failed')
      return failed('account.signInInvalid')
    }
    const claims = tokens.claims()!
    const binding = await bindToBrowserSession(deps.provider, ctx, claims.sub, ACCOUNT_CLIENT_ID, claims.sid)
    if (!binding) {
      deps.logger.warn({ reqId: ctx.state.requestId }, 'account sign-in not bound to this browser\'s session')
      return failed('account.signInOtherBrowser')
    }
    writeCookie(ctx, SESSION_COOKIE, { sub: claims.sub, idToken: tokens.id_token!, exp: deps.clock.now() + SESSION_HOURS * 3600_000, ...binding }, SESSION_HOURS * 3600_000)
    ctx.redirect(safeReturnPath(tx.returnTo) ?? '/account')
  })

  router.post('/account/logout', (ctx) => {
    const session = readCookie(ctx, SESSION_COOKIE, accountSession)
    clearCookie(ctx, SESSION_COOKIE)
    ctx.status = 303
    ctx.redirect(oidc.buildEndSessionUrl(relyingParty, {
      post_logout_redirect_uri: accountSignedOutUri(issuer),
      ...(session ? { id_token_hint: session.idToken } : {}),
    }).href)
  })

  router.get('/account/signed-out', (ctx) => page(ctx, 'account-signed-out', { everywhere: ctx.query.everywhere === '1', siteHome: deps.config.siteHomeUrl }))
  registerPasskeyRoutes(router, { ...deps, readSession })
  registerLanguageRoutes(router, { ...deps, readSession, showAccount: async (ctx, userId, options) => { await showAccount(ctx, userId, options) } })

  registerSecurityRoutes(router, { ...deps, readSession })
  registerLinkedRoutes(router, { ...deps, readSession })
  registerAppRoutes(router, { ...deps, readSession })
  registerSessionRoutes(router, {
    ...deps, readSession, signOutOfAccountArea: (ctx) => clearCookie(ctx, SESSION_COOKIE),
  })
  registerPasswordRoutes(router, {
    ...deps, passwordMinLength: deps.config.passwordMinLength, lockout: deps.config.lockout, readSession,
  })

  return router
}

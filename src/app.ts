// Composes the HTTP application: request id, access log, security headers, then our routes
// (assets, health, interaction pages) and finally the OIDC provider itself.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import Koa, { type Context, type Next } from 'koa'
import mount from 'koa-mount'
import { errors, type default as Provider } from 'oidc-provider'
import type { Config } from './config.ts'
import type { Logger } from './observability/logger.ts'
import { renderPage } from './pages/render.ts'
import { createInteractionRouter, type InteractionDeps } from './interaction/routes.ts'
import type { MfaDeps } from './interaction/mfa.ts'
import { createAccountRouter } from './account/routes.ts'
import { createFederationReturnRouter } from './interaction/federation.ts'
import type { Federation } from './federation/upstreams.ts'
import { createDemoApi } from './api/demo.ts'
import type { Configuration as RelyingPartyConfiguration } from 'openid-client'

export interface AppDeps extends Omit<InteractionDeps, 'siteName'> {
  config: Config
  logger: Logger
  provider: Provider
  /** Cookie-signing keys, newest first: the provider runs on this app's cookie jar when mounted. */
  cookieKeys: string[]
  /** Second factors: the secret box and the code channels. */
  mfa: MfaDeps
  /** Upstream identity providers (FEDERATION), possibly none. */
  federation: Federation
  /** The account area's client configuration (it signs in through this same server). */
  accountRelyingParty: RelyingPartyConfiguration
  /** Readiness: resolves when the stores answer. */
  ready: () => Promise<Record<string, string>>
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/

// Pages render no inline script or style; the provider's own form_post page sets its own CSP.
// connect-src: the WebAuthn pages' script talks to this origin only.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

export function createApp(deps: AppDeps): Koa {
  const { config, logger, provider } = deps
  const app = new Koa({ proxy: config.trustProxy, keys: deps.cookieKeys })
  app.silent = true // errors are logged by our middleware and provider events, once.

  app.use(async function requestContext(ctx: Context, next: Next) {
    const given = ctx.get('x-request-id')
    ctx.state.requestId = REQUEST_ID.test(given) ? given : randomUUID()
    ctx.set('X-Request-Id', ctx.state.requestId)
    const started = performance.now()
    try {
      await next()
    } finally {
      // The path only: query strings carry codes, tokens and state.
      logger.info({ reqId: ctx.state.requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) }, 'request')
    }
  })

  app.use(async function securityHeaders(ctx: Context, next: Next) {
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set('Referrer-Policy', 'no-referrer')
    ctx.set('X-Frame-Options', 'DENY')
    ctx.set('Content-Security-Policy', CSP)
    if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains')
    await next()
  })

  const page = { siteName: config.siteName }
  app.use(async function pageErrors(ctx: Context, next: Next) {
    if (!ctx.path.startsWith('/interaction/') && !ctx.path.startsWith('/account') && !ctx.path.startsWith('/federation/')) return next()
    try {
      await next()
    } catch (err) {
      const e = err as { status?: number; expose?: boolean; message?: string }
      ctx.set('Cache-Control', 'no-store')
      ctx.type = 'html'
      if (err instanceof errors.SessionNotFound || err instanceof errors.InvalidRequest) {
        ctx.status = 400
        ctx.body = renderPage('error', page, { title: 'Sign-in expired', message: 'This sign-in page has expired or was opened in another browser. Go back to the application and sign in again.', requestId: ctx.state.requestId })
      } else if (e.status && e.status < 500 && e.expose) {
        ctx.status = e.status
        ctx.body = renderPage('error', page, { title: 'Request not accepted', message: e.message, requestId: ctx.state.requestId })
      } else {
        logger.error({ err, reqId: ctx.state.requestId }, 'interaction failed')
        ctx.status = 500
        ctx.body = renderPage('error', page, { title: 'Something went wrong', message: 'We could not complete this step. Please try again in a moment.', requestId: ctx.state.requestId })
      }
    }
  })

  const stylesheet = readFileSync(path.resolve(import.meta.dirname, '../interactions/assets/style.css'))
  const webauthnScript = readFileSync(path.resolve(import.meta.dirname, '../interactions/assets/webauthn.js'))
  app.use(async function assets(ctx: Context, next: Next) {
    if (ctx.path === '/assets/webauthn.js') {
      ctx.type = 'text/javascript'
      ctx.set('Cache-Control', 'public, max-age=3600')
      ctx.body = webauthnScript
      return
    }
    if (ctx.path !== '/assets/style.css') return next()
    ctx.type = 'text/css'
    ctx.set('Cache-Control', 'public, max-age=3600')
    ctx.body = stylesheet
  })

  app.use(async function health(ctx: Context, next: Next) {
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' }
      return
    }
    if (ctx.path === '/readyz') {
      try {
        ctx.body = { status: 'ready', ...(await deps.ready()) }
      } catch (err) {
        ctx.status = 503
        ctx.body = { status: 'unready', error: (err as Error).message }
      }
      return
    }
    return next()
  })

  const interactions = createInteractionRouter({ ...deps, siteName: config.siteName })
  app.use(interactions.routes())
  app.use(interactions.allowedMethods())
  // The upstreams' redirect URI, /federation/:id/callback: it leads back into the interaction.
  app.use(createFederationReturnRouter({ provider, federation: deps.federation, audit: deps.audit, siteName: config.siteName }).routes())
  const account = createAccountRouter({ ...deps, siteName: config.siteName, issuer: config.issuer, relyingParty: deps.accountRelyingParty })
  app.use(account.routes())

  // This server's own API (RFC 9470 step-up), before the provider so /api/* never reaches it.
  app.use(createDemoApi({ provider, prisma: deps.prisma, logger, issuer: config.issuer }))

  provider.on('server_error', (ctx: Context, err: Error) => logger.error({ err, reqId: ctx.state.requestId }, 'provider server error'))
  app.use(mount(provider))
  return app
}

// Composes the HTTP application: request id, access log, security headers, then our routes
// (assets, health, interaction pages) and finally the OIDC provider itself.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import Koa, { type Context, type Middleware, type Next } from 'koa'
import type Router from '@koa/router'
import mount from 'koa-mount'
import { errors, type default as Provider } from 'oidc-provider'
import type { Config } from './config.ts'
import { accessLogger, type Logger } from './observability/logger.ts'
import { renderMetrics, UNMATCHED_ROUTE, type Metrics } from './observability/metrics.ts'
import { VERSION, type Readiness } from './observability/health.ts'
import { renderPage } from './pages/render.ts'
import { createInteractionRouter, type InteractionDeps } from './interaction/routes.ts'
import type { MfaDeps } from './interaction/mfa.ts'
import { createAccountRouter } from './account/routes.ts'
import { createSelfServiceRouter } from './self-service/routes.ts'
import type { Mailer } from './mail/mailer.ts'
import { createFederationReturnRouter } from './interaction/federation.ts'
import type { Federation } from './federation/upstreams.ts'
import { createDemoApi } from './api/demo.ts'
import { createAdminApi } from './admin/router.ts'
import { serveConsole } from './admin/console-assets.ts'
import { trackSessions } from './middleware/session-tracking.ts'
import { createCsrfGuard, CSRF_REFUSAL } from './security/csrf-guard.ts'
import { tokenRateLimit } from './security/token-rate-limit.ts'
import { devicePolling } from './oidc/device-polling.ts'
import { codeResourceCheck } from './oidc/code-resource-check.ts'
import { cspNonce } from './security/nonce.ts'
import { answerUnavailable, isStoreUnavailable, markStoreUnavailable, storeUnavailable } from './store/unavailable.ts'
import type { Configuration as RelyingPartyConfiguration } from 'openid-client'
import { CookieSigner } from './security/cookie-signer.ts'

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
  /** The SMTP transport (codes, self-service links); absent without SMTP_HOST. */
  mailer?: Mailer | undefined
  /** The account area's client configuration (it signs in through this same server). */
  accountRelyingParty: RelyingPartyConfiguration
  /** Readiness: each store's answer (bounded), keys, and whether the server is draining. */
  ready: () => Promise<Readiness>
  /** Prometheus metrics; served at /metrics on this app unless METRICS_PORT moves them. */
  metrics?: Metrics | undefined
}

/** Paths this app answers itself outside any router: their own route label. */
const STATIC_ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/assets/style.css', '/assets/webauthn.js'])

/**
 * The route a request matched, as a pattern (`/interaction/:uid/login`, the provider's `/auth/:uid`):
 * @koa/router and oidc-provider's router both leave it in ctx._matchedRoute. Low cardinality:
 * never a raw path with ids in it.
 */
function matchedRoute(ctx: Context): string | undefined {
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute
  if (typeof matched === 'string') return matched
  return STATIC_ROUTES.has(ctx.path) ? ctx.path : undefined
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/

// Pages render no inline script or style. The one script (WebAuthn pages) runs only with this
// response's nonce, so even an injected <script src="/assets/..."> of our own origin would not run.
// connect-src: that script talks to this origin only. The provider's own pages (form_post,
// logout) set their own CSP over this one.
function contentSecurityPolicy(nonce: string): string {
  return `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'`
}

/**
 * Every router of our pages. One list, so the CSRF test (test/integration/csrf.test.ts) walks
 * every POST route there is: a router added elsewhere would escape it.
 */
export function createPageRouters(deps: AppDeps): Router[] {
  const { config, provider } = deps
  return [
    createInteractionRouter({ ...deps, siteName: config.siteName }),
    // The upstreams' redirect URI, /federation/:id/callback: it leads back into the interaction.
    createFederationReturnRouter({ provider, federation: deps.federation, audit: deps.audit, siteName: config.siteName }),
    createAccountRouter({ ...deps, siteName: config.siteName, issuer: config.issuer, relyingParty: deps.accountRelyingParty }),
    // Pages the emailed links open (verify, reset, invitation) and "Forgot your password?".
    createSelfServiceRouter(deps),
  ]
}

/** A path's first segment, lower-cased as the routers match: "account" for /Account/sessions, "" for /. */
const firstSegment = (path: string) => (path.split('/', 2)[1] ?? '').toLowerCase()

/**
 * A page router's routes and allowed methods, skipped for paths outside its routes' first segments:
 * each router otherwise tests every one of its route patterns on every provider request (/token,
 * /me, introspection), a few per cent of their cost.
 */
function onlyUnderItsRoutes(router: Router): Middleware {
  const segments = new Set(router.stack.map((layer) => (typeof layer.path === 'string' ? firstSegment(layer.path) : '*')))
  const routes = router.routes() as Middleware
  const allowed = router.allowedMethods() as Middleware
  const handle: Middleware = (ctx, next) => routes(ctx, () => allowed(ctx, next))
  // A pattern that starts with a parameter (/:x) or a regular expression could match any path.
  if ([...segments].some((s) => /[:(*]/.test(s))) return handle
  return (ctx, next) => (segments.has(firstSegment(ctx.path)) ? handle(ctx, next) : next())
}

/**
 * Behind the trusted proxy, every URL built from the request names ISSUER's origin: oidc-provider
 * builds its endpoint URLs (discovery) and redirects from ctx.href, and Koa takes the host from
 * X-Forwarded-Host (or Host, or an absolute request target), which a client can write. Pinned
 * here, a forged header cannot put another host into discovery (and a cache in front of it) or a
 * redirect. The proxy's X-Forwarded-Proto still decides ctx.secure (Secure cookies, HSTS), as the
 * scheme the browser really used; docs/deploy.md says what the proxy must set.
 */
function publicOrigin(issuer: string): Middleware {
  const { origin, host, hostname } = new URL(issuer)
  return async function pinPublicOrigin(ctx: Context, next: Next) {
    const target = ctx.request.originalUrl
    const absolute = target.startsWith('/') ? undefined : URL.parse(target)
    const pathAndQuery = absolute ? `${absolute.pathname}${absolute.search}` : target
    Object.defineProperties(ctx.request, {
      origin: { value: origin, configurable: true },
      host: { value: host, configurable: true },
      hostname: { value: hostname, configurable: true },
      href: { value: `${origin}${pathAndQuery}`, configurable: true },
    })
    await next()
  }
}

export function createApp(deps: AppDeps): Koa {
  const { config, logger, provider } = deps
  // maxIpsCount 1: ctx.ip is the address the trusted proxy saw (the last X-Forwarded-For entry),
  // not the first, which the client writes itself and would slip past the per-IP rate limits.
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: 1 })
  app.keys = new CookieSigner(deps.cookieKeys)
  app.silent = true // errors are logged by our middleware and provider events, once.
  const access = accessLogger(logger)
  if (config.trustProxy) app.use(publicOrigin(config.issuer))

  app.use(async function requestContext(ctx: Context, next: Next) {
    const given = ctx.get('x-request-id')
    ctx.state.requestId = REQUEST_ID.test(given) ? given : randomUUID()
    ctx.set('X-Request-Id', ctx.state.requestId)
    const started = performance.now()
    try {
      await next()
    } finally {
      const route = matchedRoute(ctx)
      const seconds = (performance.now() - started) / 1000
      // The route pattern, else the path: never the query string (it carries codes, tokens, state).
      access.info({ reqId: ctx.state.requestId, method: ctx.method, route: route ?? ctx.path, status: ctx.status, ms: Math.round(seconds * 1000) }, 'request')
      deps.metrics?.observeRequest(ctx.method, route ?? UNMATCHED_ROUTE, ctx.status, seconds)
    }
  })

  // A response sent before the request's body was read to its end (a body over a parser's limit,
  // a refusal before parsing) leaves the rest of that body on the connection, where Node would
  // read it as the next request and the client's next request on it would be reset. Such a
  // response closes the connection, and says so, so the client opens a new one.
  app.use(async function closeAfterUnreadBody(ctx: Context, next: Next) {
    try {
      await next()
    } finally {
      if (!ctx.req.complete) ctx.set('Connection', 'close')
    }
  })

  // Errors nothing else answered: logged here (the app is silent), then Koa's plain 500.
  app.use(async function unhandledErrors(ctx: Context, next: Next) {
    try {
      await next()
    } catch (err) {
      const status = (err as { status?: unknown }).status
      if (typeof status !== 'number' || status >= 500) logger.error({ err, reqId: ctx.state.requestId }, 'unhandled error')
      throw err
    }
  })

  app.use(async function securityHeaders(ctx: Context, next: Next) {
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set('Referrer-Policy', 'no-referrer')
    ctx.set('X-Frame-Options', 'DENY')
    ctx.state.cspNonce = cspNonce()
    ctx.set('Content-Security-Policy', contentSecurityPolicy(ctx.state.cspNonce as string))
    // ctx.secure honours X-Forwarded-Proto only with TRUST_PROXY: a client cannot turn this on.
    if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains')
    await next()
  })

  const page = { siteName: config.siteName }
  // A store that is away (Redis, PostgreSQL): 503 + Retry-After, JSON or a page (src/store/unavailable.ts).
  const unavailablePage = (ctx: Context) => renderPage('error', page, { title: 'Temporarily unavailable', message: 'This service is briefly unavailable. Please try again in a moment.', requestId: ctx.state.requestId })
  app.use(storeUnavailable({
    page: unavailablePage,
    onUnavailable: (ctx, err) => { if (err) logger.warn({ err, reqId: ctx.state.requestId }, 'store unavailable') },
  }))
  app.use(async function pageErrors(ctx: Context, next: Next) {
    if (!ctx.path.startsWith('/interaction/') && !ctx.path.startsWith('/account') && !ctx.path.startsWith('/federation/') && !ctx.path.startsWith('/self-service/')) return next()
    try {
      await next()
    } catch (err) {
      const e = err as { status?: number; expose?: boolean; message?: string }
      ctx.set('Cache-Control', 'no-store')
      ctx.type = 'html'
      if (err instanceof errors.SessionNotFound || err instanceof errors.InvalidRequest) {
        ctx.status = 400
        ctx.body = renderPage('error', page, { title: 'Sign-in expired', message: 'This sign-in page has expired or was opened in another browser. Go back to the application and sign in again.', requestId: ctx.state.requestId })
      } else if (isStoreUnavailable(err)) {
        logger.warn({ err, reqId: ctx.state.requestId }, 'store unavailable')
        answerUnavailable(ctx, { page: unavailablePage })
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
      ctx.set('Cache-Control', 'no-store')
      ctx.body = { status: 'ok', version: VERSION }
      return
    }
    if (ctx.path === '/readyz') {
      const readiness = await deps.ready()
      ctx.set('Cache-Control', 'no-store')
      ctx.status = readiness.status === 'ready' ? 200 : 503
      ctx.body = readiness
      return
    }
    if (ctx.path === '/metrics' && deps.metrics && config.metricsPort === undefined) {
      ctx.set('Cache-Control', 'no-store')
      const answer = await renderMetrics(deps.metrics, logger, ctx.state.requestId as string)
      ctx.status = answer.status
      ctx.type = answer.contentType
      ctx.body = answer.body
      return
    }
    return next()
  })

  // The admin console's single page and assets (/admin, /admin/*; not /admin/api/*).
  app.use(serveConsole({ issuer: config.issuer }))

  app.use(createCsrfGuard({
    csrf: deps.csrf, audit: deps.audit,
    refusalPage(ctx, back) {
      ctx.type = 'html'
      ctx.body = renderPage('error', page, { ...CSRF_REFUSAL, requestId: ctx.state.requestId, ...(back ? { backHref: back.href, backLabel: back.label } : {}) })
    },
  }))

  for (const router of createPageRouters(deps)) app.use(onlyUnderItsRoutes(router))

  // This server's own API (RFC 9470 step-up), before the provider so /api/* never reaches it.
  app.use(createDemoApi({ provider, prisma: deps.prisma, logger, issuer: config.issuer }))
  // The admin REST API (/admin/api): bearer tokens only, problem+json errors; before the provider likewise.
  app.use(createAdminApi({ provider, prisma: deps.prisma, audit: deps.audit, clock: deps.clock, logger, issuer: config.issuer, passwordMinLength: config.passwordMinLength, outboundAllowedHosts: config.outboundAllowedHosts }))

  provider.on('server_error', (ctx: Context, err: Error) => {
    // A store that is away is not a server bug: storeUnavailable() turns this 500 into a 503.
    if (isStoreUnavailable(err)) {
      markStoreUnavailable(ctx, err)
      logger.warn({ err, reqId: ctx.state.requestId }, 'store unavailable')
    } else logger.error({ err, reqId: ctx.state.requestId }, 'provider server error')
  })
  // Records each sign-in's device and the grants given in it (UserSession, /account/sessions).
  app.use(trackSessions({ prisma: deps.prisma, provider, audit: deps.audit, clock: deps.clock, logger, maxSessionsPerUser: config.maxSessionsPerUser }))
  // Per-client limit on POST /token (RATE_LIMIT_TOKEN_CLIENT): answers 429 before the provider.
  app.use(tokenRateLimit(deps.limits))
  app.use(devicePolling(deps.limits))
  app.use(codeResourceCheck(provider))
  // Two oidc-provider 9 errors that escape it as a bare 500, found by test/integration/fuzz.test.ts:
  // - after its error handler has answered a 4xx (e.g. POST /device with a JSON body), its
  //   ensureSessionSave persists the new session that request touched, which was never stored:
  //   "persist can only be called on previously persisted Sessions". Nothing needs saving; the
  //   4xx it already rendered stands.
  // - its error handler at the device resume route (GET /device/:uid) reads
  //   ctx.oidc.session.state, undefined without the resume cookie (a stale or made-up link), and
  //   throws a TypeError itself. Answer what it meant: the device sign-in expired.
  app.use(async function providerEscapes(ctx: Context, next: Next) {
    try {
      await next()
    } catch (err) {
      if (!(err instanceof TypeError)) throw err
      if (err.message.startsWith('persist can only be called on previously persisted Sessions') && ctx.status >= 400 && ctx.status < 500 && ctx.body) {
        logger.warn({ err, reqId: ctx.state.requestId, status: ctx.status }, 'provider error answer kept (unsaved session)')
        return
      }
      if (ctx.method === 'GET' && /^\/device\/[^/]+$/.test(ctx.path)) {
        logger.warn({ err, reqId: ctx.state.requestId }, 'device resume failed')
        ctx.status = 400
        ctx.type = 'html'
        ctx.set('Cache-Control', 'no-store')
        ctx.body = renderPage('error', page, { title: 'Sign-in expired', message: 'This device sign-in has expired or was opened in another browser. Start again on your device.', requestId: ctx.state.requestId })
        return
      }
      throw err
    }
  })
  app.use(mount(provider))
  return app
}

// Composes the HTTP application, read top to bottom: what every request gets (an id, the access
// log and metrics, security headers), then one area per kind of caller, each its own stack with
// ONE error handler that answers in that caller's format (docs/adr/0250-one-error-model.md):
//
//   health     /healthz /readyz /metrics, the pages' assets   plain answers
//   admin API  /admin/api                                      RFC 9457 problem+json
//   demo API   /api/demo, /.well-known/oauth-protected-resource/…   RFC 6750 JSON errors and challenges
//   console    /admin                                          the admin console's page and assets
//   pages      /interaction /federation /account (and /) /self-service   the site's error page
//   provider   everything else                                 OAuth JSON or redirect (oidc-provider's own)
//
// Which area a request belongs to is decided here, once (areaOf); no middleware looks at the path
// to guess it.
import Koa, { type Context, type Middleware, type Next } from 'koa'
import type Router from '@koa/router'
import mount from 'koa-mount'
import type { default as Provider } from 'oidc-provider'
import type { Config } from './config.ts'
import { setDefaultLocale } from './i18n/catalogs.ts'
import type { Logger } from './observability/logger.ts'
import type { Metrics } from './observability/metrics.ts'
import { healthRoutes, type Readiness } from './observability/health.ts'
import { pageContext, renderPage } from './pages/render.ts'
import { serveAssets } from './pages/assets.ts'
import { createInteractionRouter, type InteractionDeps } from './interaction/routes.ts'
import type { MfaDeps } from './interaction/mfa.ts'
import { createAccountRouter } from './account/routes.ts'
import { createSelfServiceRouter } from './self-service/routes.ts'
import type { Mailer } from './mail/mailer.ts'
import { createFederationReturnRouter } from './interaction/federation.ts'
import type { Federation } from './federation/upstreams.ts'
import { bearerApiErrors, createDemoApi, PROTECTED_RESOURCE_METADATA_PATH } from './api/demo.ts'
import { createAdminApi } from './admin/router.ts'
import { problemErrors } from './admin/problem.ts'
import { serveConsole } from './admin/console-assets.ts'
import { isProviderUnsafeEndpoint } from './oidc/provider-internals.ts'
import { publicOrigin } from './middleware/public-origin.ts'
import { closeAfterUnreadBody, logUnhandled, requestContext } from './middleware/request-context.ts'
import { securityHeaders } from './middleware/security-headers.ts'
import { ACCOUNT_CSRF_SCOPE, csrfRefusal, csrfGuard, interactionScope, NO_FORMS, SELF_SERVICE_CSRF_SCOPE, type CsrfGuardDeps, type CsrfScope } from './middleware/csrf-guard.ts'
import { pageErrors } from './middleware/page-errors.ts'
import { providerErrors } from './middleware/provider-errors.ts'
import { trackSessions } from './middleware/session-tracking.ts'
import { tokenRateLimit } from './middleware/token-rate-limit.ts'
import { devicePolling } from './middleware/device-polling.ts'
import { codeResourceCheck } from './middleware/code-resource-check.ts'
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

type AreaName = 'health' | 'adminApi' | 'demoApi' | 'console' | 'interaction' | 'federation' | 'account' | 'selfService' | 'provider'

/** The path itself or below it, letter case as written (the APIs' and the console's own gates). */
const under = (prefix: string) => (path: string) => path === prefix || path.startsWith(`${prefix}/`)
/** A path's first segment as our page routers match it (any letter case): "account" for /Account/sessions. */
const firstSegment = (path: string) => (path.split('/', 2)[1] ?? '').toLowerCase()
const HEALTH = new Set(['/healthz', '/readyz', '/metrics', '/assets/style.css', '/assets/webauthn.js'])
const PAGE_AREAS: Record<string, AreaName> = { interaction: 'interaction', federation: 'federation', account: 'account', 'self-service': 'selfService' }

/** The area that answers `path`: the one place that decides it. */
export function areaOf(path: string): AreaName {
  if (HEALTH.has(path)) return 'health'
  if (under('/admin/api')(path)) return 'adminApi'
  if (under('/api/demo')(path) || under(PROTECTED_RESOURCE_METADATA_PATH)(path)) return 'demoApi'
  if (under('/admin')(path)) return 'console'
  if (path === '/') return 'account' // the front door: the account area sends people to /account
  return PAGE_AREAS[firstSegment(path)] ?? 'provider'
}

/**
 * Each browser-facing area's CSRF scope (src/middleware/csrf-guard.ts). The bearer-token APIs and
 * the probes have none: no cookie authenticates them. The provider takes unsafe requests at its own
 * endpoints only (client credentials, codes and tokens; its logout and device forms carry their
 * own xsrf field).
 */
const CSRF_SCOPES: Partial<Record<AreaName, CsrfScope>> = {
  interaction: interactionScope,
  federation: () => NO_FORMS,
  account: (path) => (firstSegment(path) === 'account' ? ACCOUNT_CSRF_SCOPE : NO_FORMS),
  selfService: () => SELF_SERVICE_CSRF_SCOPE,
  console: () => NO_FORMS,
  provider: (path) => (isProviderUnsafeEndpoint(path) ? undefined : NO_FORMS),
}

/** The CSRF scope an unsafe request to `path` must carry a token for; undefined when its area takes none. */
export function csrfScopeOf(path: string): string | undefined {
  return CSRF_SCOPES[areaOf(path)]?.(path)
}

/** A Koa sub-app of `stack`, mounted at "/" (koa-mount runs it on this request, no prefix stripped). */
function subApp(stack: Middleware[]): Middleware {
  const sub = new Koa()
  for (const middleware of stack) sub.use(middleware)
  return mount(sub)
}

/** One area: its sub-app (error handler first) runs for the paths areaOf gives it; the others pass it by. */
function area(name: AreaName, stack: Middleware[]): Middleware {
  const run = subApp(stack)
  return function areaMiddleware(ctx: Context, next: Next) {
    // Decided once per request; each area only compares.
    ctx.state.area ??= areaOf(ctx.path)
    return ctx.state.area === name ? run(ctx, next) : next()
  }
}

/** A router's routes and allowed methods as one middleware. */
function routesOf(router: Router): Middleware {
  const routes = router.routes() as Middleware
  const allowed = router.allowedMethods() as Middleware
  return (ctx, next) => routes(ctx, () => allowed(ctx, next))
}

/**
 * Every router of our pages, by area. One list, so the CSRF test (test/integration/csrf.test.ts)
 * walks every POST route there is: a router added elsewhere would escape it.
 */
export function createPageRouters(deps: AppDeps): Partial<Record<AreaName, Router>> {
  const { config, provider } = deps
  return {
    interaction: createInteractionRouter({ ...deps, siteName: config.siteName }),
    // The upstreams' redirect URI, /federation/:id/callback: it leads back into the interaction.
    federation: createFederationReturnRouter({ provider, federation: deps.federation, audit: deps.audit, siteName: config.siteName }),
    account: createAccountRouter({ ...deps, siteName: config.siteName, issuer: config.issuer, relyingParty: deps.accountRelyingParty }),
    // Pages the emailed links open (verify, reset, invitation) and "Forgot your password?".
    selfService: createSelfServiceRouter(deps),
  }
}

export function createApp(deps: AppDeps): Koa {
  const { config, logger, provider } = deps
  const siteName = config.siteName
  setDefaultLocale(config.defaultLocale)
  // maxIpsCount 1: ctx.ip is the address the trusted proxy saw (the last X-Forwarded-For entry),
  // not the first, which the client writes itself and would slip past the per-IP rate limits.
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: 1 })
  app.keys = new CookieSigner(deps.cookieKeys)
  app.silent = true // errors are logged by our middleware and provider events, once.

  // Every request.
  if (config.trustProxy) app.use(publicOrigin(config.issuer))
  app.use(requestContext({ logger, metrics: deps.metrics }))
  app.use(closeAfterUnreadBody)
  app.use(logUnhandled(logger))
  app.use(securityHeaders())

  const csrf: CsrfGuardDeps = {
    csrf: deps.csrf, audit: deps.audit,
    refusalPage(ctx, back) {
      ctx.type = 'html'
      ctx.body = renderPage('error', pageContext(ctx, siteName), { ...csrfRefusal(ctx), requestId: ctx.state.requestId, ...(back ? { backHref: back.href, backLabel: back.label } : {}) })
    },
  }
  const guard = (name: AreaName) => csrfGuard(csrf, CSRF_SCOPES[name]!)
  const pages = pageErrors({ logger, siteName, siteHome: config.siteHomeUrl })

  // The areas.
  app.use(area('health', [healthRoutes({ ready: deps.ready, logger, metrics: config.metricsPort === undefined ? deps.metrics : undefined }), serveAssets()]))
  app.use(area('adminApi', [problemErrors(logger), createAdminApi({ provider, prisma: deps.prisma, audit: deps.audit, clock: deps.clock, logger, issuer: config.issuer, passwordMinLength: config.passwordMinLength, outboundAllowedHosts: config.outboundAllowedHosts })]))
  // This server's own API (RFC 9470 step-up).
  app.use(area('demoApi', [bearerApiErrors(logger), createDemoApi({ provider, prisma: deps.prisma, logger, issuer: config.issuer })]))
  // The admin console's single page and assets (/admin, /admin/*; not /admin/api/*).
  app.use(area('console', [pages, guard('console'), serveConsole({ issuer: config.issuer })]))
  for (const [name, router] of Object.entries(createPageRouters(deps)) as Array<[AreaName, Router]>) {
    app.use(area(name, [pages, guard(name), routesOf(router)]))
  }
  // Everything else is the provider's, with what this server adds in front of it.
  app.use(subApp([
    providerErrors({ provider, logger, siteName, siteHome: config.siteHomeUrl }),
    guard('provider'),
    // Records each sign-in's device and the grants given in it (UserSession, /account/sessions).
    trackSessions({ prisma: deps.prisma, provider, audit: deps.audit, clock: deps.clock, logger, maxSessionsPerUser: config.maxSessionsPerUser }),
    // Per-client limit on POST /token (RATE_LIMIT_TOKEN_CLIENT): answers 429 before the provider.
    tokenRateLimit(deps.limits),
    devicePolling(deps.limits),
    codeResourceCheck(provider),
    mount(provider),
  ]))
  return app
}

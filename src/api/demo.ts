// A demonstration API on this server, protected by its own access tokens: /api/demo/profile takes
// any valid token for the API, /api/demo/sensitive demands a second factor within the last five
// minutes and answers an RFC 9470 step-up challenge otherwise. The admin API follows the pattern.
import Router from '@koa/router'
import type { Context, Middleware, Next } from 'koa'
import type { default as Provider } from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import type { Logger } from '../observability/logger.ts'
import { registerResourceServer } from '../oidc/resource-servers.ts'
import { ACR_MFA } from '../mfa/acr.ts'
import { answerUnavailableJson, storeUnavailableOf } from '../store/unavailable.ts'
import { requireBearer, type VerifiedAccessToken } from '../middleware/bearer.ts'

/** The resource indicator of this server's own API. */
export function apiResource(issuer: string): string {
  return `${issuer}/api`
}

export const DEMO_SCOPES = ['demo'] as const
/** How recent the second factor must be for the sensitive route, in seconds. */
export const SENSITIVE_MAX_AGE = 300

/** Registers (once) the API as a resource server: JWT access tokens with the demo scope. */
export async function ensureApiResourceServer(prisma: Db, issuer: string): Promise<void> {
  await registerResourceServer(prisma, { identifier: apiResource(issuer), name: 'This server’s API', scopes: [...DEMO_SCOPES], format: 'jwt' })
}

export interface DemoApiDeps {
  provider: Provider
  prisma: Db
  logger: Logger
  issuer: string
}

function describe(token: VerifiedAccessToken) {
  return { sub: token.sub, client_id: token.clientId, scope: token.scopes.join(' '), acr: token.acr, amr: token.amr, auth_time: token.authTime }
}

/**
 * The demo API's error handler (RFC 6750's JSON errors; its challenges are written by
 * requireBearer): a refused request is invalid_request, a store that is away a 503
 * temporarily_unavailable, anything else a logged 500 server_error.
 */
export function bearerApiErrors(logger: Logger): Middleware {
  return async function bearerApiErrorsMiddleware(ctx: Context, next: Next) {
    try {
      await next()
    } catch (err) {
      if (storeUnavailableOf(err)) {
        logger.warn({ err, reqId: ctx.state.requestId }, 'store unavailable')
        answerUnavailableJson(ctx)
        return
      }
      const e = err as { status?: number; expose?: boolean; message?: string }
      if (e.status && e.status < 500 && e.expose) {
        ctx.status = e.status
        ctx.body = { error: 'invalid_request', error_description: e.message }
        return
      }
      logger.error({ err, reqId: ctx.state.requestId }, 'api request failed')
      ctx.status = 500
      ctx.body = { error: 'server_error' }
    }
  }
}

/** The demo API's routes (under /api/demo; server.ts registers its resource server at start). */
export function createDemoApi({ provider, issuer }: DemoApiDeps): Middleware {
  const resource = apiResource(issuer)

  const router = new Router({ prefix: '/api/demo' })
  router.get('/profile', requireBearer(provider, { resource }), (ctx: Context) => {
    ctx.set('Cache-Control', 'no-store')
    ctx.body = describe(ctx.state.accessToken as VerifiedAccessToken)
  })
  router.get('/sensitive', requireBearer(provider, { resource, acr: ACR_MFA, maxAge: SENSITIVE_MAX_AGE }), (ctx: Context) => {
    ctx.set('Cache-Control', 'no-store')
    ctx.body = { sensitive: true, ...describe(ctx.state.accessToken as VerifiedAccessToken) }
  })
  // Plain Koa middleware: the router's context types are its own business.
  const routes = router.routes() as Middleware
  const methods = router.allowedMethods() as Middleware

  return async function demoApi(ctx: Context) {
    await routes(ctx, async () => methods(ctx, async () => {
      ctx.status = 404
      ctx.body = { error: 'not_found' }
    }))
  }
}

// A demonstration API on this server, protected by its own access tokens: /api/demo/profile takes
// any valid token for the API, /api/demo/sensitive demands a second factor within the last five
// minutes and answers an RFC 9470 step-up challenge otherwise. The admin API follows the pattern.
// It describes itself with OAuth 2.0 Protected Resource Metadata (RFC 9728) at the well-known URL
// derived from its resource identifier, and names that URL in its challenges (docs/adr/0300).
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

/** The name the API is registered (and described in its metadata) with. */
const API_NAME = 'This server’s API'

/** RFC 9728's registered well-known suffix. */
export const PROTECTED_RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource'

/**
 * RFC 9728 §3.1: the URL of a resource's metadata puts the well-known suffix between the host and
 * the resource identifier's path (its trailing slash removed), keeping the query:
 * https://id.example.com/api → https://id.example.com/.well-known/oauth-protected-resource/api.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource)
  return `${url.origin}${PROTECTED_RESOURCE_METADATA_PATH}${url.pathname.replace(/\/$/, '')}${url.search}`
}

export const DEMO_SCOPES = ['demo'] as const
/** How recent the second factor must be for the sensitive route, in seconds. */
export const SENSITIVE_MAX_AGE = 300

/** Registers (once) the API as a resource server: JWT access tokens with the demo scope. */
export async function ensureApiResourceServer(prisma: Db, issuer: string): Promise<void> {
  await registerResourceServer(prisma, { identifier: apiResource(issuer), name: API_NAME, scopes: [...DEMO_SCOPES], format: 'jwt' })
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

/**
 * The API's Protected Resource Metadata (RFC 9728 §2): what a client that meets it needs to get a
 * token for it. Bearer tokens in the Authorization header only (requireBearer reads no other).
 */
export function demoApiMetadata(issuer: string): Record<string, unknown> {
  return {
    resource: apiResource(issuer),
    authorization_servers: [issuer],
    scopes_supported: [...DEMO_SCOPES],
    bearer_methods_supported: ['header'],
    resource_name: API_NAME,
    // Key-bound tokens are refused here: presenting them as bearer tokens is what binding prevents.
    dpop_bound_access_tokens_required: false,
    tls_client_certificate_bound_access_tokens: false,
  }
}

/**
 * The demo API's routes (under /api/demo; server.ts registers its resource server at start) and
 * its metadata document (app.ts gives this area the RFC 9728 well-known paths).
 */
export function createDemoApi({ provider, issuer }: DemoApiDeps): Middleware {
  const resource = apiResource(issuer)
  const resourceMetadata = protectedResourceMetadataUrl(resource)

  const router = new Router()
  // The path the well-known URL names on this host, seen from / like every route here (ADR 0300).
  router.get(new URL(resourceMetadata).pathname, (ctx: Context) => {
    // Public, and read by browser-based clients (tools that register themselves) from other origins.
    ctx.set('Access-Control-Allow-Origin', '*')
    ctx.set('Cache-Control', 'public, max-age=300')
    ctx.body = demoApiMetadata(issuer)
  })
  router.get('/api/demo/profile', requireBearer(provider, { resource, resourceMetadata }), (ctx: Context) => {
    ctx.set('Cache-Control', 'no-store')
    ctx.body = describe(ctx.state.accessToken as VerifiedAccessToken)
  })
  router.get('/api/demo/sensitive', requireBearer(provider, { resource, resourceMetadata, acr: ACR_MFA, maxAge: SENSITIVE_MAX_AGE }), (ctx: Context) => {
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

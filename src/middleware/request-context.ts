// What every request gets, whatever area answers it: an id (X-Request-Id), one access-log line and
// one metrics observation labelled by the matched route, a closed connection when its body was not
// read, and a log line for an error no area answered.
import { randomUUID } from 'node:crypto'
import type { Context, Middleware, Next } from 'koa'
import { accessLogger, type Logger } from '../observability/logger.ts'
import { UNMATCHED_ROUTE, type Metrics } from '../observability/metrics.ts'
import { matchedRoute } from '../oidc/provider-internals.ts'

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/

/**
 * The route a request matched, as a pattern (`/interaction/:uid/login`, the provider's
 * `/auth/:uid`), or the fixed route a handler outside any router names in ctx.state.route
 * (/healthz, the assets). Low cardinality: never a raw path with ids in it.
 */
function routeOf(ctx: Context): string | undefined {
  return matchedRoute(ctx) ?? (ctx.state.route as string | undefined)
}

export function requestContext(deps: { logger: Logger; metrics?: Metrics | undefined }): Middleware {
  const access = accessLogger(deps.logger)
  return async function requestContextMiddleware(ctx: Context, next: Next) {
    const given = ctx.get('x-request-id')
    ctx.state.requestId = REQUEST_ID.test(given) ? given : randomUUID()
    ctx.set('X-Request-Id', ctx.state.requestId)
    const started = performance.now()
    try {
      await next()
    } finally {
      const route = routeOf(ctx)
      const seconds = (performance.now() - started) / 1000
      // The route pattern, else the path: never the query string (it carries codes, tokens, state).
      access.info({ reqId: ctx.state.requestId, method: ctx.method, route: route ?? ctx.path, status: ctx.status, ms: Math.round(seconds * 1000) }, 'request')
      deps.metrics?.observeRequest(ctx.method, route ?? UNMATCHED_ROUTE, ctx.status, seconds)
    }
  }
}

/**
 * A response sent before the request's body was read to its end (a body over a parser's limit,
 * a refusal before parsing) leaves the rest of that body on the connection, where Node would
 * read it as the next request and the client's next request on it would be reset. Such a
 * response closes the connection, and says so, so the client opens a new one.
 */
export async function closeAfterUnreadBody(ctx: Context, next: Next) {
  try {
    await next()
  } finally {
    if (!ctx.req.complete) ctx.set('Connection', 'close')
  }
}

/** Errors no area answered: logged here (the app is silent), then Koa's plain answer. */
export function logUnhandled(logger: Logger): Middleware {
  return async function unhandledErrors(ctx: Context, next: Next) {
    try {
      await next()
    } catch (err) {
      const status = (err as { status?: unknown }).status
      if (typeof status !== 'number' || status >= 500) logger.error({ err, reqId: ctx.state.requestId }, 'unhandled error')
      throw err
    }
  }
}

// "A store is away" as an answer: while Redis or PostgreSQL cannot be reached, every request that
// needs it gets a clear 503 with Retry-After (the OAuth JSON error `temporarily_unavailable` for
// protocol and API callers, an HTML page for people), not a 500 and not a hang.
//
// The stores fail fast on their own (src/store/redis.ts: no offline queue, bounded commands;
// src/store/database.ts: bounded connection attempts); this module only recognises their errors
// and answers them. Three places use it:
//   - storeUnavailable(), early in the app: errors thrown by our middleware and routers;
//   - the interaction/account pages' error handler (src/app.ts pageErrors), for its pages;
//   - the provider's `server_error` event: oidc-provider catches every error itself and answers
//     500 server_error, so the event marks the request (markStoreUnavailable) and storeUnavailable()
//     rewrites that 500 on the way out.
import type { Context, Next } from 'koa'

/** Seconds a client should wait before retrying: a restart of either store takes about this long. */
export const RETRY_AFTER_SECONDS = 2

// ioredis: the socket is down and nothing is queued (enableOfflineQueue false), retries ran out,
// a command timed out (hung server), or the connection closed under a command.
const REDIS_NAMES = new Set(['MaxRetriesPerRequestError'])
const REDIS_MESSAGES = [
  /Stream isn't writeable/i,
  /enableOfflineQueue/i,
  /^Connection is closed\.?$/i,
  /^Command timed out$/i,
  /max retries per request/i,
  /None of the sentinels are available/i,
  /Failed to refresh slots cache/i,
  /CLUSTERDOWN/,
  /^LOADING /,
]
// Prisma (with a driver adapter) and pg: unreachable, connection lost, server shutting down or
// starting up, pool exhausted while connections cannot be made.
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024'])
const DRIVER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'DatabaseDoesNotExist'])
// SQLSTATE class 08 (connection exception), 57P01–57P03 (admin shutdown, crash shutdown, cannot connect now).
const PG_CODES = /^(08\d{3}|57P0[123])$/
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTCONN'])
const PG_MESSAGES = [
  /Can't reach database server/i,
  /Server has closed the connection/i,
  /Connection terminated/i,
  /the database system is (starting up|shutting down|in recovery mode)/i,
  /terminating connection due to administrator command/i,
  /timeout exceeded when trying to connect/i,
  /Timed out fetching a new connection from the connection pool/i,
]

/** True when `err` (or anything in its cause chain) says Redis or the database cannot be reached. */
export function isStoreUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>()
  const queue: unknown[] = [err]
  while (queue.length) {
    const e = queue.shift()
    if (!e || typeof e !== 'object' || seen.has(e) || seen.size > 20) continue
    seen.add(e)
    const o = e as { name?: unknown; message?: unknown; code?: unknown; kind?: unknown; cause?: unknown; meta?: unknown; originalCode?: unknown; errors?: unknown }
    const name = typeof o.name === 'string' ? o.name : ''
    const message = typeof o.message === 'string' ? o.message : ''
    const code = typeof o.code === 'string' ? o.code : typeof o.originalCode === 'string' ? o.originalCode : ''
    if (REDIS_NAMES.has(name) || REDIS_MESSAGES.some((re) => re.test(message))) return true
    if (PRISMA_CODES.has(code) || PG_CODES.test(code) || NET_CODES.has(code)) return true
    if (typeof o.kind === 'string' && DRIVER_KINDS.has(o.kind)) return true
    if (PG_MESSAGES.some((re) => re.test(message))) return true
    queue.push(o.cause)
    const meta = o.meta as { driverAdapterError?: unknown } | undefined
    if (meta && typeof meta === 'object') queue.push(meta.driverAdapterError)
    if (Array.isArray(o.errors)) queue.push(...o.errors) // AggregateError (e.g. every address refused)
  }
  return false
}

/** For the provider's `server_error` event: this request failed because a store is away. */
export function markStoreUnavailable(ctx: Context, err: unknown): void {
  if (isStoreUnavailable(err)) ctx.state.storeUnavailable = true
}

export interface StoreUnavailableOptions {
  /** The HTML page for people (the site's error page). */
  page(ctx: Context): string
  /** Called for each thrown store error answered with 503 (logging). */
  onUnavailable?(ctx: Context, err: unknown): void
}

/** People's pages (HTML); everything else is a protocol endpoint or an API (JSON). */
const PAGE_PREFIXES = ['/interaction/', '/account', '/self-service/', '/federation/', '/auth', '/session/end', '/device', '/admin']

/** Whether the caller gets JSON: protocol endpoints and APIs, or a page's script that sent JSON. */
function wantsJson(ctx: Context): boolean {
  const p = ctx.path
  if (p.startsWith('/admin/api/') || p === '/device/auth') return true
  if (PAGE_PREFIXES.some((prefix) => p.startsWith(prefix))) return ctx.is('json') === 'json'
  return true
}

/** Answers 503 + Retry-After in the caller's format. */
export function answerUnavailable(ctx: Context, opts: StoreUnavailableOptions, json = wantsJson(ctx)): void {
  ctx.status = 503
  ctx.set('Retry-After', String(RETRY_AFTER_SECONDS))
  ctx.set('Cache-Control', 'no-store')
  ctx.remove('Location')
  if (json) {
    if (ctx.path.startsWith('/admin/api/')) {
      ctx.type = 'application/problem+json'
      ctx.body = JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'a store this server depends on is unavailable; retry shortly' })
    } else {
      ctx.body = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; retry shortly' }
    }
  } else {
    ctx.type = 'html'
    ctx.body = opts.page(ctx)
  }
}

/**
 * Early in the middleware chain: a thrown store error becomes a 503, and a response the provider
 * already rendered as 500 server_error for a store error (marked by markStoreUnavailable) is
 * rewritten to a 503 in the same format.
 */
export function storeUnavailable(opts: StoreUnavailableOptions) {
  return async function storeUnavailableMiddleware(ctx: Context, next: Next) {
    try {
      await next()
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err
      opts.onUnavailable?.(ctx, err)
      answerUnavailable(ctx, opts)
      return
    }
    if (!ctx.state.storeUnavailable) return
    // The provider answered 500 (JSON or its error page) or, at the authorization endpoint, sent
    // the browser back to the client with error=server_error: either way the store was the cause.
    if (ctx.status === 500) {
      const json = ctx.response.is('json') !== false
      answerUnavailable(ctx, opts, json)
    } else if (ctx.status >= 300 && ctx.status < 400) {
      const location = ctx.response.get('Location')
      if (location && /[?&#]error=server_error\b/.test(location)) {
        // RFC 6749 §4.1.2.1: temporarily_unavailable is the authorization endpoint's code for this.
        ctx.redirect(location.replace(/([?&#]error=)server_error\b/, '$1temporarily_unavailable').replace(/([?&#]error_description=)[^&#]*/, '$1the+service+is+temporarily+unavailable%3B+retry+shortly'))
        ctx.set('Retry-After', String(RETRY_AFTER_SECONDS))
      }
    }
  }
}

// "A store is away" as one error type: while Redis or PostgreSQL cannot be reached, a request that
// needs it gets a clear 503 with Retry-After, not a 500 and not a hang. The stores fail fast on
// their own (src/store/redis.ts: no offline queue, bounded commands; src/store/database.ts:
// bounded connection attempts); this module recognises their errors as StoreUnavailable, and each
// area's error handler answers that in its own format (docs/adr/0250-one-error-model.md).
import type { Context } from 'koa'

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
function isStoreUnavailable(err: unknown): boolean {
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

/** A request failed because Redis or the database cannot be reached; `cause` is the driver's error. */
export class StoreUnavailable extends Error {
  override name = 'StoreUnavailable'
  constructor(cause: unknown) {
    super('a store this server depends on is unavailable', { cause })
  }
}

/** `err` as a StoreUnavailable when it is one or a store's driver says so; undefined otherwise. */
export function storeUnavailableOf(err: unknown): StoreUnavailable | undefined {
  if (err instanceof StoreUnavailable) return err
  return isStoreUnavailable(err) ? new StoreUnavailable(err) : undefined
}

/** What every format's 503 shares: the status, Retry-After, no caching, no redirect. The handler writes the body. */
export function answerUnavailableStatus(ctx: Context): void {
  ctx.status = 503
  ctx.set('Retry-After', String(RETRY_AFTER_SECONDS))
  ctx.set('Cache-Control', 'no-store')
  ctx.remove('Location')
}

/** The OAuth error body for protocol and API callers (RFC 6749's temporarily_unavailable). */
export const TEMPORARILY_UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; retry shortly' } as const

/** The 503 for protocol and API callers, and a page's script: the shared status and the OAuth JSON body. */
export function answerUnavailableJson(ctx: Context): void {
  answerUnavailableStatus(ctx)
  ctx.body = { ...TEMPORARILY_UNAVAILABLE }
}

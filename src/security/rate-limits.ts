// Rate limits per IP, per account and per client (RATE_LIMIT_*), with rate-limiter-flexible:
// counters in Redis when one is configured (shared by every replica and worker; standalone,
// Sentinel or Cluster: every operation touches a single key), in this process otherwise.
//
// Redis unavailable: each Redis limiter falls back to an in-process one (the library's insurance
// limiter) and logs a warning. Limits stay on, per replica, and the server keeps signing people in;
// accounts remain protected by the lockout, which lives in the database.
import { createHash } from 'node:crypto'
import type { Context } from 'koa'
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import type { Config } from '../config.ts'
import type { Logger } from '../observability/logger.ts'
import type { AuditWriter } from '../audit/audit.ts'
import type { RedisClient } from '../store/redis.ts'

export type LimitName = keyof Config['rateLimits']
export type Dimension = 'ip' | 'account' | 'client'
export interface LimitKeys { ip?: string | undefined; account?: string | undefined; client?: string | undefined }
export type LimitResult = { ok: true } | { ok: false; retryAfter: number; dimension: Dimension }
/** Who a refusal concerns, for its audit row (the IP, user agent and request id come from ctx). */
export interface LimitAuditContext { ctx?: Context | undefined; userId?: string | undefined; clientId?: string | undefined }

export interface RateLimits {
  /** 'redis' or 'memory': where the counters live. */
  readonly store: 'redis' | 'memory'
  /**
   * Counts one attempt on each given dimension (ip, then account, then client) and refuses when one
   * is exhausted; `retryAfter` is in whole seconds, at least 1. A dimension that is refused stops
   * the count there, so requests refused by IP do not use up the account's allowance (which would
   * let one address lock others out). Account keys are normalised (NFKC, lower-case) and need not
   * exist: unknown accounts are limited exactly like known ones. The first refusal of a key in a
   * window is audited as `rate_limited`.
   */
  consume(name: LimitName, keys: LimitKeys, audit?: LimitAuditContext): Promise<LimitResult>
  /**
   * A success (a right password, a right code): gives back the attempt's point on the IP (an
   * address may be shared; one success vouches only for itself) and clears the account's count (the
   * person proved who they are).
   */
  succeeded(name: LimitName, keys: LimitKeys): Promise<void>
  /** Gives back the point an attempt took on each dimension (it turned out not to count). */
  refund(name: LimitName, keys: LimitKeys): Promise<void>
  /**
   * Whether a limit is exhausted now, without counting anything: for limits that count only
   * failures (consumed after the fact), so that successes never take a point.
   */
  peek(name: LimitName, keys: LimitKeys): Promise<LimitResult>
}

type Limiter = RateLimiterAbstract

export function createRateLimits(settings: Config['rateLimits'], deps: { redis?: RedisClient | undefined; logger: Logger; audit: AuditWriter }): RateLimits {
  const { redis, logger, audit } = deps
  let lastWarning = 0
  const warnFallback = () => {
    // Once a minute at most: under an outage every request would log.
    if (Date.now() - lastWarning < 60_000) return
    lastWarning = Date.now()
    logger.warn('rate limits: Redis is unavailable; counting in this process until it is back')
  }

  function build(name: LimitName, dimension: Dimension, rate: { points: number; duration: number }): Limiter {
    // One prefix per limit and dimension; each operation touches one key, so Redis Cluster needs no hash tags.
    const keyPrefix = `iam:rl:${name}:${dimension}`
    if (!redis) return new RateLimiterMemory({ keyPrefix, ...rate })
    return new RateLimiterRedis({
      storeClient: redis, keyPrefix, ...rate,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new FallbackLimiter({ keyPrefix, ...rate }, warnFallback),
    })
  }

  const limiters = new Map<string, { limiter: Limiter; points: number }>()
  for (const [name, dims] of Object.entries(settings) as Array<[LimitName, Partial<Record<Dimension, { points: number; duration: number }>>]>) {
    for (const [dimension, rate] of Object.entries(dims) as Array<[Dimension, { points: number; duration: number }]>) {
      limiters.set(`${name}:${dimension}`, { limiter: build(name, dimension, rate), points: rate.points })
    }
  }

  function entries(name: LimitName, keys: LimitKeys) {
    const out: Array<{ dimension: Dimension; key: string; limiter: Limiter; points: number }> = []
    for (const dimension of ['ip', 'account', 'client'] as const) {
      const raw = keys[dimension]
      const entry = limiters.get(`${name}:${dimension}`)
      if (raw === undefined || raw === '' || !entry) continue
      out.push({ dimension, key: dimension === 'account' ? accountKey(raw) : raw, ...entry })
    }
    return out
  }

  // The dimensions are credited at once (one write to Redis for all of them), unlike consume,
  // which stops at the first refusal so that a refused request does not count against the rest.
  async function credit(name: LimitName, keys: LimitKeys, how: (dimension: Dimension) => 'delete' | 'reward') {
    await Promise.all(entries(name, keys).map(async ({ dimension, key, limiter }) => {
      try {
        if (how(dimension) === 'delete') await limiter.delete(key)
        else await limiter.reward(key, 1)
      } catch (err) {
        logger.warn({ err, limit: name, dimension }, 'rate limit could not be credited')
      }
    }))
  }

  return {
    store: redis ? 'redis' : 'memory',

    async consume(name, keys, context = {}) {
      for (const { dimension, key, limiter, points } of entries(name, keys)) {
        try {
          await limiter.consume(key)
        } catch (rejection) {
          if (!(rejection instanceof RateLimiterRes)) {
            // Neither Redis nor the fallback answered: let the request through (see the header).
            logger.warn({ err: rejection, limit: name, dimension }, 'rate limit could not be checked; allowing the request')
            continue
          }
          const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000))
          // Once per key and window: auditing every refused request would turn a flood into writes.
          if (rejection.consumedPoints === points + 1) {
            await audit.record(context.ctx, { type: 'rate_limited', outcome: 'failure', userId: context.userId, clientId: context.clientId, details: { limit: name, dimension, retryAfter } })
          }
          return { ok: false, retryAfter, dimension }
        }
      }
      return { ok: true }
    },

    async succeeded(name, keys) {
      await credit(name, keys, (dimension) => dimension === 'account' ? 'delete' : 'reward')
    },

    async refund(name, keys) {
      await credit(name, keys, () => 'reward')
    },

    async peek(name, keys) {
      for (const { dimension, key, limiter, points } of entries(name, keys)) {
        try {
          const state = await limiter.get(key)
          if (state && state.consumedPoints >= points) return { ok: false, retryAfter: Math.max(1, Math.ceil(state.msBeforeNext / 1000)), dimension }
        } catch (err) {
          logger.warn({ err, limit: name, dimension }, 'rate limit could not be checked; allowing the request')
        }
      }
      return { ok: true }
    },
  }
}

/**
 * Account keys: normalised like logins, so `Alice@Example.com` and `alice@example.com` share one
 * count, and hashed, so Redis holds no email addresses.
 */
export function accountKey(account: string): string {
  const normalised = account.normalize('NFKC').trim().toLowerCase()
  return createHash('sha256').update(normalised).digest('base64url').slice(0, 32)
}

/** The in-process limiter used while Redis is unavailable; says so in the log. */
class FallbackLimiter extends RateLimiterMemory {
  readonly #onUse: () => void
  constructor(opts: ConstructorParameters<typeof RateLimiterMemory>[0], onUse: () => void) {
    super(opts)
    this.#onUse = onUse
  }
  override consume(...args: Parameters<RateLimiterMemory['consume']>) {
    this.#onUse()
    return super.consume(...args)
  }
}

/** "30 seconds", "4 minutes", "2 hours": when to try again, rounded up. */
export function describeWait(seconds: number): string {
  if (seconds < 60) return `${seconds} ${seconds === 1 ? 'second' : 'seconds'}`
  const minutes = Math.ceil(seconds / 60)
  if (minutes < 60) return `${minutes} ${minutes === 1 ? 'minute' : 'minutes'}`
  const hours = Math.ceil(minutes / 60)
  return `${hours} ${hours === 1 ? 'hour' : 'hours'}`
}

/** The sentence a page shows when a limit refused the request: what happened, and when to try again. */
export function tooManyAttemptsMessage(retryAfter: number, what = 'Too many attempts.'): string {
  return `${what} Please wait, and try again in ${describeWait(retryAfter)}.`
}

/**
 * Marks the response as refused by a rate limit (429, Retry-After, not cached) and returns the
 * message for the page; `what` says what there was too much of ('Too many sign-in attempts.').
 * The caller renders its own page with it (interaction pages keep their CSRF token that way):
 *   return renderLogin(ctx, details, { error: tooManyRequests(ctx, limited.retryAfter, 'Too many sign-in attempts.') })
 */
export function tooManyRequests(ctx: Context, retryAfter: number, what?: string): string {
  ctx.status = 429
  ctx.set('Retry-After', String(retryAfter))
  ctx.set('Cache-Control', 'no-store')
  return tooManyAttemptsMessage(retryAfter, what)
}

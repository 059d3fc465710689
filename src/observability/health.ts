// Liveness and readiness. Liveness says only that the process answers; readiness asks each store
// for a round trip, each bounded by a short timeout so a hung Redis or database cannot hang the
// probe (Kubernetes would then count a timeout, not our answer).
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Context, Middleware, Next } from 'koa'
import { renderMetrics, type Metrics } from './metrics.ts'
import type { Logger } from './logger.ts'

export const VERSION: string = (JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version

/** Each store check gets this long before it counts as down. */
export const CHECK_TIMEOUT_MS = 2_000

export interface Readiness {
  status: 'ready' | 'unready'
  database: 'ok' | 'down'
  redis: 'ok' | 'down' | 'not configured'
  keys: 'ok' | 'none'
  /** Set while the server drains on SIGTERM: it wants no new traffic. */
  shuttingDown?: true
  version: string
}

export interface ReadinessDeps {
  pingDatabase: () => Promise<unknown>
  pingRedis?: (() => Promise<unknown>) | undefined
  signingKeys: number
  metrics?: Metrics | undefined
  isShuttingDown: () => boolean
}

async function timed(store: 'database' | 'redis', ping: () => Promise<unknown>, metrics: Metrics | undefined): Promise<boolean> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const ok = await Promise.race([
    ping().then(() => true, () => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS) }),
  ])
  clearTimeout(timer)
  metrics?.storePing(store, (performance.now() - started) / 1000, ok)
  return ok
}

export function createReadiness(deps: ReadinessDeps): () => Promise<Readiness> {
  return async () => {
    const [database, redis] = await Promise.all([
      timed('database', deps.pingDatabase, deps.metrics),
      deps.pingRedis ? timed('redis', deps.pingRedis, deps.metrics) : Promise.resolve(undefined),
    ])
    const result: Readiness = {
      status: 'ready',
      database: database ? 'ok' : 'down',
      redis: redis === undefined ? 'not configured' : redis ? 'ok' : 'down',
      keys: deps.signingKeys > 0 ? 'ok' : 'none',
      version: VERSION,
    }
    if (deps.isShuttingDown()) result.shuttingDown = true
    if (!database || redis === false || deps.signingKeys === 0 || result.shuttingDown) result.status = 'unready'
    return result
  }
}

export interface HealthRoutesDeps {
  ready: () => Promise<Readiness>
  logger: Logger
  /** Served here unless METRICS_PORT moves them to their own port. */
  metrics?: Metrics | undefined
}

/** The probes' and the scraper's area: /healthz, /readyz and /metrics, answered outside any router. */
export function healthRoutes(deps: HealthRoutesDeps): Middleware {
  return async function health(ctx: Context, next: Next) {
    if (ctx.path === '/healthz') {
      ctx.state.route = ctx.path
      ctx.set('Cache-Control', 'no-store')
      ctx.body = { status: 'ok', version: VERSION }
      return
    }
    if (ctx.path === '/readyz') {
      ctx.state.route = ctx.path
      const readiness = await deps.ready()
      ctx.set('Cache-Control', 'no-store')
      ctx.status = readiness.status === 'ready' ? 200 : 503
      ctx.body = readiness
      return
    }
    if (ctx.path === '/metrics' && deps.metrics) {
      ctx.state.route = ctx.path
      ctx.set('Cache-Control', 'no-store')
      const answer = await renderMetrics(deps.metrics, deps.logger, ctx.state.requestId as string)
      ctx.status = answer.status
      ctx.type = answer.contentType
      ctx.body = answer.body
      return
    }
    return next()
  }
}

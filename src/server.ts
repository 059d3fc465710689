// Starts the server: stores, keys, provider, HTTP app. Returns a handle that closes it all.
import http from 'node:http'
import { setFlagsFromString } from 'node:v8'
import type { Config } from './config.ts'
import { createLogger, type Logger } from './observability/logger.ts'
import { openDatabase } from './queries/db.ts'
import { openMigratedDatabase } from './queries/migrations.ts'
import { describeRedis, openRedis } from './store/redis.ts'
import { pingDatabase } from './queries/health.ts'
import { loadCookieKeys, loadSigningKeys } from './oidc/keys.ts'
import { createAdapterFactory } from './oidc/adapters/index.ts'
import { purgeExpiredArtifacts } from './oidc/adapters/database.ts'
import { createProvider } from './oidc/provider.ts'
import { createAuditWriter } from './audit/audit.ts'
import { auditProviderEvents } from './audit/provider-events.ts'
import { attachDynamicRegistration } from './oidc/dynamic-registration.ts'
import { deleteExpiredRecords } from './queries/retention.ts'
import { createCsrf } from './security/csrf.ts'
import { createClock } from './security/clock.ts'
import { createRateLimits } from './security/rate-limits.ts'
import { createApp } from './app.ts'
import { createAccountRelyingParty, ensureAccountClient } from './account/relying-party.ts'
import { ensureAdminConsoleClient } from './admin/console-client.ts'
import { CONSOLE_PATH } from './admin/console-assets.ts'
import { ensureApiResourceServer } from './api/demo.ts'
import { ensureAdminResourceServer } from './admin/permissions.ts'
import { createSecretBox, loadEncryptionKeys } from './security/encryption.ts'
import { createEmailChannel } from './mfa/channels/email.ts'
import { createFederation } from './federation/upstreams.ts'
import { federationRedirectUri } from './federation/upstream.ts'
import { createMetrics, renderMetrics } from './observability/metrics.ts'
import { createReadiness, VERSION } from './observability/health.ts'
import { selectArgon2Build } from './identity/passwords.ts'
import { makeOwnerOnly } from './security/key-files.ts'

const PURGE_INTERVAL_MS = 10 * 60 * 1000

export interface RunningServer {
  url: string
  /** Where /metrics is served when METRICS_PORT moves it off the main port. */
  metricsUrl?: string | undefined
  /**
   * Graceful stop: /readyz turns unready, the listener closes (new connections are refused),
   * in-flight requests get up to SHUTDOWN_TIMEOUT seconds to finish, then the stores close.
   */
  close(): Promise<void>
}

/**
 * What must happen once before any worker starts (node:cluster, src/workers.ts), because workers
 * would race each other at it: database migrations, key files generated in KEYS_DIR on first start,
 * and the built-in clients and resource servers. startServer({ prepared: true }) then skips them.
 */
export async function prepareServer(config: Config): Promise<void> {
  const db = await openMigratedDatabase(config)
  try {
    await loadSigningKeys(config)
    await loadCookieKeys(config)
    await loadEncryptionKeys(config)
    await ensureBuiltIns(db.prisma, config.issuer)
  } finally {
    await db.close()
  }
}

async function ensureBuiltIns(prisma: Parameters<typeof ensureAccountClient>[0], issuer: string): Promise<void> {
  await ensureAccountClient(prisma, issuer)
  await ensureAdminConsoleClient(prisma, issuer)
  await ensureApiResourceServer(prisma, issuer)
  await ensureAdminResourceServer(prisma, issuer)
}

export interface StartOptions {
  /** prepareServer() already ran (in the cluster primary): skip migrations and first-start writes. */
  prepared?: boolean
  /** Said in the start log line (e.g. `worker 2`). */
  role?: string
  /** Appended to the start log line's message (e.g. why WORKERS was not honoured). */
  note?: string
}

export async function startServer(config: Config, logger: Logger = createLogger(config.logLevel), options: StartOptions = {}): Promise<RunningServer> {
  const embedded = !config.databaseUrl && !config.redis
  logger.info({
    version: VERSION,
    database: config.databaseUrl ? 'postgresql' : `embedded (${config.dataDir})`,
    artifacts: config.redis ? `redis ${describeRedis(config.redis)}` : 'database',
    issuer: config.issuer,
    ...(config.heapGrowthPercent ? { heapGrowthPercent: config.heapGrowthPercent } : {}),
    ...(options.role ? { role: options.role } : {}),
  }, (embedded ? 'starting on embedded defaults: embedded database and store in DATA_DIR; set DATABASE_URL and REDIS_URL for production' : 'starting') + (options.note ? `; ${options.note}` : ''))

  const madePrivate = [config.dataDir, config.keysDir].map((dir) => makeOwnerOnly(dir))
  const count = madePrivate.flat().length
  if (count) logger.warn({ madePrivate: madePrivate.flatMap((paths) => paths.slice(0, 10)), count }, `file modes: ${count} paths in DATA_DIR/KEYS_DIR were open to other local users; made them owner-only (directories 0700, files 0600); the first ten of each are listed`)
  if (config.federation.length) {
    logger.info({ upstreams: config.federation.map((u) => ({ id: u.id, type: u.type, redirectUri: federationRedirectUri(config.issuer, u.id) })) }, 'federation: upstream identity providers configured')
  }
  // Before the app allocates: see HEAP_GROWTH_PERCENT (src/config.ts).
  if (config.heapGrowthPercent > 0) setFlagsFromString(`--heap-growing-percent=${config.heapGrowthPercent}`)
  // A SIMD build that is there but broken (stale, unloadable, a wrong known answer) is a warning;
  // one not built (opt-in: npm run build:argon2) is information. docs/adr/0261-argon2-builds.md
  const hashing = await selectArgon2Build(config.argon2Simd)
  const hashingLog = { argon2: hashing.name, ...(hashing.passedOver.length ? { passedOver: hashing.passedOver } : {}) }
  if (hashing.failed.length) logger.warn(hashingLog, `password hashing: argon2 ${hashing.name} build; a faster build failed its check`)
  else logger.info(hashingLog, `password hashing: argon2 ${hashing.name} build`)
  const db = options.prepared ? await openDatabase(config) : await openMigratedDatabase(config)
  if ('migrated' in db) logger.info({ migrations: db.migrated ? 'applied' : 'current' }, db.migrated ? 'database: migrations applied (prisma migrate deploy)' : 'database: every migration already applied')
  const redis = config.redis ? await openRedis(config.redis) : undefined
  const [jwks, cookieKeys] = [await loadSigningKeys(config), await loadCookieKeys(config)]

  if (!options.prepared) await ensureBuiltIns(db.prisma, config.issuer)
  let localOrigin = `http://127.0.0.1:${config.port}`
  // One SMTP transport for codes and self-service links; none without SMTP_HOST. nodemailer and
  // Vonage's SDK (~4 MB of heap together) are loaded only when configured.
  const mailer = config.smtp ? (await import('./mail/mailer.ts')).createMailer(config.smtp) : undefined
  const phone = config.vonage ? (await import('./mfa/channels/vonage.ts')).createPhoneChannel(config.vonage, config.siteName, config.mfa.codeTtl) : undefined
  const provider = createProvider({ config, prisma: db.prisma, jwks, cookieKeys, adapter: createAdapterFactory(db.prisma, redis) })
  const metrics = createMetrics(VERSION)
  const clock = createClock(config.clockOffsetFile)
  // Every audit event (sign-in, MFA, federation, lockout… outcomes) is also counted.
  const audit = createAuditWriter(db.prisma, logger, (event) => metrics.auditEvent(event.type, event.outcome), clock)
  auditProviderEvents(provider, audit, logger)
  attachDynamicRegistration(provider, { prisma: db.prisma, audit })
  provider.on('grant.success', (ctx: { oidc?: { params?: Record<string, unknown> } }) => {
    const grantType = ctx.oidc?.params?.grant_type
    if (typeof grantType === 'string') metrics.tokenIssued(grantType)
  })
  let shuttingDown = false
  const limits = createRateLimits(config.rateLimits, { redis, logger, audit })
  logger.info({ store: limits.store }, `rate limits: counters in ${limits.store === 'redis' ? 'Redis' : 'this process'}`)
  const app = createApp({
    config, logger, provider, cookieKeys, mailer,
    prisma: db.prisma,
    audit,
    limits,
    lockout: config.lockout,
    csrf: createCsrf(cookieKeys[0]!),
    clock,
    mfa: {
      box: createSecretBox(await loadEncryptionKeys(config)),
      settings: config.mfa,
      email: mailer ? createEmailChannel(mailer, config.siteName, config.mfa.codeTtl) : undefined,
      phone,
    },
    accountRelyingParty: createAccountRelyingParty(config.issuer, () => localOrigin),
    // Upstreams are discovered on first use, so a slow or absent upstream never delays the start.
    federation: createFederation(config.federation),
    metrics,
    ready: createReadiness({
      pingDatabase: () => pingDatabase(db.prisma),
      pingRedis: redis ? () => redis.ping() : undefined,
      signingKeys: jwks.keys.length,
      metrics,
      isShuttingDown: () => shuttingDown,
    }),
  })

  // Without Redis, expired protocol artifacts are rows: reads skip and delete them one by one;
  // this sweeps the rest.
  const purge = redis ? undefined : setInterval(() => {
    purgeExpiredArtifacts(db.prisma).catch((err: unknown) => logger.warn({ err }, 'purging expired artifacts failed'))
  }, PURGE_INTERVAL_MS).unref()
  // Retention (audit events, expired grant index, old session records): at start, then periodically.
  const deleteExpired = () => deleteExpiredRecords(db.prisma, { auditRetentionDays: config.auditRetentionDays }, clock.now())
    .then((deleted) => { if (Object.values(deleted).some(Boolean)) logger.info({ deleted, auditRetentionDays: config.auditRetentionDays }, 'deleted records past retention') })
    .catch((err: unknown) => logger.warn({ err }, 'deleting records past retention failed'))
  void deleteExpired()
  const retention = setInterval(() => void deleteExpired(), PURGE_INTERVAL_MS).unref()

  const server = http.createServer(app.callback())
  server.requestTimeout = 30_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port, config.host, () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const host = typeof address === 'object' && address && !['0.0.0.0', '::'].includes(address.address) ? address.address : '127.0.0.1'
  localOrigin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  // The operator's first question after a start: where to administer it (the console's mount, src/app.ts).
  const adminConsole = `${config.issuer}${CONSOLE_PATH}`
  logger.info({ port, issuer: config.issuer, adminConsole }, `listening; discovery at ${config.issuer}/.well-known/openid-configuration; admin console at ${adminConsole}`)

  // METRICS_PORT: /metrics alone on its own listener, to keep it off the public ingress.
  let metricsServer: http.Server | undefined
  let metricsUrl: string | undefined
  if (config.metricsPort !== undefined) {
    const ms = http.createServer((req, res) => {
      if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://x').pathname !== '/metrics') {
        res.writeHead(404).end()
        return
      }
      renderMetrics(metrics, logger).then(
        ({ status, contentType, body }) => res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store' }).end(body),
        (err: unknown) => { logger.error({ err }, 'rendering metrics failed'); res.writeHead(500).end() },
      )
    })
    metricsServer = ms
    await new Promise<void>((resolve, reject) => {
      ms.once('error', reject)
      ms.listen(config.metricsPort, config.host, () => resolve())
    })
    const a = ms.address()
    metricsUrl = `http://${host.includes(':') ? `[${host}]` : host}:${typeof a === 'object' && a ? a.port : config.metricsPort}/metrics`
    logger.info({ metricsUrl }, 'metrics on their own port')
  }

  return {
    url: localOrigin,
    metricsUrl,
    async close() {
      shuttingDown = true
      clearInterval(purge)
      clearInterval(retention)
      // close(): no new connections, idle keep-alive ones closed now; busy ones after their response.
      const drained = new Promise<boolean>((resolve) => server.close(() => resolve(true)))
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), config.shutdownTimeout * 1000) })
      const inTime = await Promise.race([drained, timedOut])
      clearTimeout(timer)
      if (!inTime) {
        logger.warn({ shutdownTimeout: config.shutdownTimeout }, 'requests still in flight after SHUTDOWN_TIMEOUT: closing their connections')
        server.closeAllConnections()
        await drained
      }
      if (metricsServer) {
        metricsServer.closeAllConnections()
        await new Promise<void>((resolve) => metricsServer.close(() => resolve()))
      }
      await redis?.quit().catch(() => undefined)
      await db.close()
      logger.info('stopped: requests drained, stores closed')
    },
  }
}

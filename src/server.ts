// Starts the server: stores, keys, provider, HTTP app. Returns a handle that closes it all.
import http from 'node:http'
import type { Config } from './config.ts'
import { createLogger, type Logger } from './observability/logger.ts'
import { migrateDatabase, openDatabase } from './store/database.ts'
import { openRedis } from './store/redis.ts'
import { loadCookieKeys, loadSigningKeys } from './oidc/keys.ts'
import { createAdapterFactory } from './oidc/adapters/index.ts'
import { purgeExpiredArtifacts } from './oidc/adapters/database.ts'
import { createProvider } from './oidc/provider.ts'
import { createAuditWriter } from './audit/audit.ts'
import { auditProviderEvents } from './audit/provider-events.ts'
import { deleteExpiredRecords } from './store/retention.ts'
import { createCsrf } from './security/csrf.ts'
import { createClock } from './security/clock.ts'
import { createRateLimits } from './security/rate-limits.ts'
import { createApp } from './app.ts'
import { createAccountRelyingParty, ensureAccountClient } from './account/relying-party.ts'
import { ensureApiResourceServer } from './api/demo.ts'
import { createSecretBox, loadEncryptionKeys } from './security/encryption.ts'
import { createEmailChannel } from './mfa/channels/email.ts'
import { createMailer } from './mail/mailer.ts'
import { createPhoneChannel } from './mfa/channels/vonage.ts'
import { createFederation } from './federation/upstreams.ts'
import { federationRedirectUri } from './federation/upstream.ts'

const PURGE_INTERVAL_MS = 10 * 60 * 1000

export interface RunningServer {
  url: string
  close(): Promise<void>
}

export async function startServer(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  const embedded = !config.databaseUrl && !config.redisUrl
  logger.info({
    database: config.databaseUrl ? 'postgresql' : `embedded (${config.dataDir})`,
    artifacts: config.redisUrl ? 'redis' : 'database',
    issuer: config.issuer,
  }, embedded ? 'starting on embedded defaults: embedded database and store in DATA_DIR; set DATABASE_URL and REDIS_URL for production' : 'starting')

  if (config.federation.length) {
    logger.info({ upstreams: config.federation.map((u) => ({ id: u.id, type: u.type, redirectUri: federationRedirectUri(config.issuer, u.id) })) }, 'federation: upstream identity providers configured')
  }
  await migrateDatabase(config)
  const db = await openDatabase(config)
  const redis = config.redisUrl ? await openRedis(config.redisUrl) : undefined
  const [jwks, cookieKeys] = [await loadSigningKeys(config), await loadCookieKeys(config)]

  await ensureAccountClient(db.prisma, config.issuer)
  await ensureApiResourceServer(db.prisma, config.issuer)
  let localOrigin = `http://127.0.0.1:${config.port}`
  // One SMTP transport for codes and self-service links; none without SMTP_HOST.
  const mailer = config.smtp ? createMailer(config.smtp) : undefined
  const provider = createProvider({ config, prisma: db.prisma, jwks, cookieKeys, adapter: createAdapterFactory(db.prisma, redis) })
  const audit = createAuditWriter(db.prisma, logger)
  auditProviderEvents(provider, audit)
  const clock = createClock(config.clockOffsetFile)
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
      phone: config.vonage ? createPhoneChannel(config.vonage, config.siteName, config.mfa.codeTtl) : undefined,
    },
    accountRelyingParty: createAccountRelyingParty(config.issuer, () => localOrigin),
    // Upstreams are discovered on first use, so a slow or absent upstream never delays the start.
    federation: createFederation(config.federation),
    ready: async () => {
      await db.prisma.$queryRaw`SELECT 1`
      if (redis) await redis.ping()
      return { database: 'ok', redis: redis ? 'ok' : 'not configured' }
    },
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
  logger.info({ port, issuer: config.issuer }, `listening; discovery at ${config.issuer}/.well-known/openid-configuration`)

  return {
    url: localOrigin,
    async close() {
      clearInterval(purge)
      clearInterval(retention)
      await new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await redis?.quit().catch(() => undefined)
      await db.close()
    },
  }
}

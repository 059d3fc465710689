// Every setting of the server, read from environment variables, validated once at start.
// Each entry documents its default; README.md lists them all. A bad value stops the start with a
// message that names the variable.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { parseFederation, type UpstreamSettings } from './federation/config.ts'
import { usableCpus } from './cpu-limit.ts'
import { ARGON2_SIMD_CHOICES } from './identity/argon2-builds.ts'

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v))
const seconds = z.coerce.number().int().positive()
const optionalString = z.string().trim().min(1).optional()

const schema = z.object({
  /** production | development | test. Production requires COOKIE_KEYS and an https ISSUER. */
  NODE_ENV: z.enum(['production', 'development', 'test']).default('development'),
  /** TCP port to listen on. */
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Interface to bind. */
  HOST: z.string().default('0.0.0.0'),
  /** Public issuer identifier (the URL clients see). Default: http://localhost:PORT */
  ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  /** PostgreSQL connection string. Unset: the embedded database in DATA_DIR/db. */
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL').optional(),
  /**
   * PostgreSQL: keep each statement prepared per connection (parsed and planned once). Turn off
   * behind a pooler in transaction mode that cannot carry prepared statements (PgBouncer < 1.21).
   */
  DATABASE_PREPARED_STATEMENTS: bool.default(true),
  /**
   * Redis, one of three topologies (set exactly one): REDIS_URL (a standalone server),
   * REDIS_SENTINELS + REDIS_SENTINEL_NAME (Sentinel), REDIS_CLUSTER_NODES (Cluster). None: protocol
   * artifacts live in the database and rate limits count per process.
   */
  /** Standalone Redis URL (redis:// or rediss://; credentials and database number in the URL). */
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  /** Sentinel: the sentinels as comma-separated host:port; they name the current master. */
  REDIS_SENTINELS: optionalString,
  /** Sentinel: the monitored master's name (as in `sentinel monitor <name> …`). */
  REDIS_SENTINEL_NAME: optionalString,
  /** Sentinel: password of the sentinels themselves (requirepass in sentinel.conf), when they have one. */
  REDIS_SENTINEL_PASSWORD: optionalString,
  /** Cluster: some of the cluster's nodes as comma-separated host:port (the rest is discovered). */
  REDIS_CLUSTER_NODES: optionalString,
  /** Sentinel and Cluster: ACL user and password of the Redis data nodes (REDIS_URL carries its own). */
  REDIS_USERNAME: optionalString,
  REDIS_PASSWORD: optionalString,
  /** Sentinel and Cluster: TLS to every node (and sentinel); REDIS_URL uses rediss:// instead. */
  REDIS_TLS: bool.default(false),
  /**
   * HTTP worker processes (node:cluster) sharing the port. Default: the number of CPUs this
   * process may use (the host's, capped by a container's CPU quota). 1: a single process. The
   * embedded database cannot be shared, so without DATABASE_URL the server always runs one process.
   */
  WORKERS: z.coerce.number().int().min(1).max(256).optional(),
  /**
   * How far V8 lets each serving process's heap grow past what survived its last full collection
   * before the next one, in percent; 0 (the default): V8's own choice, which grows it up to
   * fourfold while memory is plentiful. Measured here (docs/performance.md, session 10): in a
   * 10-minute token soak a worker peaks at 260-275 MB with 0 and 230-240 MB with 100, at the same
   * throughput and p99 within noise; at the mixed benchmark's peak (sign-ins too) ~345 MB against
   * ~315. (Before the dependency patches, 100 cost 5-12 % of token throughput and a higher p99.)
   * NODE_OPTIONS cannot carry this V8 flag, so the server sets it.
   */
  HEAP_GROWTH_PERCENT: z.coerce.number().int().min(0).max(1000).default(0),
  /** Folder for embedded data (database files). */
  DATA_DIR: z.string().default('./data'),
  /** Folder for generated signing and cookie keys. */
  KEYS_DIR: z.string().default('./keys'),
  /** Signing keys as a private JWKS JSON document (e.g. from a Kubernetes secret). Overrides KEYS_DIR. */
  JWKS: optionalString,
  /** Path to a private JWKS JSON file. Overrides KEYS_DIR. */
  JWKS_FILE: optionalString,
  /** Cookie signing keys, comma-separated, newest first (rotate by prepending). Required in production. */
  COOKIE_KEYS: optionalString,
  /** Hosts that outbound requests (back-channel logout, jwks_uri) may reach even on loopback or private addresses; comma-separated. */
  OUTBOUND_ALLOWED_HOSTS: z.string().default(''),
  /** Keys for secrets at rest (TOTP seeds…): comma-separated `id:base64-32-bytes`, the first encrypts. Required in production; generated in KEYS_DIR otherwise. */
  ENCRYPTION_KEYS: optionalString,

  /** SMTP server for one-time codes by email. Unset: email codes are not offered. */
  SMTP_HOST: optionalString,
  SMTP_PORT: z.coerce.number().int().min(1).max(65535).default(587),
  /** true: TLS from the first byte (port 465); false: STARTTLS when offered. */
  SMTP_SECURE: bool.default(false),
  SMTP_USER: optionalString,
  SMTP_PASSWORD: optionalString,
  SMTP_FROM: z.string().default('Identity <no-reply@localhost>'),
  /** Verify the SMTP server's certificate. */
  SMTP_TLS_VERIFY: bool.default(true),

  /** Vonage (SMS and WhatsApp codes via the Messages API). Unset key: those channels are not offered. */
  VONAGE_API_KEY: optionalString,
  VONAGE_API_SECRET: optionalString,
  /** Messages API host; tests point it at a local server. */
  VONAGE_API_HOST: z.url().default('https://api.nexmo.com'),
  VONAGE_SMS_FROM: z.string().default('Identity'),
  VONAGE_WHATSAPP_FROM: optionalString,

  /** One-time codes: lifetime (seconds), guesses per code, seconds between two sends. */
  MFA_CODE_TTL: seconds.default(600),
  MFA_CODE_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  MFA_RESEND_SECONDS: z.coerce.number().int().min(0).default(30),
  /** WebAuthn relying party id (a registrable domain of the issuer). Default: the issuer's host. */
  WEBAUTHN_RP_ID: optionalString,

  /** Upstream identity providers (Entra ID, generic OIDC) as a JSON array; see src/federation/config.ts. */
  FEDERATION: optionalString,
  /** Path to a JSON file holding that array (e.g. a mounted secret: it contains client secrets). */
  FEDERATION_FILE: optionalString,

  /** Who may create an account, unless the tenant says otherwise: closed | invite | open. */
  REGISTRATION_MODE: z.enum(['closed', 'invite', 'open']).default('closed'),
  /** Hold accounts whose email is not verified from signing in. */
  REQUIRE_VERIFIED_EMAIL: bool.default(true),
  /** Lifetimes (seconds) of the links sent by email: verification, password reset, invitation. */
  EMAIL_VERIFICATION_TTL: seconds.default(24 * 3600),
  PASSWORD_RESET_TTL: seconds.default(15 * 60),
  INVITATION_TTL: seconds.default(7 * 24 * 3600),
  /** New passwords: at least this many characters (NIST SP 800-63B: 8 at least; 15 for single-factor). */
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(128).default(12),
  /**
   * Which argon2 build hashes passwords (the same argon2id either way): auto, the widest SIMD build
   * the CPU runs (AVX-512, AVX2, else the package's SSE2 binary); avx2, never AVX-512 (Intel CPUs
   * that slow the whole core down under it); off, the package's own binary.
   */
  ARGON2_SIMD: z.enum(ARGON2_SIMD_CHOICES).default('auto'),

  /**
   * Brute-force lockout: this many failed sign-ins of one account within LOCKOUT_WINDOW seconds
   * from one address (or one known device) lock that address (or device) out of the account for
   * LOCKOUT_DURATION seconds; four times as many from anywhere lock the account for every browser
   * but the owner's known devices, longer at each further lock (docs/adr/0150).
   */
  LOCKOUT_THRESHOLD: z.coerce.number().int().min(1).max(1000).default(5),
  LOCKOUT_WINDOW: seconds.default(600),
  LOCKOUT_DURATION: seconds.default(900),
  /** Days a browser that signed in stays a known device of the account (its device cookie; 0 turns device cookies off). */
  DEVICE_COOKIE_DAYS: z.coerce.number().int().min(0).max(3650).default(180),

  /**
   * Rate limits, as `points/seconds`, per IP and per account (or per client for the token
   * endpoint). Counters live in Redis when one is configured, in this process otherwise.
   */
  RATE_LIMIT_SIGN_IN_IP: z.string().regex(/^\d+\/\d+$/).default('30/300'),
  RATE_LIMIT_SIGN_IN_ACCOUNT: z.string().regex(/^\d+\/\d+$/).default('10/300'),
  RATE_LIMIT_CODE_VERIFY_IP: z.string().regex(/^\d+\/\d+$/).default('30/300'),
  RATE_LIMIT_CODE_VERIFY_ACCOUNT: z.string().regex(/^\d+\/\d+$/).default('10/300'),
  RATE_LIMIT_CODE_SEND_IP: z.string().regex(/^\d+\/\d+$/).default('20/3600'),
  RATE_LIMIT_CODE_SEND_ACCOUNT: z.string().regex(/^\d+\/\d+$/).default('10/3600'),
  RATE_LIMIT_REGISTRATION_IP: z.string().regex(/^\d+\/\d+$/).default('10/3600'),
  RATE_LIMIT_REGISTRATION_ACCOUNT: z.string().regex(/^\d+\/\d+$/).default('3/3600'),
  RATE_LIMIT_RESET_IP: z.string().regex(/^\d+\/\d+$/).default('10/3600'),
  RATE_LIMIT_RESET_ACCOUNT: z.string().regex(/^\d+\/\d+$/).default('3/3600'),
  RATE_LIMIT_TOKEN_CLIENT: z.string().regex(/^\d+\/\d+$/).default('600/60'),

  /** Signed-in browsers per person; the oldest is signed out on the next sign-in. */
  MAX_SESSIONS_PER_USER: z.coerce.number().int().min(1).max(100).default(5),
  /** Audit events older than this many days are deleted (0: kept forever). */
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(0).default(365),
  /**
   * Tests only (refused in production): a file holding a number of milliseconds added to the
   * clock that lockout, links and rate-limit windows read, so tests need not wait.
   */
  CLOCK_OFFSET_FILE: optionalString,

  /** Trust X-Forwarded-* headers from a reverse proxy. */
  TRUST_PROXY: bool.default(false),
  /**
   * Serve Prometheus /metrics on this separate port (on HOST) instead of the main one, so it can
   * stay off the public ingress. Unset: /metrics on PORT.
   */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /**
   * Seconds in-flight requests get to finish after SIGTERM/SIGINT before connections are cut;
   * keep it below the orchestrator's grace period (Kubernetes: 30 s).
   */
  SHUTDOWN_TIMEOUT: z.coerce.number().int().min(0).max(600).default(25),
  /** pino log level. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Name shown on the pages. */
  SITE_NAME: z.string().default('Identity'),

  // Lifetimes in seconds. An access token for a registered API lives as long as that API says
  // (ResourceServer.accessTokenTtl); the two access-token settings apply to tokens without one.
  ACCESS_TOKEN_TTL: seconds.default(3600),
  CLIENT_CREDENTIALS_TTL: seconds.default(600),
  AUTHORIZATION_CODE_TTL: seconds.default(60),
  ID_TOKEN_TTL: seconds.default(3600),
  REFRESH_TOKEN_TTL: seconds.default(14 * 24 * 3600),
  SESSION_TTL: seconds.default(14 * 24 * 3600),
  GRANT_TTL: seconds.default(14 * 24 * 3600),
  INTERACTION_TTL: seconds.default(3600),
  DEVICE_CODE_TTL: seconds.default(600),
})

export type Config = ReturnType<typeof loadConfig>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  // Treat empty variables as unset, as shells and Helm templates often produce them.
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = schema.safeParse(input)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  const c = parsed.data
  const issuer = (c.ISSUER ?? `http://localhost:${c.PORT}`).replace(/\/$/, '')
  const production = c.NODE_ENV === 'production'
  const cookieKeys = c.COOKIE_KEYS?.split(',').map((k) => k.trim()).filter(Boolean)
  if (production && !cookieKeys?.length) throw new ConfigError('invalid configuration:\n  COOKIE_KEYS: required when NODE_ENV=production')
  if (cookieKeys?.some((k) => k.length < 32)) throw new ConfigError('invalid configuration:\n  COOKIE_KEYS: each key must be at least 32 characters')
  if (production && !issuer.startsWith('https://')) throw new ConfigError('invalid configuration:\n  ISSUER: must be https:// when NODE_ENV=production')
  if (production && !c.ENCRYPTION_KEYS) throw new ConfigError('invalid configuration:\n  ENCRYPTION_KEYS: required when NODE_ENV=production')
  if (Boolean(c.VONAGE_API_KEY) !== Boolean(c.VONAGE_API_SECRET)) throw new ConfigError('invalid configuration:\n  VONAGE_API_SECRET: set VONAGE_API_KEY and VONAGE_API_SECRET together')
  if (c.JWKS && c.JWKS_FILE) throw new ConfigError('invalid configuration:\n  JWKS_FILE: set JWKS or JWKS_FILE, not both')
  if (production && c.CLOCK_OFFSET_FILE) throw new ConfigError('invalid configuration:\n  CLOCK_OFFSET_FILE: for tests only; not allowed when NODE_ENV=production')
  const federation = loadFederation(c.FEDERATION, c.FEDERATION_FILE, production)
  const redis = redisTopology(c)

  return {
    env: c.NODE_ENV,
    production,
    port: c.PORT,
    host: c.HOST,
    issuer,
    siteName: c.SITE_NAME,
    trustProxy: c.TRUST_PROXY,
    metricsPort: c.METRICS_PORT,
    shutdownTimeout: c.SHUTDOWN_TIMEOUT,
    logLevel: c.LOG_LEVEL,
    databaseUrl: c.DATABASE_URL,
    preparedStatements: c.DATABASE_PREPARED_STATEMENTS,
    redisUrl: c.REDIS_URL,
    /** Where Redis is (standalone, Sentinel or Cluster); undefined: no Redis. */
    redis,
    /** Worker processes requested (WORKERS); serve clamps it to 1 on the embedded database. */
    workers: c.WORKERS ?? usableCpus(),
    heapGrowthPercent: c.HEAP_GROWTH_PERCENT,
    dataDir: path.resolve(c.DATA_DIR),
    keysDir: path.resolve(c.KEYS_DIR),
    jwks: c.JWKS,
    jwksFile: c.JWKS_FILE,
    cookieKeys,
    encryptionKeys: c.ENCRYPTION_KEYS,
    smtp: c.SMTP_HOST ? {
      host: c.SMTP_HOST, port: c.SMTP_PORT, secure: c.SMTP_SECURE, from: c.SMTP_FROM, tlsVerify: c.SMTP_TLS_VERIFY,
      auth: c.SMTP_USER ? { user: c.SMTP_USER, pass: c.SMTP_PASSWORD ?? '' } : undefined,
    } : undefined,
    vonage: c.VONAGE_API_KEY ? {
      apiKey: c.VONAGE_API_KEY, apiSecret: c.VONAGE_API_SECRET!, apiHost: c.VONAGE_API_HOST.replace(/\/$/, ''),
      smsFrom: c.VONAGE_SMS_FROM, whatsappFrom: c.VONAGE_WHATSAPP_FROM,
    } : undefined,
    mfa: {
      codeTtl: c.MFA_CODE_TTL,
      maxAttempts: c.MFA_CODE_MAX_ATTEMPTS,
      resendSeconds: c.MFA_RESEND_SECONDS,
      webauthnRpId: c.WEBAUTHN_RP_ID ?? new URL(issuer).hostname,
    },
    registration: {
      mode: c.REGISTRATION_MODE,
      requireVerifiedEmail: c.REQUIRE_VERIFIED_EMAIL,
      verificationTtl: c.EMAIL_VERIFICATION_TTL,
      resetTtl: c.PASSWORD_RESET_TTL,
      invitationTtl: c.INVITATION_TTL,
    },
    passwordMinLength: c.PASSWORD_MIN_LENGTH,
    argon2Simd: c.ARGON2_SIMD,
    lockout: { threshold: c.LOCKOUT_THRESHOLD, window: c.LOCKOUT_WINDOW, duration: c.LOCKOUT_DURATION, deviceCookieDays: c.DEVICE_COOKIE_DAYS },
    rateLimits: {
      signIn: { ip: rate(c.RATE_LIMIT_SIGN_IN_IP), account: rate(c.RATE_LIMIT_SIGN_IN_ACCOUNT) },
      codeVerify: { ip: rate(c.RATE_LIMIT_CODE_VERIFY_IP), account: rate(c.RATE_LIMIT_CODE_VERIFY_ACCOUNT) },
      codeSend: { ip: rate(c.RATE_LIMIT_CODE_SEND_IP), account: rate(c.RATE_LIMIT_CODE_SEND_ACCOUNT) },
      registration: { ip: rate(c.RATE_LIMIT_REGISTRATION_IP), account: rate(c.RATE_LIMIT_REGISTRATION_ACCOUNT) },
      resetRequest: { ip: rate(c.RATE_LIMIT_RESET_IP), account: rate(c.RATE_LIMIT_RESET_ACCOUNT) },
      token: { client: rate(c.RATE_LIMIT_TOKEN_CLIENT) },
      // Device-code polls of a pending code (oidc/device-polling.ts): faster than one per 4 s is
      // answered slow_down; devices are told 5 s, so one that keeps to it is never refused.
      devicePoll: { client: { points: 1, duration: 4 } },
    },
    maxSessionsPerUser: c.MAX_SESSIONS_PER_USER,
    auditRetentionDays: c.AUDIT_RETENTION_DAYS,
    clockOffsetFile: c.CLOCK_OFFSET_FILE,
    federation,
    outboundAllowedHosts: c.OUTBOUND_ALLOWED_HOSTS.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean),
    ttl: {
      accessToken: c.ACCESS_TOKEN_TTL,
      clientCredentials: c.CLIENT_CREDENTIALS_TTL,
      authorizationCode: c.AUTHORIZATION_CODE_TTL,
      idToken: c.ID_TOKEN_TTL,
      refreshToken: c.REFRESH_TOKEN_TTL,
      session: c.SESSION_TTL,
      grant: c.GRANT_TTL,
      interaction: c.INTERACTION_TTL,
      deviceCode: c.DEVICE_CODE_TTL,
    },
  }
}

export interface RedisNode { host: string; port: number }
export type RedisTopology =
  | { kind: 'standalone'; url: string }
  | { kind: 'sentinel'; sentinels: RedisNode[]; name: string; username?: string | undefined; password?: string | undefined; sentinelPassword?: string | undefined; tls: boolean }
  | { kind: 'cluster'; nodes: RedisNode[]; username?: string | undefined; password?: string | undefined; tls: boolean }

/** The one Redis topology the REDIS_* variables describe, or undefined when none is set. */
function redisTopology(c: z.infer<typeof schema>): RedisTopology | undefined {
  const fail = (line: string): never => { throw new ConfigError(`invalid configuration:\n  ${line}`) }
  const chosen = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter((name) => c[name] !== undefined)
  if (chosen.length > 1) fail(`${chosen.join(', ')}: set exactly one Redis topology (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES)`)
  const topology = chosen[0]
  if (topology !== 'REDIS_SENTINELS') {
    for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD'] as const) {
      if (c[name] !== undefined) fail(`${name}: only with REDIS_SENTINELS`)
    }
  }
  if (topology === undefined || topology === 'REDIS_URL') {
    for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD'] as const) {
      if (c[name] !== undefined) fail(`${name}: only with REDIS_SENTINELS or REDIS_CLUSTER_NODES${topology ? ' (REDIS_URL carries its credentials: redis://user:password@host)' : ''}`)
    }
    if (c.REDIS_TLS) fail(`REDIS_TLS: only with REDIS_SENTINELS or REDIS_CLUSTER_NODES${topology ? ' (use a rediss:// REDIS_URL)' : ''}`)
  }
  if (topology === 'REDIS_URL') return { kind: 'standalone', url: c.REDIS_URL! }
  const credentials = { username: c.REDIS_USERNAME, password: c.REDIS_PASSWORD, tls: c.REDIS_TLS }
  if (topology === 'REDIS_SENTINELS') {
    if (!c.REDIS_SENTINEL_NAME) fail('REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the master name the sentinels monitor)')
    return { kind: 'sentinel', sentinels: hostPorts('REDIS_SENTINELS', c.REDIS_SENTINELS!, 26379), name: c.REDIS_SENTINEL_NAME!, sentinelPassword: c.REDIS_SENTINEL_PASSWORD, ...credentials }
  }
  if (topology === 'REDIS_CLUSTER_NODES') return { kind: 'cluster', nodes: hostPorts('REDIS_CLUSTER_NODES', c.REDIS_CLUSTER_NODES!, 6379), ...credentials }
  return undefined
}

/** `host:port,host:port` (a bare host takes `defaultPort`; IPv6 as [::1]:port). */
function hostPorts(name: string, value: string, defaultPort: number): RedisNode[] {
  const nodes = value.split(',').map((item) => item.trim()).filter(Boolean).map((item) => {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(item)
    const port = m?.[3] === undefined ? defaultPort : Number(m[3])
    if (!m || port < 1 || port > 65535) throw new ConfigError(`invalid configuration:\n  ${name}: "${item}" is not host:port`)
    return { host: (m[1] ?? m[2])!, port }
  })
  if (!nodes.length) throw new ConfigError(`invalid configuration:\n  ${name}: no host:port given`)
  return nodes
}

/** `points/seconds` → a rate (validated by the schema's pattern). */
function rate(value: string): { points: number; duration: number } {
  const [points, duration] = value.split('/').map(Number) as [number, number]
  return { points, duration }
}

function loadFederation(inline: string | undefined, file: string | undefined, production: boolean): UpstreamSettings[] {
  if (inline && file) throw new ConfigError('invalid configuration:\n  FEDERATION_FILE: set FEDERATION or FEDERATION_FILE, not both')
  let text = inline
  if (file) {
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new ConfigError(`invalid configuration:\n  FEDERATION_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
    }
  }
  if (!text) return []
  try {
    return parseFederation(text, file ? 'FEDERATION_FILE' : 'FEDERATION', { production })
  } catch (err) {
    throw new ConfigError(`invalid configuration:\n${(err as Error).message.split('\n').map((l) => `  ${l}`).join('\n')}`)
  }
}

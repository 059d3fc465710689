// Every setting of the server, read from environment variables, validated once at start. Each
// setting carries its documentation (`.describe()`, and `.meta()` where a section starts or the
// default is computed at start): docs/configuration.md is generated from this schema by
// scripts/generate-config-docs.ts (`npm run docs:config`), and a unit test fails when the two
// differ. A bad value stops the start with a message that names the variable.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { parseFederation, type UpstreamSettings } from './federation/config.ts'
import { usableCpus } from './cpu-limit.ts'
import { LOCALES } from './i18n/locales.ts'
import { ARGON2_SIMD_CHOICES } from './identity/argon2-builds.ts'

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v))
const seconds = z.coerce.number().int().positive()
const optionalString = z.string().trim().min(1).optional()

/**
 * Documentation that is not a description: `section` starts a section of docs/configuration.md at
 * this setting; `shownDefault` is the default as a reader should see it when the schema has none
 * because it is computed at start (from PORT, the CPUs, KEYS_DIR…).
 */
export interface SettingDocs { section?: string; shownDefault?: string }

export const configSchema = z.object({
  NODE_ENV: z.enum(['production', 'development', 'test']).default('development')
    .meta({ section: 'Server', description: '`production`, `development` or `test`. `production` requires `COOKIE_KEYS`, `ENCRYPTION_KEYS` and an `https://` `ISSUER`.' }),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000)
    .describe('TCP port to listen on.'),
  HOST: z.string().default('0.0.0.0')
    .describe('Interface to bind.'),
  ISSUER: z.url({ protocol: /^https?$/ }).optional()
    .meta({ shownDefault: '`http://localhost:$PORT`', description: 'The public issuer URL clients see, always the `issuer` in discovery. Behind a TLS proxy it is the public `https://` URL (see `TRUST_PROXY`).' }),
  TRUST_PROXY: bool.default(false)
    .describe('Trust `X-Forwarded-*` from a reverse proxy: cookies `Secure` and HSTS when the proxy reports https, and the client address is the last `X-Forwarded-For` entry. Only when a proxy you control is the sole way in (docs/deploy.md#behind-an-ingress-or-a-proxy).'),
  WORKERS: z.coerce.number().int().min(1).max(256).optional()
    .meta({ shownDefault: 'CPUs the process may use', description: 'HTTP worker processes (node:cluster) sharing `PORT`; `1`: one process. The default counts a container\'s CPU quota (cgroup v1 or v2), else the host\'s CPUs. The embedded database is one process\'s, so without `DATABASE_URL` the server always runs one process (and its first log line says so). Memory per worker: docs/performance.md#memory-per-worker.' }),
  HEAP_GROWTH_PERCENT: z.coerce.number().int().min(0).max(1000).default(0)
    .describe('How far V8 lets a serving process\'s heap grow past what its last full collection kept, in percent, before the next one. `0`: V8\'s own choice (up to fourfold while memory is plentiful). `100` holds each worker 30–45 MB lower at the same measured throughput; lower values trade more full collections for less memory (docs/performance.md#tuning). `NODE_OPTIONS` cannot carry this V8 flag, so the server sets it.'),
  SHUTDOWN_TIMEOUT: z.coerce.number().int().min(0).max(600).default(25)
    .describe('Seconds in-flight requests get to finish after SIGTERM/SIGINT before their connections are cut; keep it (plus any preStop delay) below the orchestrator\'s grace period (Kubernetes: 30 s).'),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional()
    .describe('Serve Prometheus `/metrics` on this separate port (on `HOST`) instead of `PORT`, so it can stay off the public ingress. Unset: `/metrics` on `PORT`.'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
    .describe('pino log level.'),
  SITE_NAME: z.string().default('Identity')
    .describe('Name shown on the pages.'),
  SITE_HOME_URL: z.url({ protocol: /^https?$/ }).optional()
    .describe('Your site\'s home page: the signed-out pages and the "Page not found" page link to it besides the account area. Unset: they lead to the account area only.'),
  DEFAULT_LOCALE: z.enum(LOCALES).default('en')
    .describe('Language of the pages when neither the authorization request (`ui_locales`), the person, the language switcher nor the browser (`Accept-Language`) names one the server has (docs/adr/0390-message-catalogs.md).'),
  OUTBOUND_ALLOWED_HOSTS: z.string().default('')
    .describe('Hosts that back-channel requests (back-channel logout, `jwks_uri`) may reach on loopback or private addresses, comma-separated; the SSRF protection blocks them otherwise.'),

  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL').optional()
    .meta({ section: 'Storage', description: '`postgresql://…`. Unset: the embedded database (PGlite) in `$DATA_DIR/db`, one process only (docs/adr/0270-embedded-database.md).' }),
  DATABASE_PREPARED_STATEMENTS: bool.default(true)
    .describe('PostgreSQL: the hand-written statements (the sign-in path) run as named prepared statements, parsed and planned once per connection (docs/adr/0200-one-data-path.md). `false` behind a pooler in transaction mode that cannot carry them (PgBouncer before 1.21).'),
  DATA_DIR: z.string().default('./data')
    .describe('Folder of the embedded database (`db/`) and of the first-start credentials file; created with mode 0700.'),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional()
    .describe('Standalone Redis, `redis://…` or `rediss://…` (credentials and database number in the URL). Set at most one of `REDIS_URL`, `REDIS_SENTINELS`, `REDIS_CLUSTER_NODES`; none: protocol state lives in the database and rate limits count per process.'),
  REDIS_SENTINELS: optionalString
    .describe('Redis Sentinel: the sentinels, comma-separated `host:port` (port default 26379); they name the current master. With `REDIS_SENTINEL_NAME`.'),
  REDIS_SENTINEL_NAME: optionalString
    .describe('Sentinel: the monitored master\'s name (as in `sentinel monitor <name> …`, e.g. `mymaster`); required with `REDIS_SENTINELS`.'),
  REDIS_SENTINEL_PASSWORD: optionalString
    .describe('Sentinel: password of the sentinels themselves (`requirepass` in sentinel.conf), when they have one.'),
  REDIS_CLUSTER_NODES: optionalString
    .describe('Redis Cluster: some of the cluster\'s nodes, comma-separated `host:port` (port default 6379); the rest is discovered.'),
  REDIS_USERNAME: optionalString
    .describe('Sentinel and Cluster: ACL user of the Redis data nodes (`REDIS_URL` carries its own).'),
  REDIS_PASSWORD: optionalString
    .describe('Sentinel and Cluster: password of the Redis data nodes (`REDIS_URL` carries its own).'),
  REDIS_TLS: bool.default(false)
    .describe('Sentinel and Cluster: TLS to every node and sentinel (with `REDIS_URL` use `rediss://`); extra CAs via `NODE_EXTRA_CA_CERTS`.'),

  KEYS_DIR: z.string().default('./keys')
    .meta({ section: 'Keys', description: 'Folder of the keys generated at first start when none are given: signing keys (`jwks.json`), cookie keys, encryption keys; files mode 0600. Production takes its keys from the variables below.' }),
  JWKS: optionalString
    .describe('Signing keys as a private JWKS JSON document (e.g. from a Kubernetes secret); needs an RSA key that signs. Overrides `KEYS_DIR`. Rotation: docs/operations.md#rotating-signing-keys.'),
  JWKS_FILE: optionalString
    .describe('Path of a private JWKS JSON file. Overrides `KEYS_DIR`; not together with `JWKS`.'),
  COOKIE_KEYS: optionalString
    .meta({ shownDefault: 'generated in `KEYS_DIR`', description: 'Cookie-signing keys, comma-separated, 32+ characters each, newest first (rotate by prepending). Required in production.' }),
  ENCRYPTION_KEYS: optionalString
    .meta({ shownDefault: 'generated in `KEYS_DIR`', description: 'Keys for secrets at rest (TOTP seeds, link-token digests…): comma-separated `id:base64(32 bytes)`, the first encrypts, the others still decrypt. Required in production.' }),

  SMTP_HOST: optionalString
    .meta({ section: 'Mail and text messages', description: 'SMTP server for email codes and self-service links. Unset: email codes, open registration and password reset are not offered.' }),
  SMTP_PORT: z.coerce.number().int().min(1).max(65535).default(587)
    .describe('SMTP port.'),
  SMTP_SECURE: bool.default(false)
    .describe('`true`: TLS from the first byte (port 465); `false`: STARTTLS when offered.'),
  SMTP_USER: optionalString
    .describe('SMTP user name (authentication only when set).'),
  SMTP_PASSWORD: optionalString
    .describe('SMTP password.'),
  SMTP_FROM: z.string().default('Identity <no-reply@localhost>')
    .describe('Sender of every mail.'),
  SMTP_TLS_VERIFY: bool.default(true)
    .describe('Verify the SMTP server\'s certificate.'),
  VONAGE_API_KEY: optionalString
    .describe('Vonage Messages API key, for SMS and WhatsApp codes; with `VONAGE_API_SECRET`. Unset: those channels are not offered.'),
  VONAGE_API_SECRET: optionalString
    .describe('Vonage Messages API secret; set together with `VONAGE_API_KEY`.'),
  VONAGE_API_HOST: z.url().default('https://api.nexmo.com')
    .describe('Messages API host (tests point it at a local server).'),
  VONAGE_SMS_FROM: z.string().default('Identity')
    .describe('SMS sender id.'),
  VONAGE_WHATSAPP_FROM: optionalString
    .describe('WhatsApp sender number. Unset: no WhatsApp codes.'),

  MFA_CODE_TTL: seconds.default(600)
    .meta({ section: 'Second factors', description: 'Seconds a one-time code (email, SMS, WhatsApp) is valid.' }),
  MFA_CODE_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5)
    .describe('Guesses per one-time code.'),
  MFA_RESEND_SECONDS: z.coerce.number().int().min(0).default(30)
    .describe('Seconds between two codes sent.'),
  WEBAUTHN_RP_ID: optionalString
    .meta({ shownDefault: 'the issuer\'s host', description: 'WebAuthn relying party id (a registrable domain of the issuer).' }),

  FEDERATION: optionalString
    .meta({ section: 'Accounts', description: 'Upstream identity providers (Entra ID, OpenID Connect) as a JSON array; fields in docs/federation.md.' }),
  FEDERATION_FILE: optionalString
    .describe('Path of a JSON file holding that array, instead of `FEDERATION` (e.g. a mounted secret: it contains client secrets).'),
  REGISTRATION_MODE: z.enum(['closed', 'invite', 'open']).default('closed')
    .describe('Who may create an account: `closed`, `invite` or `open`; a tenant\'s own `registrationMode` overrides it (docs/accounts.md#registration).'),
  REQUIRE_VERIFIED_EMAIL: bool.default(true)
    .describe('Hold password sign-ins of accounts whose email address is not verified.'),
  EMAIL_VERIFICATION_TTL: seconds.default(24 * 3600)
    .describe('Seconds an emailed verification link works (24 h).'),
  PASSWORD_RESET_TTL: seconds.default(15 * 60)
    .describe('Seconds an emailed password-reset link works (15 min).'),
  INVITATION_TTL: seconds.default(7 * 24 * 3600)
    .describe('Seconds an invitation link works (7 days).'),
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(128).default(12)
    .describe('Shortest new password, 8 to 128 (NIST SP 800-63B: 8 at least; 15 for single-factor); see docs/accounts.md#passwords.'),
  ARGON2_SIMD: z.enum(ARGON2_SIMD_CHOICES).default('auto')
    .describe('Which argon2 build hashes passwords, the same argon2id in all: `auto` the widest SIMD build the CPU runs (AVX-512, AVX2, else the package\'s own binary), `avx2` never AVX-512 (Intel CPUs that slow the whole core under it), `off` the package\'s own binary. The SIMD builds are made on request (`npm run build:argon2`, with a C/C++ toolchain; the image does it) and used only after a known-answer self-test at load; without them `auto` uses the package\'s own binary. The start log names the build (docs/adr/0261-argon2-builds.md).'),
  MAX_SESSIONS_PER_USER: z.coerce.number().int().min(1).max(100).default(5)
    .describe('Signed-in browsers per person; the sign-in that goes over it signs out the oldest.'),
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(0).default(365)
    .describe('Audit events older than this many days are deleted (at start and every 10 minutes; `0` keeps them forever).'),

  LOCKOUT_THRESHOLD: z.coerce.number().int().min(1).max(1000).default(5)
    .meta({ section: 'Brute-force protection', description: 'Failed sign-ins of one account within `LOCKOUT_WINDOW` from one address (or one known device) that lock that address (or device) out of the account for `LOCKOUT_DURATION`; four times as many from anywhere lock the account for every browser but the owner\'s known devices, longer at each further lock (docs/adr/0150-sign-in-failures-per-address.md).' }),
  LOCKOUT_WINDOW: seconds.default(600)
    .describe('Seconds over which failed sign-ins are counted.'),
  LOCKOUT_DURATION: seconds.default(900)
    .describe('Seconds a lock lasts (the account-wide lock doubles at each further lock, up to four times this).'),
  DEVICE_COOKIE_DAYS: z.coerce.number().int().min(0).max(3650).default(180)
    .describe('Days a browser that signed in stays a known device of the account (its device cookie; `0` turns device cookies off).'),
  RATE_LIMIT_SIGN_IN_IP: z.string().regex(/^\d+\/\d+$/).default('30/300')
    .describe('Sign-in attempts per IP address, `points/seconds`. Every rate limit counts in Redis when one is configured, in each process otherwise (docs/accounts.md#rate-limits).'),
  RATE_LIMIT_SIGN_IN_ACCOUNT: z.string().regex(/^\d+\/\d+$/).default('10/300')
    .describe('Sign-in attempts per account (not from the account\'s known devices).'),
  RATE_LIMIT_CODE_VERIFY_IP: z.string().regex(/^\d+\/\d+$/).default('30/300')
    .describe('Second-factor code checks per IP address.'),
  RATE_LIMIT_CODE_VERIFY_ACCOUNT: z.string().regex(/^\d+\/\d+$/).default('10/300')
    .describe('Second-factor code checks per account.'),
  RATE_LIMIT_CODE_SEND_IP: z.string().regex(/^\d+\/\d+$/).default('20/3600')
    .describe('Codes sent (email, SMS, WhatsApp) per IP address.'),
  RATE_LIMIT_CODE_SEND_ACCOUNT: z.string().regex(/^\d+\/\d+$/).default('10/3600')
    .describe('Codes sent per account.'),
  RATE_LIMIT_REGISTRATION_IP: z.string().regex(/^\d+\/\d+$/).default('10/3600')
    .describe('Registrations per IP address (forms that pass the password checks).'),
  RATE_LIMIT_REGISTRATION_ACCOUNT: z.string().regex(/^\d+\/\d+$/).default('3/3600')
    .describe('Registrations per email address.'),
  RATE_LIMIT_RESET_IP: z.string().regex(/^\d+\/\d+$/).default('10/3600')
    .describe('Password-reset requests per IP address.'),
  RATE_LIMIT_RESET_ACCOUNT: z.string().regex(/^\d+\/\d+$/).default('3/3600')
    .describe('Password-reset requests per email address.'),
  RATE_LIMIT_TOKEN_CLIENT: z.string().regex(/^\d+\/\d+$/).default('600/60')
    .describe('Token-endpoint requests per authenticated client.'),
  RATE_LIMIT_CLIENT_AUTH_FAILURE: z.string().regex(/^\d+\/\d+$/).default('20/300')
    .describe('Failed client authentications (wrong secret or assertion) per client id and IP address, at the token, introspection, revocation, PAR and device-authorization endpoints; only failures count.'),
  CLOCK_OFFSET_FILE: optionalString
    .describe('Tests only, refused in production: a file holding milliseconds added to the clock that lockout, links, sessions and rate-limit windows read, so tests need not wait.'),

  DYNAMIC_CLIENT_REGISTRATION: bool.default(false)
    .meta({ section: 'Client registration', description: 'Dynamic client registration (RFC 7591) at `/reg` and its management API (RFC 7592), for tools that register themselves. Each registration needs an initial access token an administrator issues (`iam registration-token create`, the admin API or the console) with its own policy (docs/administration.md#dynamic-client-registration). Off: `/reg` answers 404 and discovery names no `registration_endpoint`.' }),

  // An access token for a registered API lives as long as that API says
  // (ResourceServer.accessTokenTtl); the two access-token settings apply to tokens without one.
  ACCESS_TOKEN_TTL: seconds.default(3600)
    .meta({ section: 'Lifetimes', description: 'Seconds an access token issued for a person lives; a token for a registered API lives as long as that API\'s own lifetime says.' }),
  CLIENT_CREDENTIALS_TTL: seconds.default(600)
    .describe('Seconds a client-credentials access token lives; likewise, an API\'s own lifetime wins.'),
  AUTHORIZATION_CODE_TTL: seconds.default(60)
    .describe('Seconds an authorization code may be redeemed.'),
  ID_TOKEN_TTL: seconds.default(3600)
    .describe('Seconds an ID token is valid.'),
  REFRESH_TOKEN_TTL: seconds.default(14 * 24 * 3600)
    .describe('Seconds a refresh token lives (14 days).'),
  SESSION_TTL: seconds.default(14 * 24 * 3600)
    .describe('Seconds a sign-in session at this server lives (14 days).'),
  GRANT_TTL: seconds.default(14 * 24 * 3600)
    .describe('Seconds a grant lives (14 days); keep it at least `REFRESH_TOKEN_TTL`.'),
  INTERACTION_TTL: seconds.default(3600)
    .describe('Seconds a sign-in page stays valid.'),
  DEVICE_CODE_TTL: seconds.default(600)
    .describe('Seconds a device code (RFC 8628) stays valid.'),
})

/**
 * Environment variables the server honours that are not read here (Node and libuv read them), for
 * docs/configuration.md.
 */
export const OTHER_ENVIRONMENT: ReadonlyArray<{ name: string; shownDefault: string; description: string }> = [
  { name: 'UV_THREADPOOL_SIZE', shownDefault: 'max(4, CPUs the process may use) for workers', description: 'libuv threads per process; argon2 password hashing runs there (libuv\'s own default is 4).' },
  { name: 'NODE_OPTIONS', shownDefault: 'the image: `--max-semi-space-size=16`', description: 'V8 flags. Under a container memory limit each worker\'s old generation is limited to half of its equal share of the limit unless this sets `--max-old-space-size`.' },
  { name: 'NODE_EXTRA_CA_CERTS', shownDefault: '—', description: 'Extra certificate authorities (PEM file) for outbound TLS: PostgreSQL, Redis, SMTP, upstream identity providers.' },
]

export type Config = ReturnType<typeof loadConfig>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  // Treat empty variables as unset, as shells and Helm templates often produce them.
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = configSchema.safeParse(input)
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
    siteHomeUrl: c.SITE_HOME_URL,
    defaultLocale: c.DEFAULT_LOCALE,
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
      // Counted per client id and address together (middleware/token-rate-limit.ts): guessing a
      // client's secret is bounded per address, and no address can lock a client out for others.
      clientAuthFailure: { client: rate(c.RATE_LIMIT_CLIENT_AUTH_FAILURE) },
      // Device-code polls of a pending code (middleware/device-polling.ts): faster than one per 4 s is
      // answered slow_down; devices are told 5 s, so one that keeps to it is never refused.
      devicePoll: { client: { points: 1, duration: 4 } },
    },
    maxSessionsPerUser: c.MAX_SESSIONS_PER_USER,
    auditRetentionDays: c.AUDIT_RETENTION_DAYS,
    clockOffsetFile: c.CLOCK_OFFSET_FILE,
    federation,
    outboundAllowedHosts: c.OUTBOUND_ALLOWED_HOSTS.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean),
    /** RFC 7591/7592 at /reg, with initial access tokens only (src/oidc/dynamic-registration.ts). */
    dynamicClientRegistration: c.DYNAMIC_CLIENT_REGISTRATION,
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
function redisTopology(c: z.infer<typeof configSchema>): RedisTopology | undefined {
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

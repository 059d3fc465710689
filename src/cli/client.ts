// `iam client …`: the client registry from the command line. The flags are the settings of the one
// client model (src/clients/settings.ts) in kebab-case, validated by the same schema as the admin
// API and the console; its errors are said per flag. Whoever runs this holds the database: a
// global administrator (first-party, admin permissions allowed). Changes are audited (actor 'cli').
import { readFileSync } from 'node:fs'
import type { z } from 'zod'
import type { Config } from '../config.ts'
import type { Db } from '../queries/db.ts'
import type { ClientSettingsInput, RegistrationWarning } from '../clients/registry.ts'
import { CommandError, defineCommand, parseDuration, UsageError, withDatabase, type CommandGroup } from './command.ts'

/** Each setting's flag, for saying which flag an error or warning is about. */
const FLAG_OF: Record<string, string> = {
  clientId: '--id', name: '--name', kind: '--kind', grantTypes: '--grant-type', tokenEndpointAuthMethod: '--token-endpoint-auth-method',
  jwks: '--jwks-file', jwksUri: '--jwks-uri', requirePkce: '--no-pkce', requestObjectSigningAlg: '--request-object-signing-alg',
  requireSignedRequestObject: '--require-signed-request-object', requirePushedAuthorizationRequests: '--require-par',
  redirectUris: '--redirect-uri', postLogoutRedirectUris: '--post-logout-redirect-uri', backchannelLogoutUri: '--backchannel-logout-uri',
  backchannelLogoutSessionRequired: '--backchannel-logout-session-optional', clientUri: '--client-uri', logoUri: '--logo-uri',
  policyUri: '--policy-uri', tosUri: '--tos-uri', contacts: '--contact', accessTokenTtl: '--access-token-ttl', idTokenTtl: '--id-token-ttl',
  refreshTokenTtl: '--refresh-token-ttl', accessTokenFormat: '--access-token-format', scope: '--scope', firstParty: '--first-party',
  mfaPolicy: '--mfa', mfaMaxAge: '--mfa-max-age', tenantId: '--tenant', adminPermissions: '--admin-permission', secret: '--secret-file',
}

/** A message of the model in the words of the command line: setting names become their flags. */
function inFlags(message: string): string {
  return message
    .replaceAll(DEVICE_CODE, 'device_code')
    .replace(/\(jwks\)/g, '(--jwks-file)')
    .replace(/\b(jwks or jwksUri)\b/g, '--jwks-file or --jwks-uri')
    .replace(/\b([a-z]+[A-Z][A-Za-z]*)\b/g, (word) => FLAG_OF[word] ?? word)
}

/** The flag a setting path names, with the value when it is one of several (`--redirect-uri 'x'`). */
function flagOf(path: readonly PropertyKey[], input: Record<string, unknown>): string {
  const [setting, index] = path
  const flag = FLAG_OF[String(setting)] ?? String(setting)
  const value = typeof index === 'number' ? (input[String(setting)] as unknown[] | undefined)?.[index] : undefined
  return typeof value === 'string' ? `${flag} '${shortGrant(value)}'` : flag
}

const say = (flag: string, message: string) => `${flag}: ${inFlags(message)}`

// The client model (clients/registry.ts) and the queries are loaded by `run`, not for --help.
const registry = () => import('../clients/registry.ts')
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code'
const GRANT_NAMES: Record<string, string> = { device_code: DEVICE_CODE, device: DEVICE_CODE }
const shortGrant = (g: string) => (g === DEVICE_CODE ? 'device_code' : g)

function readSecretText(text: string): string {
  // One trailing newline is the file's (`echo s > f`), not the secret's.
  return text.replace(/\r?\n$/, '')
}

function readJwks(file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(`--jwks-file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new UsageError(`--jwks-file: ${file} is not JSON (expected a JWK Set, {"keys": [...]}, or one public JWK)`)
  }
  // One key is taken as a set of one.
  return parsed && typeof parsed === 'object' && 'kty' in parsed ? { keys: [parsed] } : parsed
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function printWarnings(warnings: RegistrationWarning[], where: (path: readonly PropertyKey[]) => string): void {
  // The message first (it names what it is about), then the flag it comes from.
  for (const w of warnings) console.error(`warning: ${inFlags(w.message)} (${where([w.path])})`)
}

/** Zod's own messages (type, range, enum) in plain words; the model's rules already are. */
function plain(issue: z.core.$ZodIssue, flag: string): string {
  const seconds = /-ttl|-max-age/.test(flag) ? ' seconds' : ''
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.map((v) => shortGrant(String(v))).join(', ')}`
  if (issue.code === 'too_big') return issue.origin === 'array' ? `at most ${issue.maximum} may be given` : issue.origin === 'string' ? `at most ${issue.maximum} characters` : `at most ${issue.maximum}${seconds}`
  if (issue.code === 'too_small') return issue.origin === 'array' ? `at least ${issue.minimum} must be given` : issue.origin === 'string' ? `at least ${issue.minimum} characters` : `at least ${issue.minimum}${seconds}`
  if (issue.code === 'invalid_format' && issue.format === 'url') return 'must be an absolute URL'
  if (issue.code === 'invalid_format' && issue.format === 'email') return 'must be an email address'
  return issue.message
}

async function audit(config: Config, prisma: Db) {
  const [{ createAuditWriter }, { createLogger }] = await Promise.all([import('../audit/audit.ts'), import('../observability/logger.ts')])
  return createAuditWriter(prisma, createLogger(config.logLevel))
}

const create = defineCommand({
  name: 'client create',
  summary: `register a client (a generated secret is printed once; the settings are the
admin API's and the console's: docs/clients.md)`,
  details: `examples:
  iam client create --kind web --name "Wiki" --redirect-uri https://wiki.example/callback
  iam client create --kind web --name "Legacy app" --id legacy-app --secret-file secret.txt \\
      --token-endpoint-auth-method client_secret_post --no-pkce --redirect-uri https://legacy.example/cb
  iam client create --kind native --name "sssd" --grant-type device_code
  iam client create --kind web --name "Reports" --token-endpoint-auth-method private_key_jwt \\
      --jwks-uri https://reports.example/jwks.json --redirect-uri https://reports.example/cb
durations: seconds, or 90s, 15m, 12h, 30d`,
  options: {
    kind: { type: 'string', value: 'web|spa|native|service', required: true, help: 'web: confidential, acts for people; spa, native: public;\nservice: confidential machine client (client_credentials only)' },
    name: { type: 'string', value: 'NAME', required: true, help: 'shown to people on the consent page' },
    id: { type: 'string', value: 'ID', help: 'the client_id (printable ASCII, up to 200; default: generated)' },
    'grant-type': { type: 'string', value: 'GRANT', multiple: true, help: 'authorization_code, refresh_token, client_credentials, device_code\n(default: per kind)' },
    'token-endpoint-auth-method': { type: 'string', value: 'METHOD', help: 'client_secret_basic (default, confidential), client_secret_post,\nprivate_key_jwt, none (public)' },
    'jwks-file': { type: 'string', value: 'FILE', help: 'the client\'s public keys (a JWK Set or one JWK) for private_key_jwt\nand signed request objects' },
    'jwks-uri': { type: 'string', value: 'URL', help: 'where the client publishes its public keys (instead of --jwks-file)' },
    'no-pkce': { type: 'boolean', help: 'do not require PKCE (confidential authorization_code clients that\ncannot send it; a warning)' },
    'request-object-signing-alg': { type: 'string', value: 'ALG', help: 'ES256, RS256, PS256 or EdDSA: the only alg accepted for its request objects' },
    'require-signed-request-object': { type: 'boolean', help: 'authorization requests must come as a signed request object (JAR)' },
    'require-par': { type: 'boolean', help: 'authorization requests must be pushed first (PAR)' },
    'redirect-uri': { type: 'string', value: 'URI', multiple: true, help: 'where people are sent back after signing in (authorization_code)' },
    'post-logout-redirect-uri': { type: 'string', value: 'URI', multiple: true, help: 'where people may be sent after signing out' },
    'backchannel-logout-uri': { type: 'string', value: 'URI', help: 'this server posts a logout token there when a session ends' },
    'backchannel-logout-session-optional': { type: 'boolean', help: 'the logout token need not carry sid' },
    'client-uri': { type: 'string', value: 'URL', help: 'the application\'s home page (its domain is shown on the consent page)' },
    'logo-uri': { type: 'string', value: 'URL', help: 'its logo, shown on the consent page' },
    'policy-uri': { type: 'string', value: 'URL', help: 'its privacy policy, linked from the consent page' },
    'tos-uri': { type: 'string', value: 'URL', help: 'its terms of service, linked from the consent page' },
    contact: { type: 'string', value: 'EMAIL', multiple: true, help: 'who is responsible for it (up to 10)' },
    'access-token-ttl': { type: 'string', value: 'DURATION', help: 'its access tokens\' lifetime (1m to 1d)' },
    'id-token-ttl': { type: 'string', value: 'DURATION', help: 'its ID tokens\' lifetime (1m to 1d)' },
    'refresh-token-ttl': { type: 'string', value: 'DURATION', help: 'its refresh tokens\' lifetime (5m to 365d)' },
    'access-token-format': { type: 'string', value: 'opaque|jwt', help: 'its access tokens for APIs (default: the API\'s format)' },
    scope: { type: 'string', value: 'SCOPES', help: 'the OpenID scopes it may ask for (space-separated)' },
    'first-party': { type: 'boolean', help: 'one of the organisation\'s own applications: no consent page' },
    mfa: { type: 'string', value: 'required|none', help: 'ask everyone who signs in to it for a second factor' },
    'mfa-max-age': { type: 'string', value: 'DURATION', help: 'ask for the second factor again when the last one is older' },
    tenant: { type: 'string', value: 'SLUG', help: 'the tenant it belongs to (default: shared by all)' },
    'admin-permission': { type: 'string', value: 'PERMISSION', multiple: true, help: 'a permission its client_credentials tokens have on the admin API' },
    'secret-file': { type: 'string', value: 'FILE', help: 'import an existing secret from FILE (one trailing newline is dropped)' },
    'secret-stdin': { type: 'boolean', help: 'import an existing secret from standard input' },
  },
  async run({ values, config }) {
    const { clientSettingsSchema, createClient, metadataFor, outboundPolicyWarnings } = await registry()
    if (values['secret-file'] && values['secret-stdin']) throw new UsageError('give --secret-file or --secret-stdin, not both')
    const duration = (option: 'access-token-ttl' | 'id-token-ttl' | 'refresh-token-ttl' | 'mfa-max-age') => parseDuration(option, values[option])
    let secret: string | undefined
    if (values['secret-file']) {
      try {
        secret = readSecretText(readFileSync(values['secret-file'], 'utf8'))
      } catch (err) {
        throw new UsageError(`--secret-file: cannot read ${values['secret-file']} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
      }
    }
    if (values['secret-stdin']) secret = readSecretText(await readStdin())
    const input: Record<string, unknown> = {
      kind: values.kind,
      name: values.name,
      clientId: values.id,
      grantTypes: values['grant-type']?.map((g) => GRANT_NAMES[g] ?? g),
      tokenEndpointAuthMethod: values['token-endpoint-auth-method'],
      jwks: values['jwks-file'] ? readJwks(values['jwks-file']) : undefined,
      jwksUri: values['jwks-uri'],
      requirePkce: !values['no-pkce'],
      requestObjectSigningAlg: values['request-object-signing-alg'],
      requireSignedRequestObject: values['require-signed-request-object'] ?? false,
      requirePushedAuthorizationRequests: values['require-par'] ?? false,
      redirectUris: values['redirect-uri'] ?? [],
      postLogoutRedirectUris: values['post-logout-redirect-uri'] ?? [],
      backchannelLogoutUri: values['backchannel-logout-uri'],
      backchannelLogoutSessionRequired: !values['backchannel-logout-session-optional'],
      clientUri: values['client-uri'],
      logoUri: values['logo-uri'],
      policyUri: values['policy-uri'],
      tosUri: values['tos-uri'],
      contacts: values.contact ?? [],
      accessTokenTtl: duration('access-token-ttl'),
      idTokenTtl: duration('id-token-ttl'),
      refreshTokenTtl: duration('refresh-token-ttl'),
      accessTokenFormat: values['access-token-format'],
      scope: values.scope,
      firstParty: values['first-party'] ?? false,
      mfaPolicy: values.mfa ?? 'none',
      mfaMaxAge: duration('mfa-max-age'),
      adminPermissions: values['admin-permission'] ?? [],
      secret,
    }
    for (const key of Object.keys(input)) if (input[key] === undefined) delete input[key]
    const where = (path: readonly PropertyKey[]) => (path[0] === 'secret' && values['secret-stdin'] ? '--secret-stdin' : path.length ? flagOf(path, input) : 'settings')
    // Validated before the database is opened; the tenant (named by its slug, no rule depends on it) after.
    const parsed = clientSettingsSchema.safeParse(input)
    if (!parsed.success) {
      const lines = parsed.error.issues.map((i) => say(where(i.path), plain(i, where(i.path))))
      throw new UsageError(lines.length === 1 ? lines[0]! : `${lines.length} settings are not valid:`, lines.length === 1 ? [] : lines)
    }
    const [{ findTenantBySlug }, { findClientById }] = await Promise.all([import('../identity/tenants.ts'), import('../queries/clients.ts')])
    const created = await withDatabase(config, async (prisma) => {
      let tenantId: string | undefined
      if (values.tenant) {
        const tenant = await findTenantBySlug(prisma, values.tenant)
        if (!tenant) throw new UsageError(`--tenant: no tenant ${values.tenant}`)
        tenantId = tenant.id
      }
      if (parsed.data.clientId && await findClientById(prisma, parsed.data.clientId)) throw new UsageError(`--id: a client ${parsed.data.clientId} already exists`)
      const settings = { ...input, ...(tenantId ? { tenantId } : {}) } as ClientSettingsInput
      const result = await createClient(prisma, settings)
      const c = clientSettingsSchema.parse(settings)
      await (await audit(config, prisma)).record(undefined, {
        type: 'admin_client_create', outcome: 'success', actor: 'cli', clientId: result.clientId, tenantId,
        details: { name: c.name, kind: c.kind, redirectUris: c.redirectUris, grantTypes: metadataFor(c).grant_types, tokenEndpointAuthMethod: metadataFor(c).token_endpoint_auth_method, scope: c.scope, adminPermissions: c.adminPermissions, firstParty: c.firstParty, mfaPolicy: c.mfaPolicy, requirePkce: c.requirePkce, secretIssued: Boolean(result.clientSecret), secretImported: c.secret !== undefined },
      })
      return { result, metadata: metadataFor(c) }
    })
    console.log(`client_id: ${created.result.clientId}`)
    if (created.result.clientSecret) console.log(`client_secret (shown once, stored hashed): ${created.result.clientSecret}`)
    else if (secret !== undefined) console.log('client_secret: the imported one (stored hashed)')
    printWarnings(created.result.warnings, where)
    printWarnings(await outboundPolicyWarnings(created.metadata, config.outboundAllowedHosts), where)
    return 0
  },
})

const list = defineCommand({
  name: 'client list',
  summary: 'every client: id, name, kind, grant types, disabled',
  options: {},
  async run({ config }) {
    const [{ kindOf }, { listClientsInScope }, { GLOBAL }] = await Promise.all([registry(), import('../queries/admin-clients.ts'), import('../queries/admin-scope.ts')])
    const rows = await withDatabase(config, async (prisma) => {
      const all = []
      let after: { at: Date; id: string } | undefined
      for (;;) {
        const page = await listClientsInScope(prisma, GLOBAL, { take: 500, after })
        all.push(...page)
        if (page.length < 500) return all
        after = { at: page.at(-1)!.createdAt, id: page.at(-1)!.id }
      }
    })
    const table = rows.map((row) => {
      const m = row.metadata as Record<string, unknown>
      const grants = Array.isArray(m.grant_types) ? m.grant_types.map(String).map(shortGrant).join(',') : ''
      return [row.id, row.name, kindOf(m), grants, row.disabled ? 'disabled' : '']
    })
    const header = ['ID', 'NAME', 'KIND', 'GRANT TYPES', 'DISABLED']
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)))
    for (const r of [header, ...table]) console.log(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd())
    return 0
  },
})

const clientId = { usage: '<client-id>', min: 1, max: 1 }

async function existing(prisma: Db, id: string) {
  const { findClientById } = await import('../queries/clients.ts')
  const row = await findClientById(prisma, id)
  if (!row) throw new CommandError(`no client ${id}`)
  return row
}

async function refuseBuiltIn(id: string, what: string): Promise<void> {
  const { isBuiltInClient } = await registry()
  if (isBuiltInClient(id)) throw new CommandError(`${id} is one of this server's own applications: it cannot be ${what}`)
}

const show = defineCommand({
  name: 'client show',
  summary: 'a client\'s settings, as JSON',
  positionals: clientId,
  options: {},
  async run({ positionals, config }) {
    const { isBuiltInClient, settingsOf } = await registry()
    const row = await withDatabase(config, (prisma) => existing(prisma, positionals[0]!))
    const extra = row as typeof row & { registeredBy?: string; previousSecretExpiresAt?: Date | null }
    const rotation = extra.previousSecretExpiresAt && extra.previousSecretExpiresAt > new Date() ? { previousExpiresAt: extra.previousSecretExpiresAt.toISOString() } : null
    console.log(JSON.stringify({
      id: row.id,
      ...settingsOf(row),
      disabled: row.disabled,
      hasSecret: row.secretHash !== null,
      secretRotation: rotation,
      builtIn: isBuiltInClient(row.id),
      ...(extra.registeredBy ? { registeredBy: extra.registeredBy } : {}),
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    }, null, 2))
    return 0
  },
})

const rotate = defineCommand({
  name: 'client rotate-secret',
  summary: `a new secret, printed once; --keep-previous-for keeps the old one working
meanwhile (both accepted), for a roll-out without downtime`,
  positionals: clientId,
  options: {
    'keep-previous-for': { type: 'string', value: 'DURATION', help: 'how long the replaced secret keeps working (up to 30d;\ndefault 0: it stops at once, as for a leaked secret)' },
  },
  async run({ values, positionals, config }) {
    const id = positionals[0]!
    const { MAX_KEEP_PREVIOUS_SECONDS, rotateClientSecret } = await registry()
    const keep = parseDuration('keep-previous-for', values['keep-previous-for']) ?? 0
    if (keep > MAX_KEEP_PREVIOUS_SECONDS) throw new UsageError(`--keep-previous-for: at most ${MAX_KEEP_PREVIOUS_SECONDS / 86400}d`)
    await refuseBuiltIn(id, 'changed')
    const rotated = await withDatabase(config, async (prisma) => {
      const row = await existing(prisma, id)
      if (!row.secretHash) throw new CommandError(`${id} authenticates without a secret (public client or private_key_jwt)`)
      const result = await rotateClientSecret(prisma, id, { keepPreviousFor: keep })
      await (await audit(config, prisma)).record(undefined, {
        type: 'admin_client_secret_rotate', outcome: 'success', actor: 'cli', clientId: id, tenantId: row.tenantId ?? undefined,
        details: { previousExpiresAt: result.previousExpiresAt?.toISOString() ?? null },
      })
      return result
    })
    console.log(`client_secret (shown once, stored hashed): ${rotated.clientSecret}`)
    console.log(rotated.previousExpiresAt ? `the previous secret keeps working until ${rotated.previousExpiresAt.toISOString()}` : 'the previous secret no longer works')
    return 0
  },
})

const update = defineCommand({
  name: 'client update',
  summary: `change a client's settings: a JSON object of the settings to change, in the names of
the admin API and \`client show\` (null removes one; the id, kind, tenant and secret stay)`,
  details: `examples:
  echo '{"requirePkce": true, "logoUri": "https://wiki.example/logo.png"}' | iam client update wiki --settings -
  iam client show wiki > wiki.json   # edit it, then:
  iam client update wiki --settings wiki.json`,
  positionals: clientId,
  options: {
    settings: { type: 'string', value: 'FILE', required: true, help: 'the settings to change, as JSON (- for standard input)' },
  },
  async run({ values, positionals, config }) {
    const id = positionals[0]!
    const { changeClient, clientSettingsPatchSchema, ClientNotFound } = await registry()
    const file = values.settings!
    let text: string
    try {
      text = file === '-' ? await readStdin() : readFileSync(file, 'utf8')
    } catch (err) {
      throw new UsageError(`--settings: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new UsageError('--settings: not JSON')
    }
    // `client show` prints what cannot be changed too: those are dropped when they are as stored.
    const { id: _id, clientId: _clientId, kind: _kind, tenantId: _tenant, disabled: _disabled, hasSecret: _hasSecret, secretRotation: _rotation, builtIn: _builtIn, registeredBy: _by, createdAt: _c, updatedAt: _u, ...wanted } = (json && typeof json === 'object' && !Array.isArray(json) ? json : { notAnObject: json }) as Record<string, unknown>
    const parsed = clientSettingsPatchSchema.safeParse(wanted)
    if (!parsed.success) {
      const lines = parsed.error.issues.map((i) => `${i.path.join('.') || 'settings'}: ${i.message}`)
      throw new UsageError(lines.length === 1 ? lines[0]! : `${lines.length} settings are not valid:`, lines.length === 1 ? [] : lines)
    }
    await refuseBuiltIn(id, 'changed')
    const changed = await withDatabase(config, async (prisma) => {
      const row = await existing(prisma, id)
      let result
      try {
        result = await changeClient(prisma, id, parsed.data)
      } catch (err) {
        if (err instanceof ClientNotFound) throw new CommandError(`no client ${id}`)
        if (err && typeof err === 'object' && 'issues' in err) {
          const lines = (err as z.ZodError).issues.map((i) => `${i.path.join('.') || 'settings'}: ${i.message}`)
          throw new UsageError(lines.length === 1 ? lines[0]! : `${lines.length} settings are not valid:`, lines.length === 1 ? [] : lines)
        }
        throw err
      }
      await (await audit(config, prisma)).record(undefined, {
        type: 'admin_client_update', outcome: 'success', actor: 'cli', clientId: id, tenantId: row.tenantId ?? undefined,
        details: { changed: Object.keys(parsed.data), ...parsed.data },
      })
      return result
    })
    console.log(`client ${id} changed (${Object.keys(parsed.data).join(', ') || 'nothing'}); it counts within a second`)
    if (changed.clientSecret) console.log(`client_secret (shown once, stored hashed): ${changed.clientSecret}`)
    for (const w of changed.warnings) console.error(`warning: ${w.message} (${w.path})`)
    return 0
  },
})

/**
 * Ends what the client holds (client-metadata.ts endClientTokens): records the moment, so that no
 * token issued before it counts anywhere (introspection, userinfo, the admin API read it from the
 * database), and revokes its grants in the store where the provider keeps them (Redis, or the
 * database when embedded) through a provider built on that store for this purpose.
 */
async function endTokens(config: Config, prisma: Db, id: string): Promise<void> {
  const [{ createProvider }, { createAdapterFactory }, { loadCookieKeys, loadSigningKeys }, { endClientTokens }, { openRedis }] = await Promise.all([
    import('../oidc/provider.ts'), import('../oidc/adapters/index.ts'), import('../oidc/keys.ts'), import('../oidc/client-metadata.ts'), import('../store/redis.ts'),
  ])
  const redis = config.redis ? await openRedis(config.redis) : undefined
  try {
    const provider = createProvider({ config, prisma, jwks: await loadSigningKeys(config), cookieKeys: await loadCookieKeys(config), adapter: createAdapterFactory(prisma, redis) })
    await endClientTokens(prisma, provider, id)
  } finally {
    await redis?.quit().catch(() => undefined)
  }
}

function setDisabled(disabled: boolean) {
  return defineCommand({
    name: disabled ? 'client disable' : 'client enable',
    summary: disabled
      ? 'refuse the client from now on and end its grants and tokens'
      : 'accept the client again (tokens from before it was disabled stay ended)',
    positionals: clientId,
    options: {},
    async run({ positionals, config }) {
      const id = positionals[0]!
      await refuseBuiltIn(id, disabled ? 'disabled' : 'changed')
      const { setClientDisabled } = await import('../queries/admin-clients.ts')
      const was = await withDatabase(config, async (prisma) => {
        const row = await existing(prisma, id)
        await setClientDisabled(prisma, id, disabled)
        if (disabled) await endTokens(config, prisma, id)
        await (await audit(config, prisma)).record(undefined, {
          type: 'admin_client_update', outcome: 'success', actor: 'cli', clientId: id, tenantId: row.tenantId ?? undefined, details: { changed: ['disabled'], disabled },
        })
        return row.disabled
      })
      if (disabled) console.log(`client ${id} disabled${was ? ' (it already was)' : ''}: its grants are revoked and no token issued to it before now counts`)
      else console.log(`client ${id} enabled${was ? '' : ' (it already was)'}; tokens from before it was disabled stay ended`)
      return 0
    },
  })
}

const remove = defineCommand({
  name: 'client delete',
  summary: 'delete the client, ending its grants and tokens',
  positionals: clientId,
  options: {},
  async run({ positionals, config }) {
    const id = positionals[0]!
    await refuseBuiltIn(id, 'deleted')
    const { deleteClient } = await import('../queries/clients.ts')
    await withDatabase(config, async (prisma) => {
      const row = await existing(prisma, id)
      await endTokens(config, prisma, id)
      await deleteClient(prisma, id)
      await (await audit(config, prisma)).record(undefined, {
        type: 'admin_client_delete', outcome: 'success', actor: 'cli', clientId: id, tenantId: row.tenantId ?? undefined, details: { name: row.name },
      })
    })
    console.log(`client ${id} deleted: its grants are revoked and its tokens no longer count`)
    return 0
  },
})

export const clientCommands: CommandGroup = {
  name: 'client',
  summary: 'the client registry (the settings: docs/clients.md)',
  commands: [create, list, show, update, rotate, setDisabled(true), setDisabled(false), remove],
}

// `iam registration-token create|list|revoke`: initial access tokens for dynamic client
// registration (RFC 7591), with the policy of each (the same schema as the admin API and the
// console: src/clients/registration-tokens.ts). The token is printed once. Audited (actor 'cli').
import type { Config } from '../config.ts'
import type { Db } from '../queries/db.ts'
import { CommandError, defineCommand, oneOf, parseDuration, UsageError, withDatabase, type CommandGroup } from './command.ts'

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code'
const GRANTS = ['authorization_code', 'refresh_token', 'client_credentials', 'device_code'] as const
const FLAG_OF: Record<string, string> = {
  description: '--description', tenantId: '--tenant', allowedRedirectHosts: '--host', allowedGrantTypes: '--grant-type',
  clientType: '--client-type', expiresIn: '--expires-in', maxUses: '--uses',
}

async function audit(config: Config, prisma: Db) {
  const [{ createAuditWriter }, { createLogger }] = await Promise.all([import('../audit/audit.ts'), import('../observability/logger.ts')])
  return createAuditWriter(prisma, createLogger(config.logLevel))
}

/**
 * Saves the token in the store the server's provider reads (Redis, or the database without it),
 * through a provider built as the server builds it: the token is oidc-provider's own model.
 */
async function withTokenStore<T>(config: Config, prisma: Db, run: (save: import('../clients/registration-tokens.ts').SaveInitialAccessToken) => Promise<T>): Promise<T> {
  const [{ createProvider }, { createAdapterFactory }, { loadSigningKeys, loadCookieKeys }, { initialAccessTokenSaver }, { openRedis }] = await Promise.all([
    import('../oidc/provider.ts'), import('../oidc/adapters/index.ts'), import('../oidc/keys.ts'), import('../oidc/dynamic-registration.ts'), import('../store/redis.ts'),
  ])
  const redis = config.redis ? await openRedis(config.redis) : undefined
  try {
    const provider = createProvider({ config, prisma, jwks: await loadSigningKeys(config), cookieKeys: await loadCookieKeys(config), adapter: createAdapterFactory(prisma, redis) })
    return await run(initialAccessTokenSaver(provider))
  } finally {
    await redis?.quit().catch(() => undefined)
  }
}

const create = defineCommand({
  name: 'registration-token create',
  summary: 'issue an initial access token for dynamic client registration (printed once)',
  details: `examples:
  iam registration-token create --host localhost --host 127.0.0.1 --description "MCP clients"
  iam registration-token create --grant-type client_credentials --client-type confidential --uses 5 --expires-in 7d
The server accepts registrations only with DYNAMIC_CLIENT_REGISTRATION=true (docs/administration.md).`,
  options: {
    host: { type: 'string', value: 'HOST', multiple: true, help: 'a host redirect and post-logout URIs may name (needed for authorization_code)' },
    'grant-type': { type: 'string', value: GRANTS.join('|'), multiple: true, help: 'a grant type registrations may ask for (default authorization_code and refresh_token)' },
    'client-type': { type: 'string', value: 'public|confidential|any', help: 'which clients it registers (default any)' },
    'expires-in': { type: 'string', value: 'DURATION', help: 'how long it may be used (default 1d, at most 90d)' },
    uses: { type: 'string', value: 'N', help: 'how many registrations it allows (default 1)' },
    tenant: { type: 'string', value: 'SLUG', help: 'the tenant every client registered with it belongs to' },
    description: { type: 'string', value: 'TEXT', help: 'what it is for (shown in the list)' },
  },
  async run({ values, config }) {
    const { registrationTokenPolicySchema, issueRegistrationToken } = await import('../clients/registration-tokens.ts')
    const uses = values.uses === undefined ? undefined : /^\d{1,6}$/.test(values.uses) ? Number(values.uses) : Number.NaN
    if (Number.isNaN(uses)) throw new UsageError(`--uses must be a whole number (got '${values.uses}')`)
    const grants = (values['grant-type'] ?? []).map((g) => oneOf('grant-type', g, GRANTS)!)
    const input = {
      ...(values.description !== undefined ? { description: values.description } : {}),
      ...(values.host ? { allowedRedirectHosts: values.host } : {}),
      ...(grants.length ? { allowedGrantTypes: grants.map((g) => (g === 'device_code' ? DEVICE_CODE : g)) } : {}),
      ...(values['client-type'] !== undefined ? { clientType: oneOf('client-type', values['client-type'], ['public', 'confidential', 'any'] as const) } : {}),
      ...(values['expires-in'] !== undefined ? { expiresIn: parseDuration('expires-in', values['expires-in']) } : {}),
      ...(uses !== undefined ? { maxUses: uses } : {}),
    }
    const parsed = registrationTokenPolicySchema.safeParse(input)
    if (!parsed.success) {
      throw new UsageError('the token policy is not valid', parsed.error.issues.map((i) => `  ${FLAG_OF[String(i.path[0])] ?? String(i.path[0] ?? '')}: ${i.message.replaceAll(DEVICE_CODE, 'device_code')}`))
    }
    const [{ findTenantBySlug }] = await Promise.all([import('../identity/tenants.ts')])
    const issued = await withDatabase(config, async (prisma) => {
      let tenantId: string | undefined
      if (values.tenant) {
        const tenant = await findTenantBySlug(prisma, values.tenant)
        if (!tenant) throw new UsageError(`--tenant: no tenant ${values.tenant}`)
        tenantId = tenant.id
      }
      const policy = { ...parsed.data, ...(tenantId ? { tenantId } : {}) }
      const result = await withTokenStore(config, prisma, (save) => issueRegistrationToken(prisma, save, policy, 'cli'))
      const t = result.row
      await (await audit(config, prisma)).record(undefined, {
        type: 'admin_registration_token_issue', outcome: 'success', actor: 'cli', tenantId,
        details: { id: t.id, description: t.description, allowedRedirectHosts: t.allowedRedirectHosts, allowedGrantTypes: t.allowedGrantTypes, clientType: t.clientType, expiresAt: t.expiresAt.toISOString(), maxUses: t.maxUses },
      })
      return result
    })
    console.log(`id: ${issued.row.id}`)
    console.log(`expires: ${issued.row.expiresAt.toISOString()}  uses: ${issued.row.maxUses}`)
    console.log(`initial access token (shown once): ${issued.token}`)
    if (!config.dynamicClientRegistration) console.log('note: DYNAMIC_CLIENT_REGISTRATION is off: the server refuses registrations until it is on')
    return 0
  },
})

const list = defineCommand({
  name: 'registration-token list',
  summary: 'every initial access token: id, state, uses, expiry, tenant, description',
  options: {},
  async run({ config }) {
    const [{ listRegistrationTokensInScope }, { GLOBAL }, { registrationTokenState }] = await Promise.all([
      import('../queries/registration-tokens.ts'), import('../queries/admin-scope.ts'), import('../clients/registration-tokens.ts'),
    ])
    const rows = await withDatabase(config, async (prisma) => {
      const all = []
      let after: { at: Date; id: string } | undefined
      for (;;) {
        const page = await listRegistrationTokensInScope(prisma, GLOBAL, { take: 200, after })
        all.push(...page)
        if (page.length < 200) return all
        after = { at: page.at(-1)!.createdAt, id: page.at(-1)!.id }
      }
    })
    for (const t of rows) {
      console.log([t.id, registrationTokenState(t).padEnd(7), `${t.uses}/${t.maxUses}`, t.expiresAt.toISOString(), t.tenantId ?? '-', t.description].join('  ').trimEnd())
    }
    return 0
  },
})

const revoke = defineCommand({
  name: 'registration-token revoke',
  summary: 'revoke an initial access token (clients registered with it stay)',
  positionals: { usage: '<id>', min: 1, max: 1 },
  options: {},
  async run({ positionals, config }) {
    const [{ findRegistrationToken, revokeRegistrationToken }] = await Promise.all([import('../queries/registration-tokens.ts')])
    const id = positionals[0]!
    await withDatabase(config, async (prisma) => {
      const row = await findRegistrationToken(prisma, id)
      if (!row) throw new CommandError(`no registration token ${id} (see registration-token list)`)
      await revokeRegistrationToken(prisma, id, new Date())
      await (await audit(config, prisma)).record(undefined, { type: 'admin_registration_token_revoke', outcome: 'success', actor: 'cli', tenantId: row.tenantId ?? undefined, details: { id } })
    })
    console.log(`revoked ${id}`)
    return 0
  },
})

export const registrationTokenCommands: CommandGroup = {
  name: 'registration-token',
  summary: 'initial access tokens for dynamic client registration (RFC 7591)',
  commands: [create, list, revoke],
}

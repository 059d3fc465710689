// `iam user create|invite|unlock`: people, from the command line (whoever runs it holds the
// database, so acts as a global administrator; audited with actor 'cli').
import { defineCommand, UsageError, withDatabase, type CommandGroup } from './command.ts'

const create = defineCommand({
  name: 'user create',
  summary: `create a user (a password is generated and printed when not given);
the administrator vouches for the address: it counts as verified`,
  options: {
    email: { type: 'string', value: 'E', required: true, help: 'their email address' },
    username: { type: 'string', value: 'U', help: 'a username to sign in with' },
    name: { type: 'string', value: 'N', help: 'display name' },
    password: { type: 'string', value: 'P', help: 'their password (default: generated, printed once)' },
    role: { type: 'string', value: 'R', multiple: true, help: 'a role to assign' },
  },
  async run({ values, config }) {
    const [{ findRoleByName }, { createUser }, { assignRole }, { checkNewPassword }, { randomSecret }] = await Promise.all([
      import('../queries/roles.ts'), import('../identity/users.ts'), import('../identity/roles.ts'), import('../identity/password-policy.ts'), import('../security/secrets.ts'),
    ])
    const email = values.email!
    if (values.password) {
      const policy = checkNewPassword(values.password, { minLength: config.passwordMinLength, userInputs: [email, values.username, values.name] })
      if (!policy.ok) throw new UsageError(`--password: ${policy.message}`)
    }
    const password = values.password ?? randomSecret(12)
    const user = await withDatabase(config, async (prisma) => {
      // The administrator vouches for the address, so the account is not held for verification.
      const u = await createUser(prisma, { email, username: values.username, displayName: values.name, password, emailVerified: true })
      for (const name of values.role ?? []) {
        const role = await findRoleByName(prisma, name)
        if (!role) throw new UsageError(`--role: no role named ${name}`)
        await assignRole(prisma, u.id, role.id)
      }
      return u
    })
    console.log(`user ${user.email} created (id ${user.id})`)
    if (!values.password) console.log(`password (shown once): ${password}`)
    return 0
  },
})

const invite = defineCommand({
  name: 'user invite',
  summary: `print a single-use link (INVITATION_TTL) to create an account;
--send also emails it (needs SMTP_HOST), naming --inviter as who invited`,
  positionals: { usage: '<email>', min: 1, max: 1 },
  options: {
    tenant: { type: 'string', value: 'SLUG', help: 'the tenant the account will belong to' },
    send: { type: 'boolean', help: 'also email the link (needs SMTP_HOST)' },
    inviter: { type: 'string', value: 'LOGIN', help: 'the administrator (email or username) the email names as who invited' },
    locale: { type: 'string', value: 'TAG', help: 'the email\'s language (default: DEFAULT_LOCALE)' },
  },
  async run({ values, positionals, config }) {
    const email = positionals[0]!
    if (values.send && !config.smtp) throw new UsageError('--send needs SMTP_HOST')
    const { localeOfTag } = await import('../i18n/negotiate.ts')
    const locale = values.locale === undefined ? undefined : localeOfTag(values.locale)
    if (values.locale !== undefined && !locale) throw new UsageError(`--locale: no catalog for ${values.locale}`)
    const [{ createLogger }, { createClock }, { createAuditWriter }, { createInvitation, InvitationError }, { findTenantBySlug, DEFAULT_TENANT_SLUG }, { createSecretBox, loadEncryptionKeys }, { createMailer }, { findUserByLogin, findUserById }, { normalizeLogin }] = await Promise.all([
      import('../observability/logger.ts'), import('../security/clock.ts'), import('../audit/audit.ts'), import('../identity/registration.ts'),
      import('../identity/tenants.ts'), import('../security/encryption.ts'), import('../mail/mailer.ts'), import('../queries/users.ts'), import('../identity/users.ts'),
    ])
    const box = createSecretBox(await loadEncryptionKeys(config))
    const invitation = await withDatabase(config, async (prisma) => {
      const tenant = values.tenant ? await findTenantBySlug(prisma, values.tenant) : undefined
      if (values.tenant && !tenant) throw new UsageError(`--tenant: no tenant ${values.tenant}`)
      const inviterLogin = values.inviter ? await findUserByLogin(prisma, normalizeLogin(values.inviter)) : undefined
      if (values.inviter && !inviterLogin) throw new UsageError(`--inviter: no user ${values.inviter}`)
      const inviter = inviterLogin ? await findUserById(prisma, inviterLogin.id) : undefined
      try {
        const created = await createInvitation(
          { prisma, box, clock: createClock(config.clockOffsetFile), mail: { siteName: config.siteName, issuer: config.issuer }, settings: config.registration },
          {
            email, tenantId: tenant?.id, send: values.send && config.smtp ? createMailer(config.smtp) : undefined, locale,
            // The default tenant is the site itself: only another tenant is named.
            from: { inviter: inviter ? inviter.displayName ?? inviter.email : undefined, tenant: tenant && tenant.slug !== DEFAULT_TENANT_SLUG ? tenant.name : undefined },
          },
        )
        await createAuditWriter(prisma, createLogger(config.logLevel)).record(undefined, { type: 'invitation_created', outcome: 'success', actor: 'cli', tenantId: tenant?.id, details: { email: email.toLowerCase(), sent: Boolean(values.send), expiresAt: created.expiresAt.toISOString(), ...(inviter ? { inviter: inviter.id } : {}) } })
        return created
      } catch (err) {
        if (err instanceof InvitationError) throw new UsageError(err.message)
        throw err
      }
    })
    console.log(`invitation for ${email} (expires ${invitation.expiresAt.toISOString()}${values.send ? ', emailed' : ''}):`)
    console.log(invitation.url)
    return 0
  },
})

const unlock = defineCommand({
  name: 'user unlock',
  summary: 'end a brute-force lockout now (audited as account_unlocked)',
  positionals: { usage: '<email or username>', min: 1, max: 1 },
  options: {},
  async run({ positionals, config }) {
    const login = positionals[0]!
    const [{ findUserByLogin }, { createLogger }, { normalizeLogin }, { unlockAccount }, { createClock }, { createAuditWriter }] = await Promise.all([
      import('../queries/users.ts'), import('../observability/logger.ts'), import('../identity/users.ts'), import('../security/lockout.ts'), import('../security/clock.ts'), import('../audit/audit.ts'),
    ])
    const result = await withDatabase(config, async (prisma) => {
      const user = await findUserByLogin(prisma, normalizeLogin(login))
      if (!user) return undefined
      const audit = createAuditWriter(prisma, createLogger(config.logLevel))
      return { email: user.email, ...(await unlockAccount(prisma, audit, user.id, 'cli', { clock: createClock(config.clockOffsetFile) })) }
    })
    if (!result) throw new UsageError(`no user ${login}`)
    console.log(result.wasLocked ? `user ${result.email} unlocked` : `user ${result.email} was not locked; failed sign-ins cleared`)
    return 0
  },
})

export const userCommands: CommandGroup = { name: 'user', commands: [create, invite, unlock] }

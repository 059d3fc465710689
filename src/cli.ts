// The commands other than `serve` (src/main.ts): migrate | seed | user … | client create |
// resource create | keys …. Thin: parses arguments, calls one domain function, prints the result.
import path from 'node:path'
import { parseArgs } from 'node:util'
import type { Config } from './config.ts'
import { migrateDatabase } from './store/database.ts'
import { openDatabase } from './queries/db.ts'
import type { Db } from './queries/db.ts'
import { findRoleByName } from './queries/roles.ts'
import { findUserByLogin } from './queries/users.ts'
import { createLogger } from './observability/logger.ts'
import { createUser, normalizeLogin } from './identity/users.ts'
import { unlockAccount } from './security/lockout.ts'
import { createClock } from './security/clock.ts'
import { createAuditWriter } from './audit/audit.ts'
import { assignRole } from './identity/roles.ts'
import { checkNewPassword } from './identity/password-policy.ts'
import { createInvitation, InvitationError } from './identity/registration.ts'
import { findTenantBySlug } from './identity/tenants.ts'
import { createSecretBox, loadEncryptionKeys } from './security/encryption.ts'
import { createMailer } from './mail/mailer.ts'
import { createClient, clientKinds, metadataFor, newClientSchema, outboundPolicyWarnings, type ClientKind, type NewClient } from './clients/registry.ts'
import { registerResourceServer } from './oidc/resource-servers.ts'
import { seed } from './seed.ts'
import { appendPrivateFile } from './security/key-files.ts'
import { randomSecret } from './security/secrets.ts'
import { jwksFile, KeyError } from './oidc/keys.ts'
import { listKeys, promoteKey, readJwksFile, retireKey, stageKeys, writeJwksFile } from './oidc/key-rotation.ts'

export const USAGE = `usage: iam <command>

  serve                      start the server (settings: docs/configuration.md)
  migrate                    apply database migrations
  seed [--admin-email E] [--credentials-file F]
                             first admin user and example clients; their one-time password and
                             secrets are printed on a terminal, else written to F (mode 0600;
                             default DATA_DIR/initial-credentials.txt) and only its path printed
  user create --email E [--username U] [--name N] [--password P] [--role R]...
                             create a user (a password is generated and printed when not given);
                             the administrator vouches for the address: it counts as verified
  user invite <email> [--tenant SLUG] [--send]
                             print a single-use link (INVITATION_TTL) to create an account;
                             --send also emails it (needs SMTP_HOST)
  user unlock <email or username>
                             end a brute-force lockout now (audited as account_unlocked)
  client create --kind web|spa|native|service --name N [--id ID] [--redirect-uri U]...
                [--post-logout-redirect-uri U]... [--backchannel-logout-uri U] [--scope S]
                [--first-party] [--secret S]
                             register a client (a confidential client's secret is printed once)
  resource create --identifier URI --name N [--scope S]... [--format jwt|opaque]
                             register an API (resource indicator) that gets access tokens
  keys list|stage|promote|retire [--file F]
                             signing-key rotation on JWKS_FILE, else KEYS_DIR/jwks.json (docs/operations.md,
                             "Rotating signing keys"); restart (roll out) after each step:
    keys list                every key: kid, alg, state (signing | staged | previous), since
    keys stage               add a new ES256 + RS256 pair, published but not signing yet
    keys promote <kid>... | --staged
                             these keys sign from now on; the ones they replace stay published
    keys retire <kid>... [--force]
                             remove keys from the JWKS (never a signing key; --force while tokens
                             they signed may still be valid)
`

async function withDatabase<T>(config: Config, run: (prisma: Db) => Promise<T>): Promise<T> {
  await migrateDatabase(config)
  const db = await openDatabase(config)
  try {
    return await run(db.prisma)
  } finally {
    await db.close()
  }
}

function list(v: string | string[] | boolean | undefined): string[] {
  return v === undefined || typeof v === 'boolean' ? [] : Array.isArray(v) ? v : [v]
}

/** Runs one command; resolves to the process exit code (2: bad usage). Failures are printed here. */
export async function runCommand(argv: string[], config: Config): Promise<number> {
  try {
    return await run(argv, config)
  } catch (err) {
    if (err instanceof UsageError || err instanceof KeyError) console.error(`iam: ${err.message}`)
    else if (err && typeof err === 'object' && 'issues' in err) console.error(`iam: invalid input: ${(err as unknown as { message: string }).message}`)
    else throw err
    return err instanceof UsageError ? 2 : 1
  }
}

async function run(argv: string[], config: Config): Promise<number> {
  const [command, sub, ...rest] = argv

  switch (command) {
    case 'migrate':
      await migrateDatabase(config)
      console.log('migrations applied')
      return 0
    case 'seed': {
      const { values } = parseArgs({ args: [sub, ...rest].filter((a): a is string => a !== undefined), options: { 'admin-email': { type: 'string' }, 'credentials-file': { type: 'string' } } })
      const report = await withDatabase(config, (prisma) => seed(prisma, { issuer: config.issuer, adminEmail: values['admin-email'] }))
      // Secrets go to a terminal only: output that is not one (a service manager, `… > log`, CI)
      // is kept and read by others, so they go to an owner-only file instead, and the output says where.
      const secrets = report.filter((line) => line.secret).map((line) => line.text)
      if (process.stdout.isTTY || !secrets.length) {
        console.log(report.map((line) => line.text).join('\n'))
        return 0
      }
      const file = path.resolve(values['credentials-file'] ?? path.join(config.dataDir, 'initial-credentials.txt'))
      appendPrivateFile(file, `# ${new Date().toISOString()} iam seed\n${secrets.join('\n')}\n`)
      console.log([
        ...report.filter((line) => !line.secret).map((line) => line.text),
        `the admin's one-time password and the client secrets are in ${file} (mode 0600; not printed: this output is not a terminal); delete the file once you have used them`,
      ].join('\n'))
      return 0
    }
    case 'user': {
      if (sub === 'unlock') {
        const [login] = rest
        if (!login) throw new UsageError('usage: user unlock <email or username>')
        const result = await withDatabase(config, async (prisma) => {
          const name = normalizeLogin(login)
          const user = await findUserByLogin(prisma, name)
          if (!user) return undefined
          const audit = createAuditWriter(prisma, createLogger(config.logLevel))
          return { email: user.email, ...(await unlockAccount(prisma, audit, user.id, 'cli', { clock: createClock(config.clockOffsetFile) })) }
        })
        if (!result) throw new UsageError(`no user ${login}`)
        console.log(result.wasLocked ? `user ${result.email} unlocked` : `user ${result.email} was not locked; failed sign-ins cleared`)
        return 0
      }
      if (sub === 'invite') {
        const inviteOptions = { tenant: { type: 'string' }, send: { type: 'boolean' } } as const
        const { values, positionals } = parseArgs({ args: dashSafe(rest, inviteOptions), allowPositionals: true, options: inviteOptions })
        const [email] = positionals
        if (!email || positionals.length > 1) throw new UsageError('usage: user invite <email> [--tenant SLUG] [--send]')
        if (values.send && !config.smtp) throw new UsageError('--send needs SMTP_HOST')
        const box = createSecretBox(await loadEncryptionKeys(config))
        const invitation = await withDatabase(config, async (prisma) => {
          const tenant = values.tenant ? await findTenantBySlug(prisma, values.tenant) : undefined
          if (values.tenant && !tenant) throw new UsageError(`no tenant ${values.tenant}`)
          try {
            const created = await createInvitation(
              { prisma, box, clock: createClock(config.clockOffsetFile), mail: { siteName: config.siteName, issuer: config.issuer }, settings: config.registration },
              { email, tenantId: tenant?.id, send: values.send && config.smtp ? createMailer(config.smtp) : undefined },
            )
            await createAuditWriter(prisma, createLogger(config.logLevel)).record(undefined, { type: 'invitation_created', outcome: 'success', actor: 'cli', tenantId: tenant?.id, details: { email: email.toLowerCase(), sent: Boolean(values.send), expiresAt: created.expiresAt.toISOString() } })
            return created
          } catch (err) {
            if (err instanceof InvitationError) throw new UsageError(err.message)
            throw err
          }
        })
        console.log(`invitation for ${email} (expires ${invitation.expiresAt.toISOString()}${values.send ? ', emailed' : ''}):`)
        console.log(invitation.url)
        return 0
      }
      if (sub !== 'create') break
      const { values } = parseArgs({ args: rest, options: {
        email: { type: 'string' }, username: { type: 'string' }, name: { type: 'string' },
        password: { type: 'string' }, role: { type: 'string', multiple: true },
      } })
      if (!values.email) throw new UsageError('--email is required')
      if (values.password) {
        const policy = checkNewPassword(values.password, { minLength: config.passwordMinLength, userInputs: [values.email, values.username, values.name] })
        if (!policy.ok) throw new UsageError(`--password: ${policy.message}`)
      }
      const password = values.password ?? randomSecret(12)
      const user = await withDatabase(config, async (prisma) => {
        // The administrator vouches for the address, so the account is not held for verification.
        const u = await createUser(prisma, { email: values.email!, username: values.username, displayName: values.name, password, emailVerified: true })
        for (const name of values.role ?? []) {
          const role = await findRoleByName(prisma, name)
          if (!role) throw new UsageError(`no role named ${name}`)
          await assignRole(prisma, u.id, role.id)
        }
        return u
      })
      console.log(`user ${user.email} created (id ${user.id})`)
      if (!values.password) console.log(`password (shown once): ${password}`)
      return 0
    }
    case 'client': {
      if (sub !== 'create') break
      const { values } = parseArgs({ args: rest, options: {
        kind: { type: 'string' }, name: { type: 'string' }, id: { type: 'string' },
        'redirect-uri': { type: 'string', multiple: true }, 'post-logout-redirect-uri': { type: 'string', multiple: true },
        'backchannel-logout-uri': { type: 'string' }, scope: { type: 'string' }, 'first-party': { type: 'boolean' }, secret: { type: 'string' },
      } })
      if (!clientKinds.includes(values.kind as ClientKind)) throw new UsageError(`--kind must be one of ${clientKinds.join(', ')}`)
      // Whoever runs this holds the database: a global administrator, who may mark clients first-party.
      const registration: NewClient = {
        kind: values.kind as ClientKind,
        name: values.name ?? '',
        clientId: values.id,
        redirectUris: list(values['redirect-uri']),
        postLogoutRedirectUris: list(values['post-logout-redirect-uri']),
        backchannelLogoutUri: values['backchannel-logout-uri'],
        scope: values.scope,
        firstParty: values['first-party'] ?? false,
        secret: values.secret,
      }
      const created = await withDatabase(config, (prisma) => createClient(prisma, registration))
      console.log(`client_id: ${created.clientId}`)
      if (created.clientSecret) console.log(`client_secret (shown once, stored hashed): ${created.clientSecret}`)
      for (const w of await outboundPolicyWarnings(metadataFor(newClientSchema.parse(registration)), config.outboundAllowedHosts)) console.error(`warning: ${w.message}`)
      return 0
    }
    case 'keys': {
      const keyOptions = { file: { type: 'string' }, force: { type: 'boolean' }, staged: { type: 'boolean' } } as const
      const { values, positionals } = parseArgs({ args: dashSafe(rest, keyOptions), allowPositionals: true, options: keyOptions })
      if (!sub || !['list', 'stage', 'promote', 'retire'].includes(sub)) break
      if (config.jwks && !values.file) {
        throw new UsageError('the keys come from the JWKS variable: write it to a file, run `keys … --file F` on that file, and put the file back into the secret')
      }
      const file = values.file ?? config.jwksFile ?? jwksFile(config)
      const now = new Date()
      const jwks = readJwksFile(file)
      const show = (keys: ReturnType<typeof listKeys>) => keys.forEach((k) => console.log(`${k.kid}  ${k.alg.padEnd(6)} ${k.state.padEnd(8)} ${k.since ?? ''}`.trimEnd()))
      if (sub === 'list') {
        show(listKeys(jwks))
        return 0
      }
      if (sub === 'stage') {
        const staged = await stageKeys(jwks, now)
        writeJwksFile(file, staged.jwks)
        console.log(`staged in ${file} (published after a restart, not signing):`)
        show(staged.staged)
        console.log('next: roll out, wait until relying parties have refreshed their JWKS, then `keys promote --staged`')
        return 0
      }
      if (sub === 'promote') {
        const kids = values.staged ? listKeys(jwks).filter((k) => k.state === 'staged').map((k) => k.kid) : positionals
        if (!kids.length) throw new UsageError(values.staged ? 'no staged keys' : 'usage: keys promote <kid>... | --staged')
        let next = jwks
        for (const kid of kids) {
          const promoted = promoteKey(next, kid, now)
          next = promoted.jwks
          console.log(`${kid} signs after a restart${promoted.demoted.length ? `; ${promoted.demoted.join(', ')} stays published as previous` : ''}`)
        }
        writeJwksFile(file, next)
        return 0
      }
      if (!positionals.length) throw new UsageError('usage: keys retire <kid>... [--force]')
      const maxTokenLifetime = Math.max(config.ttl.idToken, config.ttl.accessToken, config.ttl.clientCredentials)
      let next = jwks
      try {
        for (const kid of positionals) {
          const retired = retireKey(next, kid, now, { maxTokenLifetime, force: values.force })
          if (retired.warning) console.error(`warning: ${retired.warning}`)
          next = retired.jwks
          console.log(`${kid} retired: gone from the JWKS after a restart`)
        }
      } catch (err) {
        if (err instanceof KeyError) throw new UsageError(err.message)
        throw err
      }
      writeJwksFile(file, next)
      return 0
    }
    case 'resource': {
      if (sub !== 'create') break
      const { values } = parseArgs({ args: rest, options: {
        identifier: { type: 'string' }, name: { type: 'string' }, scope: { type: 'string', multiple: true }, format: { type: 'string' },
      } })
      if (!values.identifier || !URL.canParse(values.identifier)) throw new UsageError('--identifier must be an absolute URI')
      if (values.format && !['jwt', 'opaque'].includes(values.format)) throw new UsageError('--format must be jwt or opaque')
      await withDatabase(config, (prisma) => registerResourceServer(prisma, {
        identifier: values.identifier!, name: values.name ?? values.identifier!, scopes: list(values.scope), format: values.format as 'jwt' | 'opaque' | undefined,
      }))
      console.log(`resource ${values.identifier} registered`)
      return 0
    }
  }
  console.error(USAGE)
  return command ? 2 : 0
}

class UsageError extends Error {}

/**
 * Positionals may start with '-' (one key id in 64 does: they are base64url thumbprints; so may an
 * email address), and parseArgs would read them as options. Every argument that is not one of
 * `options` (or the value of a string option) is passed after '--', where it is a positional.
 */
function dashSafe(args: string[], options: Record<string, { type: 'string' | 'boolean' }>): string[] {
  const known: string[] = []
  const positionals: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') { positionals.push(...args.slice(i + 1)); break }
    const name = arg.startsWith('--') ? arg.slice(2).split('=')[0]! : undefined
    if (name === undefined || !(name in options)) { positionals.push(arg); continue }
    known.push(arg)
    if (options[name]!.type === 'string' && !arg.includes('=') && i + 1 < args.length) known.push(args[++i]!)
  }
  return [...known, '--', ...positionals]
}

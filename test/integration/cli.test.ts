// The command line as an operator meets it: the real CLI (`node src/main.ts …`) against a test
// server's database. Every command answers --help with its usage (exit 0) and a bad invocation
// (unknown option, missing value, malformed value, missing required option or argument) with one
// line, the usage and exit code 2, never a stack trace. `client create` registers each kind of
// client of the one client model; the stored registration is what was asked, and the clients then
// run their flows with openid-client against the started server (test/support/client-flows.ts).
// Rotation, disabling, deleting and the built-in clients' protection are checked the same way.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { sleep, trackTempDir } from '../support/processes.ts'
import * as oidc from 'openid-client'
import { clientKey, configure, runClientFlow, serveJwks, type ClientKey, type FlowClient, type FlowOutcome } from '../support/client-flows.ts'
import { createFixtures } from '../support/fixtures.ts'
import { COMMANDS } from '../../src/cli.ts'
import { settingsOf } from '../../src/clients/registry.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'

const root = path.resolve(import.meta.dirname, '../..')
const REDIRECT = 'http://localhost:8080/callback'
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code'

interface Run { code: number; stdout: string; stderr: string }

function runCli(env: Record<string, string>, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['src/main.ts', ...args], { cwd: root, env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d })
    child.stderr.on('data', (d: Buffer) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    child.stdin.end(input ?? '')
  })
}

/** A few at a time: each run is a Node process that loads the CLI. */
async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += size) out.push(...await Promise.all(items.slice(i, i + size).map(fn)))
  return out
}

const STACK_LINE = /^\s+at /m
const everyCommand = COMMANDS.flatMap((g) => g.commands)

function expectUsageError(run: Run, command: string, message: RegExp | string) {
  expect(run.code, `${command}: ${run.stderr}`).toBe(2)
  expect(run.stderr).toMatch(new RegExp(`^iam ${command}: `))
  expect(run.stderr.split('\n')[0]).toMatch(message)
  expect(run.stderr).toContain(`usage: iam ${command}`)
  expect(run.stderr).not.toMatch(STACK_LINE)
  expect(run.stdout).toBe('')
}

// Each run is a Node process; the machine running the suite may be busy.
describe('command-line manners', { timeout: 240_000 }, () => {
  let iam: IamInstance
  const cli = (...args: string[]) => runCli(iam.env, args)

  beforeAll(async () => {
    iam = await createIam('embedded')
  })
  afterAll(async () => {
    await iam?.close()
  })

  it('iam --help, -h and help print the overview with every command; no command is bad usage', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const run = await cli(...args)
      expect(run.code).toBe(0)
      for (const command of everyCommand) expect(run.stdout).toContain(`  ${command.name}`)
      expect(run.stdout).toContain('serve')
    }
    const none = await cli()
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('usage: iam <command>')
    const unknown = await cli('frobnicate')
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^iam: unknown command 'frobnicate'/)
  })

  it('every command answers --help and -h with its usage and every option, on stdout, exit 0', async () => {
    expect(everyCommand.map((c) => c.name)).toEqual(expect.arrayContaining([
      'migrate', 'seed', 'user create', 'user invite', 'user unlock', 'client create', 'client list', 'client show',
      'client rotate-secret', 'client disable', 'client enable', 'client delete', 'resource create', 'keys list', 'keys stage', 'keys promote', 'keys retire',
    ]))
    const runs = await inBatches(everyCommand.flatMap((c) => [[c, '--help'], [c, '-h']] as const), 4, async ([command, flag]) => ({ command, flag, run: await cli(...command.name.split(' '), flag) }))
    for (const { command, flag, run } of runs) {
      expect(run.code, `${command.name} ${flag}: ${run.stderr}`).toBe(0)
      expect(run.stdout.startsWith(`usage: iam ${command.name}`), run.stdout).toBe(true)
      for (const option of Object.keys(command.options)) expect(run.stdout, `${command.name} --${option}`).toContain(`--${option}`)
      expect(run.stderr).toBe('')
    }
    // A group's help lists its commands; `iam help <command>` is `<command> --help`.
    const group = await cli('client', '--help')
    expect(group.code).toBe(0)
    for (const sub of ['create', 'list', 'show', 'rotate-secret', 'disable', 'enable', 'delete']) expect(group.stdout).toContain(`client ${sub}`)
    const helpFor = await cli('help', 'client', 'create')
    expect(helpFor.stdout).toContain('--token-endpoint-auth-method')
  })

  it('an unknown option is answered with one line, the usage and exit 2, for every command', async () => {
    const runs = await inBatches(everyCommand, 4, async (command) => ({ command, run: await cli(...command.name.split(' '), '--bogus') }))
    for (const { command, run } of runs) expectUsageError(run, command.name, /unknown option --bogus/)
    // The case of the issue: no TypeError.
    expectUsageError(await cli('client', 'create', '--bogus', '--kind', 'web'), 'client create', /unknown option --bogus/)
    expectUsageError(await cli('client', 'create', '-x'), 'client create', /unknown option -x/)
  })

  it('a missing value, a value given to a flag, a missing required option or argument: exit 2 with the usage', async () => {
    const cases: Array<[string[], string, RegExp]> = [
      [['client', 'create', '--kind'], 'client create', /--kind needs a value/],
      [['client', 'create', '--kind', 'web', '--name'], 'client create', /--name needs a value/],
      [['client', 'create', '--name', '--kind', 'web'], 'client create', /--name needs a value/],
      [['client', 'create', '--kind', 'web'], 'client create', /--name is required/],
      [['client', 'create', '--kind', 'web', '--name', 'X', '--first-party=yes'], 'client create', /--first-party takes no value/],
      [['client', 'create', '--kind', 'web', '--name', 'X', 'extra'], 'client create', /unexpected argument 'extra'/],
      [['client', 'show'], 'client show', /missing <client-id>/],
      [['client', 'show', 'a', 'b'], 'client show', /unexpected argument 'b'/],
      [['client', 'rotate-secret', 'x', '--keep-previous-for'], 'client rotate-secret', /--keep-previous-for needs a value/],
      [['user', 'create'], 'user create', /--email is required/],
      [['user', 'create', '--email', 'a@example.test', '--role'], 'user create', /--role needs a value/],
      [['user', 'invite'], 'user invite', /missing <email>/],
      [['user', 'unlock'], 'user unlock', /missing <email or username>/],
      [['resource', 'create', '--identifier'], 'resource create', /--identifier needs a value/],
      [['resource', 'create', '--name', 'x'], 'resource create', /--identifier is required/],
      [['keys', 'retire'], 'keys retire', /missing <kid>/],
      [['keys', 'list', '--file'], 'keys list', /--file needs a value/],
      [['migrate', 'now'], 'migrate', /unexpected argument 'now'/],
      [['seed', '--admin-email'], 'seed', /--admin-email needs a value/],
    ]
    const runs = await inBatches(cases, 4, async ([args, command, message]) => ({ command, message, run: await cli(...args) }))
    for (const { command, message, run } of runs) expectUsageError(run, command, message)
    const sub = await cli('client', 'frobnicate')
    expect(sub.code).toBe(2)
    expect(sub.stderr).toMatch(/^iam: unknown command 'client frobnicate'/)
    expect(sub.stderr).toContain('usage: iam client <create|')
  })

  it('malformed values are refused per flag in plain words, before anything is stored', async () => {
    const cases: Array<[string[], string, RegExp]> = [
      [['client', 'create', '--kind', 'mainframe', '--name', 'X'], 'client create', /--kind: must be one of web, spa, native, service/],
      [['client', 'create', '--kind', 'web', '--name', 'X'], 'client create', /--redirect-uri: required when the client uses authorization_code/],
      [['client', 'create', '--kind', 'web', '--name', 'X', '--redirect-uri', 'not a url'], 'client create', /--redirect-uri 'not a url': must be an absolute URL/],
      [['client', 'create', '--kind', 'web', '--name', 'X', '--redirect-uri', REDIRECT, '--access-token-ttl', 'soon'], 'client create', /--access-token-ttl must be a duration/],
      [['client', 'create', '--kind', 'web', '--name', 'X', '--redirect-uri', REDIRECT, '--access-token-ttl', '2d'], 'client create', /--access-token-ttl: at most 86400 seconds/],
      [['client', 'create', '--kind', 'web', '--name', 'X', '--token-endpoint-auth-method', 'private_key_jwt', '--redirect-uri', REDIRECT], 'client create', /--jwks-file: private_key_jwt needs the client’s public keys: --jwks-file or --jwks-uri/],
      [['client', 'create', '--kind', 'spa', '--name', 'X', '--redirect-uri', REDIRECT, '--no-pkce'], 'client create', /--no-pkce: public clients always use PKCE/],
      [['client', 'create', '--kind', 'spa', '--name', 'X', '--grant-type', 'client_credentials'], 'client create', /settings are not valid|--grant-type 'client_credentials': a spa client cannot use client_credentials/],
      [['client', 'create', '--kind', 'web', '--name', 'X', '--redirect-uri', REDIRECT, '--jwks-file', '/nonexistent/jwks.json'], 'client create', /--jwks-file: cannot read \/nonexistent\/jwks.json/],
      [['client', 'create', '--kind', 'web', '--name', 'X', '--redirect-uri', REDIRECT, '--secret-file', 'a', '--secret-stdin'], 'client create', /--secret-file or --secret-stdin, not both/],
      [['client', 'rotate-secret', 'x', '--keep-previous-for', '40d'], 'client rotate-secret', /--keep-previous-for: at most 30d/],
      [['resource', 'create', '--identifier', 'not-a-uri'], 'resource create', /--identifier must be an absolute URI/],
      [['resource', 'create', '--identifier', 'https://api.example.test', '--format', 'xml'], 'resource create', /--format must be one of jwt, opaque/],
    ]
    const runs = await inBatches(cases, 4, async ([args, command, message]) => ({ command, message, run: await cli(...args) }))
    for (const { command, message, run } of runs) expectUsageError(run, command, message)
    // Several bad settings: one line each, under the first.
    const many = await cli('client', 'create', '--kind', 'web', '--name', 'X', '--redirect-uri', REDIRECT, '--logo-uri', 'http://logo.example/x.png', '--contact', 'nobody')
    expectUsageError(many, 'client create', /2 settings are not valid/)
    expect(many.stderr).toContain("  --logo-uri: must be an https URL")
    expect(many.stderr).toContain("  --contact 'nobody': must be an email address")
    // A private key handed over as the client's keys is refused, not stored.
    const dir = mkdtempSync(path.join(tmpdir(), 'iam-cli-'))
    trackTempDir(dir)
    const key = await clientKey('ES256')
    writeFileSync(path.join(dir, 'private.json'), JSON.stringify(key.privateJwk))
    expectUsageError(await cli('client', 'create', '--kind', 'web', '--name', 'X', '--redirect-uri', REDIRECT, '--token-endpoint-auth-method', 'private_key_jwt', '--jwks-file', path.join(dir, 'private.json')), 'client create', /--jwks-file.*is a private key/)
    expect(await iam.withDatabase((prisma) => prisma.client.count({ where: { name: 'X' } }))).toBe(0)
  })
})

function expectOk(outcome: FlowOutcome): asserts outcome is Extract<FlowOutcome, { ok: true }> {
  expect(outcome, JSON.stringify(outcome)).toMatchObject({ ok: true })
}

describe.each(STORAGE_MODES)('client commands register every kind of client, whose flows then run (%s)', { timeout: 240_000 }, (mode) => {
  let iam: IamInstance
  let jwksServer: Awaited<ReturnType<typeof serveJwks>>
  const keys: Record<string, ClientKey> = {}
  const clients: Record<string, FlowClient> = {}
  const created: Record<string, Run> = {}
  let dir: string
  const IMPORTED = 'imported secret with spaces ~ and punctuation! 0123456789'
  const SHORT = 'short-s3cret'

  /**
   * Runs `fn` (CLI runs, database reads) against this server's database: embedded, while the server
   * is stopped (once for the lot: a restart is the slow part); on PostgreSQL beside it, then waits
   * out the running server's one-second client cache (oidc/adapters/client-registry.ts).
   */
  async function offline<T>(fn: () => Promise<T>): Promise<T> {
    if (mode === 'postgres-redis') {
      const result = await fn()
      await sleep(1_100)
      return result
    }
    const running = Boolean(iam.process())
    if (running) await iam.stop()
    try {
      return await fn()
    } finally {
      if (running) await iam.start()
    }
  }
  const cli = (args: string[], input?: string) => runCli(iam.env, args, input)
  const secretOf = (run: Run) => /^client_secret \(shown once, stored hashed\): (\S+)$/m.exec(run.stdout)?.[1]
  const storedIn = (prisma: PrismaClient) => async (id: string) => {
    const row = await prisma.client.findUnique({ where: { id } })
    return row && { ...settingsOf(row), disabled: row.disabled, hasSecret: row.secretHash !== null, registeredBy: row.registeredBy }
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'iam-cli-'))
    trackTempDir(dir)
    keys.jwks = await clientKey('ES256')
    keys.uri = await clientKey('RS256')
    jwksServer = await serveJwks(keys.uri.publicJwks)
    writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(keys.jwks.publicJwks))
    writeFileSync(path.join(dir, 'secret.txt'), `${IMPORTED}\n`)
    iam = await createIam(mode)
    await iam.withDatabase((prisma) => createFixtures(prisma))
    if (mode === 'postgres-redis') await iam.start()
    const create = (name: string, ...args: string[]) => cli(['client', 'create', '--name', name, ...args])
    created.pkjJwks = await create('Key client (jwks)', '--id', 'cli-pkj-jwks', '--kind', 'web', '--token-endpoint-auth-method', 'private_key_jwt', '--jwks-file', path.join(dir, 'jwks.json'), '--redirect-uri', REDIRECT)
    created.pkjUri = await create('Key client (jwks_uri)', '--id', 'cli-pkj-uri', '--kind', 'web', '--token-endpoint-auth-method', 'private_key_jwt', '--jwks-uri', jwksServer.url, '--redirect-uri', REDIRECT)
    created.post = await create('Secret in the body', '--id', 'cli-post', '--kind', 'web', '--token-endpoint-auth-method', 'client_secret_post', '--redirect-uri', REDIRECT)
    created.deviceNative = await create('Device CLI', '--id', 'cli-device-native', '--kind', 'native', '--grant-type', 'device_code', '--grant-type', 'refresh_token')
    created.deviceWeb = await create('Confidential device', '--id', 'cli-device-web', '--kind', 'web', '--grant-type', 'device_code', '--grant-type', 'refresh_token')
    created.webCc = await create('Web app with client credentials', '--id', 'cli-web-cc', '--kind', 'web', '--grant-type', 'authorization_code', '--grant-type', 'refresh_token', '--grant-type', 'client_credentials', '--redirect-uri', REDIRECT, '--access-token-ttl', '15m', '--contact', 'ops@example.test')
    created.legacy = await create('Legacy app without PKCE', '--id', 'cli-legacy', '--kind', 'web', '--no-pkce', '--redirect-uri', REDIRECT)
    created.imported = await create('Brought over', '--id', 'legacy app/1', '--kind', 'web', '--secret-file', path.join(dir, 'secret.txt'), '--redirect-uri', REDIRECT, '--logo-uri', 'https://app.example.test/logo.png', '--policy-uri', 'https://app.example.test/privacy')
    // From standard input: a secret is never on the command line, where `ps` shows it.
    created.importedShort = await cli(['client', 'create', '--name', 'Short secret', '--id', 'cli-short', '--kind', 'service', '--secret-stdin'], `${SHORT}\n`)
    await iam.start()
    Object.assign(clients, {
      pkjJwks: { clientId: 'cli-pkj-jwks', authMethod: 'private_key_jwt', key: keys.jwks.privateJwk, redirectUri: REDIRECT },
      pkjUri: { clientId: 'cli-pkj-uri', authMethod: 'private_key_jwt', key: keys.uri.privateJwk, redirectUri: REDIRECT },
      post: { clientId: 'cli-post', authMethod: 'client_secret_post', secret: secretOf(created.post)!, redirectUri: REDIRECT },
      deviceNative: { clientId: 'cli-device-native', authMethod: 'none' },
      deviceWeb: { clientId: 'cli-device-web', authMethod: 'client_secret_basic', secret: secretOf(created.deviceWeb)! },
      webCc: { clientId: 'cli-web-cc', authMethod: 'client_secret_basic', secret: secretOf(created.webCc)!, redirectUri: REDIRECT },
      legacy: { clientId: 'cli-legacy', authMethod: 'client_secret_basic', secret: secretOf(created.legacy)!, redirectUri: REDIRECT },
      imported: { clientId: 'legacy app/1', authMethod: 'client_secret_basic', secret: IMPORTED, redirectUri: REDIRECT },
    } satisfies Record<string, FlowClient>)
  }, 600_000)

  afterAll(async () => {
    await iam?.close()
    await jwksServer?.close()
  })

  it('client create succeeds for each kind, prints the id and a generated secret once, and stores what was asked', async () => {
    for (const [name, run] of Object.entries(created)) {
      expect(run.code, `${name}: ${run.stderr}`).toBe(0)
      expect(run.stderr).not.toMatch(STACK_LINE)
    }
    expect(created.post!.stdout).toContain('client_id: cli-post')
    // Key clients and public clients have no secret; an imported secret is not echoed.
    for (const name of ['pkjJwks', 'pkjUri', 'deviceNative', 'imported', 'importedShort']) expect(secretOf(created[name]!), name).toBeUndefined()
    expect(created.imported!.stdout).not.toContain(IMPORTED)
    expect(created.imported!.stdout).toContain('client_secret: the imported one (stored hashed)')
    for (const name of ['post', 'deviceWeb', 'webCc', 'legacy']) expect(secretOf(created[name]!)!.length, name).toBeGreaterThanOrEqual(32)

    await iam.databaseNow(async (prisma) => {
      const stored = storedIn(prisma)
      expect(await stored('cli-pkj-jwks')).toMatchObject({ kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', jwks: keys.jwks!.publicJwks, redirectUris: [REDIRECT], hasSecret: false, registeredBy: 'admin' })
      expect(await stored('cli-pkj-uri')).toMatchObject({ tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: jwksServer.url, hasSecret: false })
      expect(await stored('cli-post')).toMatchObject({ tokenEndpointAuthMethod: 'client_secret_post', grantTypes: ['authorization_code', 'refresh_token'], requirePkce: true, hasSecret: true })
      expect(await stored('cli-device-native')).toMatchObject({ kind: 'native', tokenEndpointAuthMethod: 'none', grantTypes: [DEVICE_CODE, 'refresh_token'], redirectUris: [], hasSecret: false })
      expect(await stored('cli-device-web')).toMatchObject({ kind: 'web', tokenEndpointAuthMethod: 'client_secret_basic', grantTypes: [DEVICE_CODE, 'refresh_token'], redirectUris: [], hasSecret: true })
      expect(await stored('cli-web-cc')).toMatchObject({ grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], accessTokenTtl: 900, contacts: ['ops@example.test'] })
      expect(await stored('cli-legacy')).toMatchObject({ requirePkce: false, hasSecret: true })
      expect(await stored('legacy app/1')).toMatchObject({ name: 'Brought over', hasSecret: true, logoUri: 'https://app.example.test/logo.png', policyUri: 'https://app.example.test/privacy' })
      expect(await stored('cli-short')).toMatchObject({ kind: 'service', grantTypes: ['client_credentials'], hasSecret: true })
    })
  })

  it('warns on stderr, without refusing: PKCE off, a short imported secret (which then works)', async () => {
    expect(created.legacy!.stderr).toMatch(/^warning: PKCE is off for this client: .* \(--no-pkce\)$/m)
    expect(created.importedShort!.stderr).toMatch(/^warning: the imported secret has 12 characters: .* \(--secret-stdin\)$/m)
    expect(created.post!.stderr).toBe('')
    expectOk(await runClientFlow(iam.issuer, { clientId: 'cli-short', authMethod: 'client_secret_basic', secret: SHORT }, 'client-credentials'))
  })

  it('client_secret_post: the printed secret signs a person in and refreshes', async () => {
    const outcome = await runClientFlow(iam.issuer, clients.post!, 'code')
    expectOk(outcome)
    expect(outcome.claims?.aud).toBe('cli-post')
    expect(outcome.refreshed).toBe(true)
  })

  it('an imported id (with a space and a slash) and an imported secret work as they did elsewhere', async () => {
    const outcome = await runClientFlow(iam.issuer, clients.imported!, 'code')
    expectOk(outcome)
    expect(outcome.claims?.aud).toBe('legacy app/1')
    const wrong = await runClientFlow(iam.issuer, { ...clients.imported!, secret: `${IMPORTED}x` }, 'code')
    expect(wrong).toMatchObject({ ok: false, error: 'invalid_client' })
  })

  it('a web app that also uses client credentials: both flows', async () => {
    expectOk(await runClientFlow(iam.issuer, clients.webCc!, 'code'))
    const machine = await runClientFlow(iam.issuer, clients.webCc!, 'client-credentials')
    expectOk(machine)
    expect(machine.tokens.expires_in).toBeLessThanOrEqual(900)
  })

  it('private_key_jwt with --jwks-file and with --jwks-uri; a device-only native client; a confidential device client; a legacy client without PKCE', async () => {
    expectOk(await runClientFlow(iam.issuer, clients.pkjJwks!, 'code'))
    expectOk(await runClientFlow(iam.issuer, clients.pkjUri!, 'code'))
    expectOk(await runClientFlow(iam.issuer, clients.deviceNative!, 'device'))
    expectOk(await runClientFlow(iam.issuer, clients.deviceWeb!, 'device'))
    expectOk(await runClientFlow(iam.issuer, clients.legacy!, 'code-without-pkce'))
    // The others still need PKCE.
    expect(await runClientFlow(iam.issuer, clients.post!, 'code-without-pkce')).toMatchObject({ ok: false })
  })

  // list/show, update and rotate-secret touch only the database through the registry, the same in
  // both modes: embedded, each CLI run stops and starts the server, so they run on PostgreSQL only.
  // Embedded mode keeps create (every kind, with its flow), disable and delete, which reach the
  // store where the provider keeps tokens.
  it.skipIf(mode === 'embedded')('client list and client show say what is registered', async () => {
    const [list, show, missing] = await offline(async () => [await cli(['client', 'list']), await cli(['client', 'show', 'legacy app/1']), await cli(['client', 'show', 'nope'])])
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+KIND\s+GRANT TYPES\s+DISABLED$/)
    expect(list.stdout).toMatch(/^cli-device-native\s+Device CLI\s+native\s+device_code,refresh_token$/m)
    expect(list.stdout).toMatch(/^cli-web-cc\s+Web app with client credentials\s+web\s+authorization_code,refresh_token,client_credentials$/m)
    expect(show.code, show.stderr).toBe(0)
    expect(JSON.parse(show.stdout)).toMatchObject({ id: 'legacy app/1', kind: 'web', hasSecret: true, disabled: false, builtIn: false, secretRotation: null })
    expect(missing).toMatchObject({ code: 1, stderr: 'iam client show: no client nope\n' })
  })

  it.skipIf(mode === 'embedded')('client update changes settings with the same schema (JSON in the admin API\'s names), audited; bad settings and built-in clients refused', async () => {
    const turnedOn = await offline(() => cli(['client', 'update', 'cli-legacy', '--settings', '-'], JSON.stringify({ requirePkce: true, logoUri: 'https://legacy.example/logo.png' })))
    expect(turnedOn.code, turnedOn.stderr).toBe(0)
    expect(turnedOn.stdout).toContain('client cli-legacy changed (requirePkce, logoUri)')
    await expect.poll(async () => (await runClientFlow(iam.issuer, clients.legacy!, 'code-without-pkce')).ok, { timeout: 5_000, interval: 250 }).toBe(false)
    expectOk(await runClientFlow(iam.issuer, clients.legacy!, 'code'))
    const [bad, noRedirect, builtIn, back] = await offline(async () => [
      await cli(['client', 'update', 'cli-legacy', '--settings', '-'], '{"requirePkce": "no"}'),
      await cli(['client', 'update', 'cli-legacy', '--settings', '-'], '{"redirectUris": []}'),
      await cli(['client', 'update', 'admin-console', '--settings', '-'], '{"name": "Mine"}'),
      await cli(['client', 'update', 'cli-legacy', '--settings', '-'], '{"requirePkce": false, "logoUri": null}'),
    ])
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('requirePkce:') })
    expect(noRedirect).toMatchObject({ code: 2, stderr: expect.stringContaining('redirectUris: required when the client uses authorization_code') })
    expect(builtIn).toMatchObject({ code: 1, stderr: expect.stringContaining('cannot be changed') })
    expect(back.code, back.stderr).toBe(0)
    expect(back.stderr).toMatch(/^warning: PKCE is off/m)
    expect(JSON.parse((await offline(() => cli(['client', 'show', 'cli-legacy']))).stdout)).toMatchObject({ requirePkce: false })
  })

  it.skipIf(mode === 'embedded')('rotate-secret --keep-previous-for: the new secret is printed once and both work meanwhile; without it the old one stops', async () => {
    const old = clients.post!.secret!
    const rotated = await offline(() => cli(['client', 'rotate-secret', 'cli-post', '--keep-previous-for', '1h']))
    expect(rotated.code, rotated.stderr).toBe(0)
    const fresh = secretOf(rotated)!
    expect(fresh).not.toBe(old)
    expect(rotated.stdout).toMatch(/the previous secret keeps working until \d{4}-/)
    expectOk(await runClientFlow(iam.issuer, { ...clients.post!, secret: fresh }, 'code'))
    expectOk(await runClientFlow(iam.issuer, clients.post!, 'code'))
    // A client without a secret has none to rotate.
    const [again, keyClient] = await offline(async () => [await cli(['client', 'rotate-secret', 'cli-post']), await cli(['client', 'rotate-secret', 'cli-pkj-jwks'])])
    expect(keyClient).toMatchObject({ code: 1, stderr: expect.stringContaining('authenticates without a secret') })
    expect(again.stdout).toContain('the previous secret no longer works')
    const newest = secretOf(again)!
    expect(await runClientFlow(iam.issuer, { ...clients.post!, secret: fresh }, 'code')).toMatchObject({ ok: false, error: 'invalid_client' })
    expectOk(await runClientFlow(iam.issuer, { ...clients.post!, secret: newest }, 'code'))
  })

  it('disable ends the client’s tokens and refuses it; enable accepts it again without reviving old tokens; audited as the CLI', async () => {
    const before = await runClientFlow(iam.issuer, clients.webCc!, 'code')
    expectOk(before)
    const disabled = await offline(() => cli(['client', 'disable', 'cli-web-cc']))
    expect(disabled.code, disabled.stderr).toBe(0)
    expect(disabled.stdout).toContain('disabled')
    expect(await runClientFlow(iam.issuer, clients.webCc!, 'client-credentials')).toMatchObject({ ok: false, error: 'invalid_client' })
    const enabled = await offline(() => cli(['client', 'enable', 'cli-web-cc']))
    expect(enabled.code, enabled.stderr).toBe(0)
    expectOk(await runClientFlow(iam.issuer, clients.webCc!, 'client-credentials'))
    // The refresh token from before the disable was revoked with its grant.
    await expect(oidc.refreshTokenGrant(await configure(iam.issuer, clients.webCc!), before.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' })
    const events = await iam.databaseNow((prisma) => prisma.auditEvent.findMany({ where: { clientId: 'cli-web-cc', actor: 'cli' }, orderBy: { at: 'asc' } }))
    expect(events.map((e) => e.type)).toEqual(['admin_client_create', 'admin_client_update', 'admin_client_update'])
  })

  it('delete removes the client and its tokens; the built-in clients cannot be deleted or disabled', async () => {
    const deleted = await offline(() => cli(['client', 'delete', 'cli-legacy']))
    expect(deleted.code, deleted.stderr).toBe(0)
    expect(await runClientFlow(iam.issuer, clients.legacy!, 'code-without-pkce')).toMatchObject({ ok: false })
    // Refused before the database is opened.
    for (const id of ['admin-console', 'iam-account']) {
      for (const command of ['delete', 'disable']) {
        const refused = await cli(['client', command, id])
        expect(refused.code).toBe(1)
        expect(refused.stderr).toMatch(/one of this server's own applications/)
        expect(refused.stderr).not.toMatch(STACK_LINE)
      }
    }
    await iam.databaseNow(async (prisma) => {
      const stored = storedIn(prisma)
      expect(await stored('cli-legacy')).toBeNull()
      for (const id of ['admin-console', 'iam-account']) expect(await stored(id)).toMatchObject({ disabled: false })
    })
  })
})

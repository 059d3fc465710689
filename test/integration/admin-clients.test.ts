// The admin API's door to the one client model (src/clients/settings.ts): one client per setting
// registered through POST /clients and run through its own flow with openid-client
// (test/support/client-flows.ts); refusals as problem+json naming the setting; rotation with the
// old secret kept for a while; the server's own clients refused every change; a tenant
// administrator kept to its tenant; disabling and deleting ending tokens at once, also on another
// instance. Both storage modes.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, createTestDatabase, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { startRedis, type RedisServer } from '../support/redis-server.ts'
import { startBalancer, type Balancer } from '../support/balancer.ts'
import { ALICE, OPAQUE_API, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import { addTotpFactor } from '../support/mfa-fixtures.ts'
import { adminApi, personToken } from '../support/admin.ts'
import { HttpBrowser, formWithAction } from '../support/browser.ts'
import { clientKey, configure, runClientFlow, serveJwks, type ClientKey, type FlowClient, type FlowOutcome } from '../support/client-flows.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { createClient } from '../../src/clients/registry.ts'
import { ADMIN_PERMISSIONS } from '../../src/admin/permissions.ts'
import { generateJwks } from '../../src/oidc/keys.ts'

const ROOT = { login: 'root@example.test', password: 'root has a long passphrase' }
/** A global administrator without a second factor: what a stolen password alone can do. */
const PASSWORD_ROOT = { login: 'password-root@example.test', password: 'password root has a long passphrase' }
const A_ADMIN = { login: 'admin@acme.test', password: 'acme admin long passphrase' }
const REDIRECT = 'http://localhost:8080/callback'
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code'
const IMPORTED = 'an-existing-secret-from-the-old-server-0123456789'

// Flows through the real pages, device polling included: slower than most tests.
vi.setConfig({ testTimeout: 120_000 })

type Call = ReturnType<typeof adminApi>
type Response = Awaited<ReturnType<Call>>

function expectOk(outcome: FlowOutcome): asserts outcome is Extract<FlowOutcome, { ok: true }> {
  expect(outcome, JSON.stringify(outcome)).toMatchObject({ ok: true })
}

function expectProblem(res: Response, status: number) {
  expect(res.status, res.text).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  expect(res.json).toMatchObject({ type: expect.stringMatching(/^https:\/\//), title: expect.any(String), status, detail: expect.any(String) })
  return res.json as { detail: string; errors?: Array<{ path: string; message: string }> }
}

/** The OAuth error a refused request ended with (in the body, or a Basic challenge for a client that is gone); 'accepted' if it was not refused. */
async function refusal(request: Promise<unknown>): Promise<string> {
  try {
    await request
  } catch (err) {
    const e = err as { error?: string; cause?: Array<{ parameters?: { error?: string } }> }
    return e.error ?? e.cause?.[0]?.parameters?.error ?? String(err)
  }
  return 'accepted'
}

/** What the 'web' fixture client (a confidential resource server) learns by introspecting `token`. */
async function introspect(issuer: string, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`web:${encodeURIComponent(WEB_SECRET)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  })
  expect(res.status).toBe(200)
  return await res.json() as Record<string, unknown>
}

describe.each(STORAGE_MODES)('admin API: clients of the one client model (%s)', (mode) => {
  let iam: IamInstance
  let call: Call
  let jwksServer: Awaited<ReturnType<typeof serveJwks>>
  const keys: Record<string, ClientKey> = {}
  const ids = {} as Record<'tenantA' | 'tenantB', string>
  const totp = {} as Record<'root' | 'aAdmin', string>
  let rootPassword: string
  // One second-factor sign-in each (a TOTP code is accepted once); the file runs well within the step-up window.
  let rootOnce: Promise<string> | undefined
  let aOnce: Promise<string> | undefined
  const root = () => (rootOnce ??= personToken(iam.issuer, { ...ROOT, totpSecret: totp.root }, ADMIN_PERMISSIONS))
  const aAdmin = () => (aOnce ??= personToken(iam.issuer, { ...A_ADMIN, totpSecret: totp.aAdmin }, ADMIN_PERMISSIONS))

  beforeAll(async () => {
    for (const name of ['jwks', 'uri', 'jar']) keys[name] = await clientKey('ES256')
    jwksServer = await serveJwks(keys.uri!.publicJwks)
    iam = await createIam(mode)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      const admin = await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])
      ids.tenantA = (await prisma.tenant.create({ data: { slug: 'acme', name: 'Acme' } })).id
      ids.tenantB = (await prisma.tenant.create({ data: { slug: 'globex', name: 'Globex' } })).id
      const rootUser = await createUser(prisma, { email: ROOT.login, password: ROOT.password, emailVerified: true })
      await assignRole(prisma, rootUser.id, admin.id)
      totp.root = await addTotpFactor(prisma, rootUser.id)
      await assignRole(prisma, (await createUser(prisma, { email: PASSWORD_ROOT.login, password: PASSWORD_ROOT.password, emailVerified: true })).id, admin.id)
      const a = await createUser(prisma, { email: A_ADMIN.login, password: A_ADMIN.password, emailVerified: true, tenantId: ids.tenantA })
      await assignRole(prisma, a.id, admin.id)
      totp.aAdmin = await addTotpFactor(prisma, a.id)
      // Tenant B's clients: one an administrator registered, one that registered itself (RFC 7591); and one of A's that registered itself.
      await createClient(prisma, { clientId: 'globex-app', name: 'Globex app', kind: 'spa', redirectUris: [REDIRECT], tenantId: ids.tenantB })
      await createClient(prisma, { clientId: 'globex-tool', name: 'Globex tool', kind: 'native', redirectUris: ['http://127.0.0.1/cb'], tenantId: ids.tenantB })
      await createClient(prisma, { clientId: 'acme-tool', name: 'Acme tool', kind: 'native', redirectUris: ['http://127.0.0.1/cb'], tenantId: ids.tenantA })
      await prisma.client.updateMany({ where: { id: { in: ['globex-tool', 'acme-tool'] } }, data: { registeredBy: 'dynamic' } })
      await createClient(prisma, { clientId: 'seeded-device', name: 'Seeded device CLI', kind: 'native', grantTypes: [DEVICE, 'refresh_token'] })
    })
    await iam.start()
    call = adminApi(iam.issuer)
    rootPassword = await personToken(iam.issuer, PASSWORD_ROOT, ADMIN_PERMISSIONS)
  }, 300_000)
  afterAll(async () => {
    await iam?.close()
    await jwksServer?.close()
  })

  /** Registers through the API (with the step-up) and returns the response's JSON. */
  async function register(body: Record<string, unknown>) {
    const res = await call(await root(), 'POST', '/clients', body)
    expect(res.status, res.text).toBe(201)
    return res.json as { client: Record<string, any>; clientSecret?: string; warnings?: Array<{ path: string; message: string }> }
  }

  it('registers one client per setting through the API, and each runs its own flow', async () => {
    const pkjJwks = await register({ clientId: 'pkj-jwks', name: 'Key client (jwks)', kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', jwks: keys.jwks!.publicJwks, redirectUris: [REDIRECT] })
    expect(pkjJwks.clientSecret).toBeUndefined()
    expect(pkjJwks.client).toMatchObject({ id: 'pkj-jwks', clientId: 'pkj-jwks', kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', hasSecret: false, jwks: keys.jwks!.publicJwks, registeredBy: 'admin', builtIn: false, secretRotation: null })
    expectOk(await runClientFlow(iam.issuer, { clientId: 'pkj-jwks', authMethod: 'private_key_jwt', key: keys.jwks!.privateJwk, redirectUri: REDIRECT }, 'code'))

    await register({ clientId: 'pkj-uri', name: 'Key client (jwks_uri)', kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: jwksServer.url, redirectUris: [REDIRECT] })
    expectOk(await runClientFlow(iam.issuer, { clientId: 'pkj-uri', authMethod: 'private_key_jwt', key: keys.uri!.privateJwk, redirectUri: REDIRECT }, 'code'))

    const post = await register({ name: 'Secret in the body', kind: 'web', tokenEndpointAuthMethod: 'client_secret_post', redirectUris: [REDIRECT] })
    expect(post.clientSecret).toMatch(/.{32,}/)
    const postClient: FlowClient = { clientId: post.client.id, authMethod: 'client_secret_post', secret: post.clientSecret!, redirectUri: REDIRECT }
    expectOk(await runClientFlow(iam.issuer, postClient, 'code'))

    const deviceNative = await register({ clientId: 'device-cli', name: 'Device CLI', kind: 'native', grantTypes: [DEVICE, 'refresh_token'] })
    expect(deviceNative.client).toMatchObject({ redirectUris: [], grantTypes: [DEVICE, 'refresh_token'], tokenEndpointAuthMethod: 'none', hasSecret: false })
    const device = await runClientFlow(iam.issuer, { clientId: 'device-cli', authMethod: 'none' }, 'device')
    expectOk(device)
    expect(device.refreshed).toBe(true)

    const deviceWeb = await register({ clientId: 'device-box', name: 'Confidential device', kind: 'web', grantTypes: [DEVICE] })
    expectOk(await runClientFlow(iam.issuer, { clientId: 'device-box', authMethod: 'client_secret_basic', secret: deviceWeb.clientSecret! }, 'device', { scope: 'openid profile' }))

    const webCc = await register({ clientId: 'web-cc', name: 'Web app with client credentials', kind: 'web', grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], redirectUris: [REDIRECT] })
    const webCcClient: FlowClient = { clientId: 'web-cc', authMethod: 'client_secret_basic', secret: webCc.clientSecret!, redirectUri: REDIRECT }
    expectOk(await runClientFlow(iam.issuer, webCcClient, 'code'))
    expectOk(await runClientFlow(iam.issuer, webCcClient, 'client-credentials'))

    // A legacy confidential client without PKCE: registered with a warning, shown on every read too.
    const legacy = await register({ clientId: 'legacy', name: 'Legacy app', kind: 'web', requirePkce: false, redirectUris: [REDIRECT] })
    expect(legacy.warnings).toEqual(expect.arrayContaining([{ path: 'requirePkce', message: expect.stringMatching(/PKCE is off/) }]))
    expect((await call(rootPassword, 'GET', '/clients/legacy')).json).toMatchObject({ requirePkce: false, warnings: [{ path: 'requirePkce', message: expect.stringMatching(/PKCE is off/) }] })
    expectOk(await runClientFlow(iam.issuer, { clientId: 'legacy', authMethod: 'client_secret_basic', secret: legacy.clientSecret!, redirectUri: REDIRECT }, 'code-without-pkce'))
    expect(await runClientFlow(iam.issuer, webCcClient, 'code-without-pkce')).toMatchObject({ ok: false, error: 'invalid_request' })

    // Signed request objects required: at /auth and through PAR, and plain parameters refused.
    const jar = await register({ clientId: 'jar', name: 'Signed requests', kind: 'web', jwks: keys.jar!.publicJwks, requestObjectSigningAlg: 'ES256', requireSignedRequestObject: true, redirectUris: [REDIRECT] })
    const jarClient: FlowClient = { clientId: 'jar', authMethod: 'client_secret_basic', secret: jar.clientSecret!, key: keys.jar!.privateJwk, redirectUri: REDIRECT }
    expectOk(await runClientFlow(iam.issuer, jarClient, 'code-jar'))
    expectOk(await runClientFlow(iam.issuer, jarClient, 'code-par-jar'))
    expect(await runClientFlow(iam.issuer, jarClient, 'code')).toMatchObject({ ok: false, error: 'invalid_request' })

    const par = await register({ clientId: 'par-only', name: 'Pushed requests only', kind: 'web', requirePushedAuthorizationRequests: true, redirectUris: [REDIRECT] })
    const parClient: FlowClient = { clientId: 'par-only', authMethod: 'client_secret_basic', secret: par.clientSecret!, redirectUri: REDIRECT }
    expect(await runClientFlow(iam.issuer, parClient, 'code')).toMatchObject({ ok: false, error: 'invalid_request' })
    expectOk(await runClientFlow(iam.issuer, parClient, 'code-par'))
  }, 300_000)

  it('gives a client its own token lifetimes and access token format', async () => {
    const ttl = await register({
      clientId: 'short-lived', name: 'Short-lived tokens', kind: 'web', grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], redirectUris: [REDIRECT],
      accessTokenTtl: 120, idTokenTtl: 300, refreshTokenTtl: 3600, accessTokenFormat: 'jwt',
    })
    expect(ttl.client).toMatchObject({ accessTokenTtl: 120, idTokenTtl: 300, refreshTokenTtl: 3600, accessTokenFormat: 'jwt' })
    const client: FlowClient = { clientId: 'short-lived', authMethod: 'client_secret_basic', secret: ttl.clientSecret!, redirectUri: REDIRECT }
    const signedIn = await runClientFlow(iam.issuer, client, 'code')
    expectOk(signedIn)
    expect(signedIn.tokens.expires_in).toBe(120)
    expect(signedIn.claims!.exp - signedIn.claims!.iat).toBe(300)
    const refresh = await introspect(iam.issuer, signedIn.tokens.refresh_token!)
    expect(refresh).toMatchObject({ active: true, client_id: 'short-lived' })
    expect((refresh.exp as number) - (refresh.iat as number)).toBe(3600)
    // For an API whose tokens are opaque by default, this client gets JWTs.
    const machine = await runClientFlow(iam.issuer, client, 'client-credentials', { scope: 'read', resource: OPAQUE_API })
    expectOk(machine)
    expect(machine.tokens.access_token.split('.')).toHaveLength(3)
    expect(machine.tokens.expires_in).toBe(120)
  })

  it('shows the logo, domain, policy and terms it was registered with on the consent page', async () => {
    const branded = await register({
      clientId: 'branded', name: 'Branded app', kind: 'spa', redirectUris: [REDIRECT],
      clientUri: 'https://app.branded.example/', logoUri: 'https://cdn.branded.example/logo.png', policyUri: 'https://app.branded.example/privacy',
      tosUri: 'https://app.branded.example/terms', contacts: ['owner@branded.example', 'security@branded.example'],
    })
    expect(branded.client).toMatchObject({ clientUri: 'https://app.branded.example/', logoUri: 'https://cdn.branded.example/logo.png', contacts: ['owner@branded.example', 'security@branded.example'] })
    const config = await configure(iam.issuer, { clientId: 'branded', authMethod: 'none' })
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid profile', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    })
    const browser = new HttpBrowser(iam.issuer)
    const login = await browser.navigate(url.href)
    const form = formWithAction(login.body, '/login')
    const consent = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: ALICE.email, password: ALICE.password } })
    expect(consent.body).toContain('src="https://cdn.branded.example/logo.png"')
    expect(consent.body).toContain('app.branded.example')
    expect(consent.body).toContain('href="https://app.branded.example/privacy"')
    expect(consent.body).toContain('href="https://app.branded.example/terms"')
  })

  it('answers invalid settings with problem+json naming each setting in plain words, before any step-up, never a 500', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['refresh without a grant that issues it', { name: 'x', kind: 'web', grantTypes: ['refresh_token', 'client_credentials'] }, 'grantTypes'],
      ['a grant the kind cannot use', { name: 'x', kind: 'service', grantTypes: ['authorization_code'] }, 'grantTypes.0'],
      ['redirect URIs on a device-only client', { name: 'x', kind: 'native', grantTypes: [DEVICE], redirectUris: [REDIRECT] }, 'redirectUris'],
      ['none on a web client', { name: 'x', kind: 'web', tokenEndpointAuthMethod: 'none', redirectUris: [REDIRECT] }, 'tokenEndpointAuthMethod'],
      ['private_key_jwt without keys', { name: 'x', kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', redirectUris: [REDIRECT] }, 'jwks'],
      ['a private key', { name: 'x', kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [keys.jwks!.privateJwk] }, redirectUris: [REDIRECT] }, 'jwks.keys.0'],
      ['PKCE off for a public client', { name: 'x', kind: 'spa', requirePkce: false, redirectUris: [REDIRECT] }, 'requirePkce'],
      ['a client id with a control character', { clientId: 'bad\u0007id', name: 'x', kind: 'service' }, 'clientId'],
      ['a client id with a letter outside ASCII', { clientId: 'café', name: 'x', kind: 'service' }, 'clientId'],
      ['a client id with a space at the end', { clientId: 'trailing ', name: 'x', kind: 'service' }, 'clientId'],
      ['an unknown setting', { name: 'x', kind: 'service', clientSecretExpiresAt: 0 }, 'clientSecretExpiresAt'],
      ['an unknown kind', { name: 'x', kind: 'daemon' }, 'kind'],
    ]
    for (const [what, body, path] of cases) {
      // A password-only token: a bad field is answered before the step-up is asked for.
      const problem = expectProblem(await call(rootPassword, 'POST', '/clients', body), 400)
      expect(problem.errors?.map((e) => e.path), what).toContain(path)
      for (const e of problem.errors!) expect(e.message, what).toMatch(/^[^{}\n]{8,}$/)
    }
    // A change is judged with the client's other settings: a device-only client given redirect URIs.
    const patched = expectProblem(await call(rootPassword, 'PATCH', '/clients/seeded-device', { redirectUris: [REDIRECT] }), 400)
    expect(patched.errors).toEqual([{ path: 'redirectUris', message: expect.stringMatching(/authorization_code/) }])
    expectProblem(await call(rootPassword, 'PATCH', '/clients/seeded-device', { kind: 'web' }), 400)
    expectProblem(await call(rootPassword, 'POST', '/clients/web/secret', { keepPreviousFor: -1 }), 400)
    expectProblem(await call(rootPassword, 'POST', '/clients/web/secret', { keepPreviousFor: 31 * 24 * 3600 }), 400)
    // Nothing was registered.
    const names = ((await call(rootPassword, 'GET', '/clients?limit=100')).json.items as Array<{ name: string }>).map((c) => c.name)
    expect(names).not.toContain('x')
    expect(iam.logs()).not.toMatch(/admin API request failed/)
  })

  it('brings a client over with its id and secret, warning about a short secret', async () => {
    const kept = await register({ clientId: 'legacy.app:42/prod', name: 'Brought over', kind: 'service', secret: IMPORTED })
    expect(kept.clientSecret).toBeUndefined()
    expect(kept.warnings ?? []).toEqual([])
    expectOk(await runClientFlow(iam.issuer, { clientId: 'legacy.app:42/prod', authMethod: 'client_secret_basic', secret: IMPORTED }, 'client-credentials', { scope: 'read', resource: OPAQUE_API }))
    const short = await register({ clientId: 'short-secret', name: 'Short secret', kind: 'service', secret: 'tiny-secret' })
    expect(short.warnings).toEqual([{ path: 'secret', message: expect.stringMatching(/11 characters/) }])
    expectOk(await runClientFlow(iam.issuer, { clientId: 'short-secret', authMethod: 'client_secret_basic', secret: 'tiny-secret' }, 'client-credentials', { scope: 'read', resource: OPAQUE_API }))
    expect(await runClientFlow(iam.issuer, { clientId: 'short-secret', authMethod: 'client_secret_basic', secret: 'tiny-secreT' }, 'client-credentials', { scope: 'read', resource: OPAQUE_API })).toMatchObject({ ok: false, error: 'invalid_client' })
    // The audit row says a secret was imported, and holds neither secret.
    const audit = JSON.stringify((await call(rootPassword, 'GET', '/audit?type=admin_client_create&clientId=short-secret')).json.items)
    expect(audit).toContain('"secretImported":true')
    expect(audit).not.toContain('tiny-secret')
    // The id is taken now.
    expect(expectProblem(await call(await root(), 'POST', '/clients', { clientId: 'short-secret', name: 'Again', kind: 'service' }), 409).errors?.[0]?.path).toBe('clientId')
  })

  it('rotates a secret keeping the old one for a while: both work, then only the new one', async () => {
    const svc = await register({ clientId: 'rotating', name: 'Rotating service', kind: 'service' })
    const flow = (secret: string) => runClientFlow(iam.issuer, { clientId: 'rotating', authMethod: 'client_secret_basic', secret }, 'client-credentials', { scope: 'read', resource: OPAQUE_API })
    const old = svc.clientSecret!
    expectOk(await flow(old))
    const rotated = await call(await root(), 'POST', '/clients/rotating/secret', { keepPreviousFor: 2 })
    expect(rotated.status, rotated.text).toBe(200)
    expect(rotated.json).toEqual({ clientSecret: expect.stringMatching(/.{32,}/), previousExpiresAt: expect.any(String) })
    const fresh = rotated.json.clientSecret as string
    expect((await call(rootPassword, 'GET', '/clients/rotating')).json.secretRotation).toEqual({ previousExpiresAt: rotated.json.previousExpiresAt })
    // The new secret works at once, though the provider's copy of the client may be a second old.
    expectOk(await flow(fresh))
    const both = await flow(old)
    // The old one may already have run out on a slow machine; while it works, it works beside the new one.
    if (new Date(rotated.json.previousExpiresAt).getTime() > Date.now() + 500) expectOk(both)
    await expect.poll(async () => (await flow(old)).ok, { timeout: 20_000, interval: 500 }).toBe(false)
    expect(await flow(old)).toMatchObject({ ok: false, error: 'invalid_client' })
    expectOk(await flow(fresh))
    expect((await call(rootPassword, 'GET', '/clients/rotating')).json.secretRotation).toBeNull()
    const event = (await call(rootPassword, 'GET', '/audit?type=admin_client_secret_rotate&clientId=rotating')).json.items[0]
    expect(event.details).toMatchObject({ keepPreviousFor: 2, previousExpiresAt: rotated.json.previousExpiresAt })
    expect(JSON.stringify(event)).not.toContain(fresh)

    // Without keepPreviousFor, the replaced secret stops at once (a leaked secret).
    const again = await call(await root(), 'POST', '/clients/rotating/secret', {})
    expect(again.json.previousExpiresAt).toBeNull()
    expectOk(await flow(again.json.clientSecret))
    // The replaced one stops within the age of the provider's copy of the client (a second).
    await expect.poll(async () => (await flow(fresh)).ok, { timeout: 5_000, interval: 250 }).toBe(false)
    expect(await flow(fresh)).toMatchObject({ ok: false, error: 'invalid_client' })
    // A client without a secret has nothing to rotate.
    expectProblem(await call(await root(), 'POST', '/clients/pkj-jwks/secret', {}), 409)
  })

  it('refuses to change, disable, rotate or delete the server’s own clients, with or without a second factor', async () => {
    for (const id of ['admin-console', 'iam-account']) {
      const shown = await call(rootPassword, 'GET', `/clients/${id}`)
      expect(shown.json).toMatchObject({ id, builtIn: true, firstParty: true })
      for (const token of [rootPassword, await root()]) {
        for (const [method, path, body] of [
          ['PATCH', `/clients/${id}`, { name: 'Renamed' }], ['PATCH', `/clients/${id}`, { disabled: true }],
          ['PATCH', `/clients/${id}`, { redirectUris: ['https://attacker.example/cb'] }],
          ['DELETE', `/clients/${id}`], ['POST', `/clients/${id}/secret`, {}],
        ] as Array<[string, string, unknown?]>) {
          const problem = expectProblem(await call(token, method, path, body), 409)
          expect(problem.detail, `${method} ${path}`).toMatch(/this server’s own applications/)
        }
      }
      expect((await call(rootPassword, 'GET', `/clients/${id}`)).json).toEqual(shown.json)
    }
  })

  it('keeps a tenant administrator to its tenant: no first-party or admin permissions, no other tenant’s clients, self-registered ones included', async () => {
    const token = await aAdmin()
    const fp = expectProblem(await call(token, 'POST', '/clients', { name: 'Lure', kind: 'spa', redirectUris: [REDIRECT], firstParty: true }), 403)
    expect(fp.errors).toEqual([{ path: 'firstParty', message: expect.stringMatching(/global administrator/) }])
    const perms = expectProblem(await call(token, 'POST', '/clients', { name: 'Backdoor', kind: 'service', adminPermissions: ['users:read'] }), 403)
    expect(perms.errors).toEqual([{ path: 'adminPermissions', message: expect.stringMatching(/global administrator/) }])
    expectProblem(await call(token, 'POST', '/clients', { name: 'Elsewhere', kind: 'service', tenantId: ids.tenantB }), 403)
    // Another tenant's clients, whoever registered them, are as missing.
    for (const id of ['globex-app', 'globex-tool']) {
      for (const [method, path, body] of [
        ['GET', `/clients/${id}`], ['PATCH', `/clients/${id}`, { name: 'pwned' }], ['PATCH', `/clients/${id}`, { disabled: true }],
        ['DELETE', `/clients/${id}`], ['POST', `/clients/${id}/secret`, {}],
      ] as Array<[string, string, unknown?]>) {
        expectProblem(await call(token, method, path, body), 404)
      }
    }
    const listed = (await call(token, 'GET', '/clients?limit=100')).json.items as Array<{ id: string; registeredBy: string; tenantId?: string }>
    expect(listed.map((c) => c.id)).not.toContain('globex-app')
    expect(listed.map((c) => c.id)).not.toContain('globex-tool')
    expect(listed.every((c) => c.tenantId === ids.tenantA)).toBe(true)
    // Its own tenant's self-registered client is visible, marked as such, and can be disabled.
    expect(listed.find((c) => c.id === 'acme-tool')).toMatchObject({ registeredBy: 'dynamic' })
    expect((await call(token, 'PATCH', '/clients/acme-tool', { disabled: true })).json).toMatchObject({ id: 'acme-tool', disabled: true })
    // Its own clients land in its tenant; their tenant is not changed by a patch.
    const own = await call(token, 'POST', '/clients', { name: 'Acme portal', kind: 'web', redirectUris: ['https://portal.acme.test/cb'] })
    expect(own.status, own.text).toBe(201)
    expect(own.json.client).toMatchObject({ tenantId: ids.tenantA, firstParty: false, adminPermissions: [] })
    expect(expectProblem(await call(token, 'PATCH', `/clients/${own.json.client.id}`, { tenantId: ids.tenantB }), 400).errors?.[0]?.path).toBe('tenantId')
    expect(expectProblem(await call(token, 'PATCH', `/clients/${own.json.client.id}`, { firstParty: true }), 403).errors?.[0]?.path).toBe('firstParty')
    // Tenant B's clients are untouched.
    expect((await call(rootPassword, 'GET', '/clients/globex-tool')).json).toMatchObject({ name: 'Globex tool', disabled: false, registeredBy: 'dynamic', tenantId: ids.tenantB })
  })

  it('ends a disabled or deleted client’s refresh tokens, access tokens and introspection at once', async () => {
    // Confidential: its refresh token is not rotated by the helper's one refresh, so it is still the live one.
    const spa = await register({ clientId: 'goes-away', name: 'Soon disabled', kind: 'web', redirectUris: [REDIRECT] })
    const svc = await register({ clientId: 'svc-goes-away', name: 'Soon deleted', kind: 'service' })
    expect(spa.client.disabled).toBe(false)
    const person = await runClientFlow(iam.issuer, { clientId: 'goes-away', authMethod: 'client_secret_basic', secret: spa.clientSecret!, redirectUri: REDIRECT }, 'code')
    expectOk(person)
    const machine = await runClientFlow(iam.issuer, { clientId: 'svc-goes-away', authMethod: 'client_secret_basic', secret: svc.clientSecret! }, 'client-credentials', { scope: 'read', resource: OPAQUE_API })
    expectOk(machine)
    const { access_token: accessToken, refresh_token: refreshToken } = person.tokens
    const config = await configure(iam.issuer, { clientId: 'goes-away', authMethod: 'client_secret_basic', secret: spa.clientSecret! })
    for (const token of [accessToken, refreshToken!, machine.tokens.access_token]) expect(await introspect(iam.issuer, token)).toMatchObject({ active: true })

    // Disabling takes nothing away from the caller's reach, so a password is enough.
    const disabled = await call(rootPassword, 'PATCH', '/clients/goes-away', { disabled: true })
    expect(disabled.json).toMatchObject({ disabled: true })
    for (const token of [accessToken, refreshToken!]) expect(await introspect(iam.issuer, token)).toEqual({ active: false })
    await expect(oidc.fetchUserInfo(config, accessToken, person.claims!.sub)).rejects.toMatchObject({ status: 401 })
    expect(await refusal(oidc.refreshTokenGrant(config, refreshToken!))).toMatch(/^invalid_(grant|client)$/)

    expect((await call(await root(), 'DELETE', '/clients/svc-goes-away')).status).toBe(204)
    expect(await introspect(iam.issuer, machine.tokens.access_token)).toEqual({ active: false })
    expectProblem(await call(rootPassword, 'GET', '/clients/svc-goes-away'), 404)
    const events = (await call(rootPassword, 'GET', '/audit?type=admin_client_update&clientId=goes-away')).json.items
    expect(events[0].details).toMatchObject({ changed: ['disabled'], disabled: true })
  })

  it('describes every setting in plain words in the OpenAPI document', async () => {
    const doc = await (await fetch(`${iam.issuer}/admin/api/openapi.json`)).json() as any
    const create = doc.paths['/admin/api/v1/clients'].post.requestBody.content['application/json'].schema
    const change = doc.paths['/admin/api/v1/clients/{id}'].patch.requestBody.content['application/json'].schema
    const client = doc.paths['/admin/api/v1/clients/{id}'].get.responses['200'].content['application/json'].schema
    expect(create.required).toEqual(expect.arrayContaining(['name', 'kind']))
    expect(Object.keys(create.properties).length).toBeGreaterThanOrEqual(30)
    for (const [name, schema] of [...Object.entries(create.properties), ...Object.entries(change.properties)] as Array<[string, { description?: string }]>) {
      expect(schema.description, name).toMatch(/\w+ \w+ \w+/)
    }
    expect(Object.keys(change.properties)).not.toContain('kind')
    expect(Object.keys(change.properties)).not.toContain('secret')
    expect(Object.keys(change.properties)).toContain('disabled')
    const shown = client.properties ?? client.$defs?.Client?.properties
    expect(shown).toBeTruthy()
    expect(Object.keys(shown)).not.toContain('secret')
    for (const key of ['hasSecret', 'secretRotation', 'builtIn', 'registeredBy', 'tokenEndpointAuthMethod', 'requirePkce']) expect(Object.keys(shown)).toContain(key)
    const rotate = doc.paths['/admin/api/v1/clients/{id}/secret'].post.requestBody.content['application/json'].schema
    expect(rotate.properties.keepPreviousFor.description).toMatch(/keeps working/)
  })
})

// Two instances sharing PostgreSQL and Redis behind one issuer (test/support/balancer.ts picks the
// instance): a client deleted and another disabled through A are refused by B at once, though B
// has just read them and keeps a short copy of the clients it reads.
describe('admin API: a client disabled or deleted on one instance (two instances)', () => {
  let redis: RedisServer
  let balancer: Balancer
  let a: IamInstance
  let b: IamInstance
  let rootTotp: string

  beforeAll(async () => {
    balancer = await startBalancer()
    redis = await startRedis({ appendonly: true })
    const shared = {
      ISSUER: balancer.url, DATABASE_URL: await createTestDatabase(), REDIS_URL: redis.url,
      JWKS: JSON.stringify(await generateJwks()), COOKIE_KEYS: 'admin-clients-two-instances-cookie-key-0123',
    }
    a = await createIam('postgres-redis', { env: shared })
    b = await createIam('postgres-redis', { env: shared })
    await a.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      const rootUser = await createUser(prisma, { email: ROOT.login, password: ROOT.password, emailVerified: true })
      await assignRole(prisma, rootUser.id, (await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])).id)
      rootTotp = await addTotpFactor(prisma, rootUser.id)
    })
    await a.start()
    await b.start()
  }, 300_000)
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await balancer?.close()
    await redis?.stop()
  })

  it('B refuses the refresh token, the access token at userinfo and at introspection right after A disabled or deleted the client', async () => {
    balancer.route(a.port)
    const call = adminApi(balancer.url)
    const token = await personToken(balancer.url, { ...ROOT, totpSecret: rootTotp }, ['clients:read', 'clients:write'])
    const registered: Record<string, { clientSecret?: string }> = {}
    for (const [id, body] of [
      ['spa-off', { clientId: 'spa-off', name: 'Soon disabled', kind: 'web', redirectUris: [REDIRECT] }],
      ['web-gone', { clientId: 'web-gone', name: 'Soon deleted', kind: 'web', grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], redirectUris: [REDIRECT] }],
    ] as const) {
      const res = await call(token, 'POST', '/clients', body)
      expect(res.status, res.text).toBe(201)
      registered[id] = res.json
    }
    const clients: Record<string, FlowClient> = {
      // Confidential clients: the helper's one refresh does not rotate their refresh tokens.
      'spa-off': { clientId: 'spa-off', authMethod: 'client_secret_basic', secret: registered['spa-off']!.clientSecret!, redirectUri: REDIRECT },
      'web-gone': { clientId: 'web-gone', authMethod: 'client_secret_basic', secret: registered['web-gone']!.clientSecret!, redirectUri: REDIRECT },
    }
    // Tokens from B, and B reads them all back (its copy of both clients is fresh).
    balancer.route(b.port)
    const held: Record<string, { config: oidc.Configuration; access: string; refresh: string; sub: string; machine?: string }> = {}
    for (const id of ['spa-off', 'web-gone']) {
      const person = await runClientFlow(balancer.url, clients[id]!, 'code')
      expectOk(person)
      const machine = id === 'web-gone' ? await runClientFlow(balancer.url, clients[id]!, 'client-credentials', { scope: 'read', resource: OPAQUE_API }) : undefined
      if (machine) expectOk(machine)
      held[id] = {
        config: await configure(balancer.url, clients[id]!), access: person.tokens.access_token, refresh: person.tokens.refresh_token!, sub: person.claims!.sub,
        ...(machine?.ok ? { machine: machine.tokens.access_token } : {}),
      }
      for (const t of [held[id]!.access, held[id]!.refresh, held[id]!.machine].filter(Boolean) as string[]) expect(await introspect(balancer.url, t)).toMatchObject({ active: true })
      expect((await oidc.fetchUserInfo(held[id]!.config, held[id]!.access, held[id]!.sub)).sub).toBe(held[id]!.sub)
    }

    balancer.route(a.port)
    expect((await call(token, 'PATCH', '/clients/spa-off', { disabled: true })).status).toBe(200)
    expect((await call(token, 'DELETE', '/clients/web-gone')).status).toBe(204)

    balancer.route(b.port)
    for (const id of ['spa-off', 'web-gone']) {
      const h = held[id]!
      for (const t of [h.access, h.refresh, h.machine].filter(Boolean) as string[]) expect(await introspect(balancer.url, t), id).toEqual({ active: false })
      await expect(oidc.fetchUserInfo(h.config, h.access, h.sub), id).rejects.toMatchObject({ status: 401 })
      expect(await refusal(oidc.refreshTokenGrant(h.config, h.refresh)), id).toMatch(/^invalid_(grant|client)$/)
    }
  }, 300_000)
})

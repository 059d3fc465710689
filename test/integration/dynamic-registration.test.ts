// Dynamic client registration (RFC 7591) and its management API (RFC 7592), as a tool that
// registers itself uses them: with an initial access token an administrator issued through the
// admin API, within that token's policy. And as an attacker would try them: without a token, with
// one spent, revoked or expired, outside its policy, reaching for our own settings (first-party,
// admin permissions, no PKCE), for a symmetric algorithm, or for the stored secret hash.
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { createFixtures, ALICE, SPA_REDIRECT } from '../support/fixtures.ts'
import { addTotpFactor } from '../support/mfa-fixtures.ts'
import { HttpBrowser, signIn } from '../support/browser.ts'
import { adminApi, personToken } from '../support/admin.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { ADMIN_PERMISSIONS } from '../../src/admin/permissions.ts'
import { bearer, registrationEndpoint, secretWorks, type Json } from '../support/registration-endpoint.ts'

const ROOT = { login: 'reg-root@example.test', password: 'registration root long passphrase' }
const ACME_ADMIN = { login: 'reg-admin@acme.test', password: 'acme registration admin passphrase' }
const SCOPES = ['clients:read', 'clients:write', 'audit:read']
const insecure = { execute: [oidc.allowInsecureRequests] }
const root = path.resolve(import.meta.dirname, '../..')
const run = promisify(execFile)

const webApp = (extra: Json = {}) => ({
  client_name: 'Self-registered tool', redirect_uris: [SPA_REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic', ...extra,
})

describe.each(STORAGE_MODES)('dynamic client registration (%s)', (mode) => {
  let iam: IamInstance
  let call: ReturnType<typeof adminApi>
  let reg: ReturnType<typeof registrationEndpoint>
  let rootToken: string
  let acmeToken: string
  const ids = {} as Record<'acme', string>
  const totp = {} as Record<'root' | 'acmeAdmin', string>

  beforeAll(async () => {
    iam = await createIam(mode, { env: { DYNAMIC_CLIENT_REGISTRATION: 'true' } })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      const admin = await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])
      const root = await createUser(prisma, { email: ROOT.login, password: ROOT.password, emailVerified: true })
      await assignRole(prisma, root.id, admin.id)
      totp.root = await addTotpFactor(prisma, root.id)
      ids.acme = (await prisma.tenant.create({ data: { slug: 'acme-reg', name: 'Acme' } })).id
      const acmeAdmin = await createUser(prisma, { email: ACME_ADMIN.login, password: ACME_ADMIN.password, emailVerified: true, tenantId: ids.acme })
      await assignRole(prisma, acmeAdmin.id, admin.id)
      totp.acmeAdmin = await addTotpFactor(prisma, acmeAdmin.id)
    })
    await iam.start()
    call = adminApi(iam.issuer)
    reg = registrationEndpoint(iam.issuer)
    rootToken = await personToken(iam.issuer, { ...ROOT, totpSecret: totp.root }, SCOPES)
    acmeToken = await personToken(iam.issuer, { ...ACME_ADMIN, totpSecret: totp.acmeAdmin }, SCOPES)
  }, 180_000)

  afterAll(async () => {
    await iam?.close()
  })

  async function issue(policy: Json, token = rootToken): Promise<{ token: string; id: string }> {
    const res = await call(token, 'POST', '/registration-tokens', policy)
    expect(res.status, res.text).toBe(201)
    expect(res.headers.get('cache-control')).toBe('no-store')
    return { token: res.json.token, id: res.json.registrationToken.id }
  }

  it('registers a client with an initial access token, signs a person in with it, reads, updates and deletes it (RFC 7592)', async () => {
    const discovery = await (await fetch(`${iam.issuer}/.well-known/openid-configuration`)).json() as Json
    expect(discovery.registration_endpoint).toBe(`${iam.issuer}/reg`)
    const iat = await issue({ description: 'a tool', allowedRedirectHosts: ['localhost'], maxUses: 1 })
    const created = await reg.register(iat.token, webApp())
    expect(created.status, JSON.stringify(created.json)).toBe(201)
    const { client_id: clientId, client_secret: secret, registration_access_token: rat1, registration_client_uri: uri } = created.json
    expect(typeof secret).toBe('string')
    expect(secret).not.toContain('$')
    expect(uri).toBe(`${iam.issuer}/reg/${clientId}`)
    expect(Object.keys(created.json).filter((k) => k.startsWith('urn:iam:'))).toEqual([])

    // Visible to administrators as registered dynamically; the token spent.
    const listed = await call(rootToken, 'GET', `/clients/${encodeURIComponent(clientId)}`)
    expect(listed.status).toBe(200)
    expect(listed.json.registeredBy).toBe('dynamic')
    expect(listed.json.firstParty).toBe(false)
    const spent = await call(rootToken, 'GET', `/registration-tokens/${encodeURIComponent(iat.id)}`)
    expect(spent.json).toMatchObject({ uses: 1, state: 'spent', clientIds: [clientId] })

    // A person signs in through it (code flow with PKCE, the client's secret at the token endpoint).
    const config = await oidc.discovery(new URL(iam.issuer), clientId, secret, oidc.ClientSecretBasic(secret), insecure)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: SPA_REDIRECT, scope: 'openid email', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const callback = await signIn(new HttpBrowser(iam.issuer), url.href, { login: ALICE.email, password: ALICE.password })
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier })
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)
    expect(userinfo.email).toBe(ALICE.email)

    // RFC 7592 read: the registration, never the stored hash as its secret.
    const read = await reg.read(uri, rat1)
    expect(read.status).toBe(200)
    expect(read.json.client_id).toBe(clientId)
    expect(read.json.client_secret).toBeUndefined()
    expect(JSON.stringify(read.json)).not.toMatch(/sha256\$|scrypt\$/)
    expect(read.headers.get('cache-control')).toContain('no-store')

    // RFC 7592 update with the current secret (§2.2): checked against the hash, kept.
    const updated = await reg.update(uri, rat1, { ...webApp({ client_name: 'Renamed tool' }), client_id: clientId, client_secret: secret })
    expect(updated.status, JSON.stringify(updated.json)).toBe(200)
    expect(updated.json.client_name).toBe('Renamed tool')
    expect(updated.json.client_secret).toBeUndefined()
    expect(JSON.stringify(updated.json)).not.toMatch(/sha256\$|scrypt\$/)
    const rat2 = updated.json.registration_access_token as string
    expect(rat2).not.toBe(rat1) // rotated
    expect(await secretWorks(iam.issuer, clientId, secret)).toBe(true)
    expect((await reg.read(uri, rat1)).status).toBe(401)

    // A wrong secret, or the hash itself, is refused; so is an update outside the token's policy.
    const wrong = await reg.update(uri, rat2, { ...webApp(), client_id: clientId, client_secret: `${secret}x` })
    expect(wrong.status).toBe(400)
    expect(wrong.json.error).toBe('invalid_request')
    const evil = await reg.update(uri, rat2, { ...webApp({ redirect_uris: ['https://evil.example/cb'] }), client_id: clientId })
    expect(evil.status).toBe(400)
    expect(evil.json.error).toBe('invalid_redirect_uri')
    const selfPromoted = await reg.update(uri, rat2, { ...webApp({ 'urn:iam:first_party': true, 'urn:iam:pkce_optional': true }), client_id: clientId })
    expect(selfPromoted.status).toBe(200)
    expect(Object.keys(selfPromoted.json).filter((k) => k.startsWith('urn:iam:'))).toEqual([])
    const rat3 = selfPromoted.json.registration_access_token as string
    expect((await call(rootToken, 'GET', `/clients/${encodeURIComponent(clientId)}`)).json.firstParty).toBe(false)

    // RFC 7592 delete: gone, its tokens with it.
    const removed = await reg.remove(uri, rat3)
    expect(removed.status).toBe(204)
    expect((await reg.read(uri, rat3)).status).toBe(401)
    expect((await call(rootToken, 'GET', `/clients/${encodeURIComponent(clientId)}`)).status).toBe(404)
    expect(await secretWorks(iam.issuer, clientId, secret)).toBe(false)
    const afterDelete = await fetch(`${iam.issuer}/me`, { headers: bearer(tokens.access_token) })
    expect(afterDelete.status).toBe(401)

    // Each step is in the audit log.
    for (const type of ['client_dynamic_register', 'client_dynamic_update', 'client_dynamic_delete', 'admin_registration_token_issue']) {
      const rows = await call(rootToken, 'GET', `/audit?type=${type}`)
      expect(rows.status).toBe(200)
      expect(rows.json.items.length, type).toBeGreaterThan(0)
    }
  })

  it('registers a public client and a service client within the token’s policy', async () => {
    const iat = await issue({ allowedRedirectHosts: ['localhost', '127.0.0.1'], allowedGrantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], maxUses: 2 })
    const spa = await reg.register(iat.token, webApp({ token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1:7777/cb'] }))
    expect(spa.status, JSON.stringify(spa.json)).toBe(201)
    expect(spa.json.client_secret).toBeUndefined()
    const svc = await reg.register(iat.token, { client_name: 'Sync job', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] })
    expect(svc.status, JSON.stringify(svc.json)).toBe(201)
    const config = await oidc.discovery(new URL(iam.issuer), svc.json.client_id, svc.json.client_secret, oidc.ClientSecretBasic(svc.json.client_secret), insecure)
    const cc = await oidc.clientCredentialsGrant(config, {})
    expect(cc.access_token).toBeTruthy()
  })

  it('refuses a registration without a token, with an unknown, a spent, a revoked or an expired one', async () => {
    const none = await reg.register(undefined, webApp())
    expect(none.status).toBe(401)
    expect(none.json.error).toBe('invalid_token')
    expect((await reg.register('made-up-token', webApp())).json.error).toBe('invalid_token')

    const once = await issue({ allowedRedirectHosts: ['localhost'] })
    expect((await reg.register(once.token, webApp())).status).toBe(201)
    const again = await reg.register(once.token, webApp())
    expect(again.status).toBe(401)
    expect(again.json.error).toBe('invalid_token')

    const revoked = await issue({ allowedRedirectHosts: ['localhost'], maxUses: 5 })
    const revoke = await call(rootToken, 'DELETE', `/registration-tokens/${encodeURIComponent(revoked.id)}`)
    expect(revoke.status).toBe(200)
    expect(revoke.json.state).toBe('revoked')
    expect((await reg.register(revoked.token, webApp())).json.error).toBe('invalid_token')

    const expiring = await issue({ allowedRedirectHosts: ['localhost'], maxUses: 5 })
    await iam.databaseNow((prisma) => prisma.registrationToken.update({ where: { id: expiring.id }, data: { expiresAt: new Date(Date.now() - 1000) } }))
    const expired = await reg.register(expiring.token, webApp())
    expect(expired.status).toBe(401)
    expect(expired.json.error).toBe('invalid_token')
   }, 240_000) // embedded: databaseNow stops and starts the server

  it('refuses a registration outside the token’s policy, without spending it', async () => {
    const iat = await issue({ allowedRedirectHosts: ['localhost'], allowedGrantTypes: ['authorization_code', 'refresh_token'], clientType: 'confidential', maxUses: 1 })
    const host = await reg.register(iat.token, webApp({ redirect_uris: ['https://elsewhere.example/cb'] }))
    expect(host.status).toBe(400)
    expect(host.json.error).toBe('invalid_redirect_uri')
    const logoutHost = await reg.register(iat.token, webApp({ post_logout_redirect_uris: ['https://elsewhere.example/out'] }))
    expect(logoutHost.json.error).toBe('invalid_redirect_uri')
    const grant = await reg.register(iat.token, webApp({ grant_types: ['authorization_code', 'client_credentials'] }))
    expect(grant.status).toBe(400)
    expect(grant.json.error).toBe('invalid_client_metadata')
    const publicClient = await reg.register(iat.token, webApp({ token_endpoint_auth_method: 'none' }))
    expect(publicClient.json.error).toBe('invalid_client_metadata')

    const publicOnly = await issue({ allowedRedirectHosts: ['localhost'], clientType: 'public' })
    expect((await reg.register(publicOnly.token, webApp())).json.error).toBe('invalid_client_metadata')

    const unspent = await call(rootToken, 'GET', `/registration-tokens/${encodeURIComponent(iat.id)}`)
    expect(unspent.json).toMatchObject({ uses: 0, state: 'active' })
    expect((await reg.register(iat.token, webApp())).status).toBe(201)
  })

  it('a registrant cannot make itself first-party, give itself our settings or use HS256', async () => {
    const iat = await issue({ allowedRedirectHosts: ['localhost'], maxUses: 5 })
    const hs = await reg.register(iat.token, webApp({ id_token_signed_response_alg: 'HS256' }))
    expect(hs.status).toBe(400)
    expect(hs.json.error).toBe('invalid_client_metadata')
    const jwt = await reg.register(iat.token, webApp({ token_endpoint_auth_method: 'client_secret_jwt' }))
    expect(jwt.json.error).toBe('invalid_client_metadata')

    const sneaky = await reg.register(iat.token, webApp({
      'urn:iam:first_party': true, 'urn:iam:pkce_optional': true, 'urn:iam:admin_permissions': ['clients:write'], 'urn:iam:tenant_id': ids.acme,
      'urn:iam:access_token_ttl': 86400, made_up_field: 'x',
    }))
    expect(sneaky.status, JSON.stringify(sneaky.json)).toBe(201)
    expect(Object.keys(sneaky.json).filter((k) => k.startsWith('urn:iam:') || k === 'made_up_field')).toEqual([])
    const { client_id: clientId, client_secret: secret } = sneaky.json
    const row = await iam.databaseNow((prisma) => prisma.client.findUniqueOrThrow({ where: { id: clientId } }))
    expect(row).toMatchObject({ firstParty: false, registeredBy: 'dynamic', tenantId: null })
    expect(Object.keys(row.metadata as object).filter((k) => k.startsWith('urn:iam:') || k === 'made_up_field')).toEqual([])
    expect(row.secretHash).toMatch(/^sha256\$/)
    expect(row.secretHash).not.toContain(secret)

    // PKCE stays required: an authorization request without it is refused.
    const auth = await fetch(`${iam.issuer}/auth?${new URLSearchParams({ client_id: clientId, redirect_uri: SPA_REDIRECT, response_type: 'code', scope: 'openid' })}`, { redirect: 'manual' })
    const location = new URL(auth.headers.get('location') ?? '', iam.issuer)
    expect(location.searchParams.get('error')).toBe('invalid_request')
    expect(location.searchParams.get('error_description')).toMatch(/PKCE/)
    // No admin permissions: its client-credentials requests for the admin API are refused.
    expect(await secretWorks(iam.issuer, clientId, secret)).toBe(true)
   }, 240_000) // embedded: databaseNow stops and starts the server

  // The CLI writes the same rows in both modes; embedded, each run stops and starts the server (the slow part).
  it.skipIf(mode === 'embedded')('issues, lists and revokes initial access tokens from the CLI', async () => {
    const cli = (...args: string[]) => run(process.execPath, ['src/main.ts', ...args], { cwd: root, env: { ...process.env, ...iam.env, LOG_LEVEL: 'warn' } })
    // The CLI against this server's stores: embedded, only while the server is stopped.
    const stopped = async <T>(fn: () => Promise<T>): Promise<T> => {
      if (mode !== 'embedded') return fn()
      await iam.stop()
      try {
        return await fn()
      } finally {
        await iam.start()
      }
    }
    const created = await stopped(() => cli('registration-token', 'create', '--host', 'localhost', '--uses', '2', '--description', 'from the CLI'))
    const token = /initial access token \(shown once\): (\S+)/.exec(created.stdout)?.[1]
    const id = /^id: (\S+)/m.exec(created.stdout)?.[1]
    expect(token && id, created.stdout).toBeTruthy()
    expect((await reg.register(token, webApp())).status).toBe(201)
    const listed = await stopped(async () => {
      const list = await cli('registration-token', 'list')
      await cli('registration-token', 'revoke', id!)
      return list
    })
    expect(listed.stdout).toMatch(new RegExp(`^${id}  active   1/2 .* from the CLI$`, 'm'))
    expect((await reg.register(token, webApp())).json.error).toBe('invalid_token')
    // Bad usage is answered before any store is opened.
    await expect(cli('registration-token', 'create', '--grant-type', 'password')).rejects.toMatchObject({ code: 2 })
  }, 400_000)

  it('a tenant administrator issues tokens for their own tenant only, and sees and revokes only those', async () => {
    const global = await issue({ allowedRedirectHosts: ['localhost'] })
    const other = await call(acmeToken, 'POST', '/registration-tokens', { allowedRedirectHosts: ['localhost'], tenantId: 'some-other-tenant' })
    expect(other.status).toBe(403)
    const own = await call(acmeToken, 'POST', '/registration-tokens', { allowedRedirectHosts: ['localhost'] })
    expect(own.status, own.text).toBe(201)
    expect(own.json.registrationToken.tenantId).toBe(ids.acme)

    const listed = await call(acmeToken, 'GET', '/registration-tokens')
    expect(listed.status).toBe(200)
    expect(listed.json.items.map((t: Json) => t.id)).toEqual([own.json.registrationToken.id])
    expect((await call(acmeToken, 'GET', `/registration-tokens/${encodeURIComponent(global.id)}`)).status).toBe(404)
    expect((await call(acmeToken, 'DELETE', `/registration-tokens/${encodeURIComponent(global.id)}`)).status).toBe(404)
    expect((await call(rootToken, 'GET', `/registration-tokens/${encodeURIComponent(global.id)}`)).json.state).toBe('active')

    // A client registered with the tenant's token belongs to the tenant, and its administrator sees it.
    const registered = await reg.register(own.json.token, webApp())
    expect(registered.status).toBe(201)
    const seen = await call(acmeToken, 'GET', `/clients/${encodeURIComponent(registered.json.client_id)}`)
    expect(seen.status).toBe(200)
    expect(seen.json.tenantId).toBe(ids.acme)
    // ...and can disable it: its secret no longer works.
    const disabled = await call(acmeToken, 'PATCH', `/clients/${encodeURIComponent(registered.json.client_id)}`, { disabled: true })
    expect(disabled.status, disabled.text).toBe(200)
    expect(await secretWorks(iam.issuer, registered.json.client_id, registered.json.client_secret)).toBe(false)
  })
})

describe('dynamic client registration off (the default)', () => {
  let iam: IamInstance
  beforeAll(async () => {
    iam = await createIam('embedded')
    await iam.start()
  }, 120_000)
  afterAll(async () => {
    await iam?.close()
  })

  it('answers 404 at the registration endpoint and names none in discovery', async () => {
    const res = await fetch(`${iam.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(res.status).toBe(404)
    await res.arrayBuffer()
    const discovery = await (await fetch(`${iam.issuer}/.well-known/openid-configuration`)).json() as Json
    expect(discovery.registration_endpoint).toBeUndefined()
    expect((await fetch(`${iam.issuer}/reg/some-client`)).status).toBe(404)
  })
})

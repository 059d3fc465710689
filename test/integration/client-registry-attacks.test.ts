// Attacks on the client registry and its doors (admin API, dynamic registration RFC 7591/7592),
// each run against a real server: a test passes when the attack is withstood. Every door stores
// through the same code in both storage modes, so the suite runs on PostgreSQL (where the tests can
// read the rows beside the running server); the race on an initial access token's uses (one
// database transaction per registration) runs in both.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import { createIam, type IamInstance, type StorageMode } from '../support/iam.ts'
import { createFixtures, SPA_REDIRECT } from '../support/fixtures.ts'
import { addTotpFactor } from '../support/mfa-fixtures.ts'
import { adminApi, adminResourceOf, personToken } from '../support/admin.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { ADMIN_PERMISSIONS } from '../../src/admin/permissions.ts'
import { answer, basic, bearer, registrationEndpoint, secretWorks, type Json } from '../support/registration-endpoint.ts'

const ROOT = { login: 'attack-root@example.test', password: 'attack root long passphrase' }
const ACME_ADMIN = { login: 'attack-admin@acme.test', password: 'acme attack admin passphrase' }
const SCOPES = ['clients:read', 'clients:write', 'audit:read']
const ALLOWED = 'allowed.example.com'
const insecure = { execute: [oidc.allowInsecureRequests] }

const webApp = (extra: Json = {}) => ({
  client_name: 'Attacker tool', redirect_uris: [`https://${ALLOWED}/cb`], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic', ...extra,
})

interface World {
  iam: IamInstance
  call: ReturnType<typeof adminApi>
  reg: ReturnType<typeof registrationEndpoint>
  rootToken: string
  acmeToken: string
  acmeId: string
  issue(policy: Json, token?: string): Promise<{ token: string; id: string }>
}

async function startWorld(mode: StorageMode, env: Record<string, string> = {}): Promise<World> {
  const iam = await createIam(mode, { env: { DYNAMIC_CLIENT_REGISTRATION: 'true', ...env } })
  const totp = {} as Record<'root' | 'acme', string>
  let acmeId = ''
  await iam.withDatabase(async (prisma) => {
    await createFixtures(prisma)
    const admin = await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])
    const root = await createUser(prisma, { email: ROOT.login, password: ROOT.password, emailVerified: true })
    await assignRole(prisma, root.id, admin.id)
    totp.root = await addTotpFactor(prisma, root.id)
    acmeId = (await prisma.tenant.create({ data: { slug: 'acme-attack', name: 'Acme' } })).id
    const acme = await createUser(prisma, { email: ACME_ADMIN.login, password: ACME_ADMIN.password, emailVerified: true, tenantId: acmeId })
    await assignRole(prisma, acme.id, admin.id)
    totp.acme = await addTotpFactor(prisma, acme.id)
  })
  await iam.start()
  const call = adminApi(iam.issuer)
  const rootToken = await personToken(iam.issuer, { ...ROOT, totpSecret: totp.root }, SCOPES)
  const acmeToken = await personToken(iam.issuer, { ...ACME_ADMIN, totpSecret: totp.acme }, SCOPES)
  return {
    iam, call, reg: registrationEndpoint(iam.issuer), rootToken, acmeToken, acmeId,
    async issue(policy, token = rootToken) {
      const res = await call(token, 'POST', '/registration-tokens', policy)
      expect(res.status, res.text).toBe(201)
      return { token: res.json.token, id: res.json.registrationToken.id }
    },
  }
}

describe('client registry attacks (postgres-redis)', () => {
  let w: World
  beforeAll(async () => { w = await startWorld('postgres-redis') }, 180_000)
  afterAll(async () => { await w?.iam.close() })

  // --- Dynamic registration: the initial access token --------------------------------------------

  it('registration without a token, with a made-up, a spent or a revoked one is refused', async () => {
    expect((await w.reg.register(undefined, webApp())).status).toBe(401)
    expect((await w.reg.register('x'.repeat(43), webApp())).json.error).toBe('invalid_token')
    const once = await w.issue({ allowedRedirectHosts: [ALLOWED] })
    expect((await w.reg.register(once.token, webApp())).status).toBe(201)
    expect((await w.reg.register(once.token, webApp())).json.error).toBe('invalid_token')
    const revoked = await w.issue({ allowedRedirectHosts: [ALLOWED], maxUses: 3 })
    expect((await w.call(w.rootToken, 'DELETE', `/registration-tokens/${encodeURIComponent(revoked.id)}`)).status).toBe(200)
    expect((await w.reg.register(revoked.token, webApp())).json.error).toBe('invalid_token')
  })

  // --- Dynamic registration: escalation through metadata -----------------------------------------

  it('redirect URIs that only look like the allowed host are refused (userinfo, path, trailing dot, look-alike IDN, backslash)', async () => {
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED, 'localhost'], maxUses: 20 })
    for (const uri of [
      `https://${ALLOWED}@evil.example/cb`, `https://evil.example/.${ALLOWED}/cb`, `https://evil.example/cb?${ALLOWED}`, `https://${ALLOWED}.evil.example/cb`,
      `https://${ALLOWED}./cb`, 'https://аllowed.example.com/cb', `https://evil.example\\@${ALLOWED}/cb`, `https://evil.example#@${ALLOWED}/cb`,
    ]) {
      const res = await w.reg.register(iat.token, webApp({ redirect_uris: [uri] }))
      expect(res.status, `${uri}: ${res.text}`).toBe(400)
    }
    // Upper case is the same host: accepted, as the URL parser reads it.
    expect((await w.reg.register(iat.token, webApp({ redirect_uris: [`https://${ALLOWED.toUpperCase()}/cb`] }))).status).toBe(201)
  })

  it('a token allowing a host allows https to it (or http on loopback), not plain http on the network', async () => {
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED], maxUses: 5 })
    const res = await w.reg.register(iat.token, webApp({ redirect_uris: [`http://${ALLOWED}/cb`] }))
    expect(res.status, `plain-http redirect URI accepted: ${res.text}`).toBe(400)
  })

  it('a token allowing a host does not allow a private-use scheme that merely names that host', async () => {
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED], allowedGrantTypes: ['authorization_code', 'refresh_token'], maxUses: 5 })
    const web = await w.reg.register(iat.token, webApp({ redirect_uris: [`com.evil.app://${ALLOWED}/cb`] }))
    expect(web.status, web.text).toBe(400)
    const native = await w.reg.register(iat.token, webApp({ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: [`com.evil.app://${ALLOWED}/cb`] }))
    expect(native.status, `private-use scheme accepted under a host policy: ${native.text}`).toBe(400)
  })

  it('the server does not call URIs a registrant names outside the token’s hosts (jwks_uri to an OUTBOUND_ALLOWED_HOSTS address)', async () => {
    const hits: string[] = []
    const internal: Server = createServer((req, res) => { hits.push(`${req.method} ${req.url}`); res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}') })
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve))
    try {
      const port = (internal.address() as AddressInfo).port
      const iat = await w.issue({ allowedRedirectHosts: [ALLOWED], allowedGrantTypes: ['client_credentials'], clientType: 'confidential', maxUses: 3 })
      const res = await w.reg.register(iat.token, {
        client_name: 'Internal prober', grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
        token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `http://127.0.0.1:${port}/internal/admin?probe=1`,
      })
      if (res.status === 201) {
        // Trigger the fetch: a client assertion the server verifies with the registered jwks_uri.
        const { privateKey } = await generateKeyPair('ES256')
        const clientId = res.json.client_id as string
        const assertion = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer(clientId).setSubject(clientId)
          .setAudience(w.iam.issuer).setJti(crypto.randomUUID()).setIssuedAt().setExpirationTime('1m').sign(privateKey)
        await answer(await fetch(`${w.iam.issuer}/token`, {
          method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
        }))
      }
      expect(hits, `registration ${res.status}; internal host was called: ${hits.join(', ')}`).toEqual([])
    } finally {
      internal.close()
    }
  })

  it('a back-channel logout URI outside the token’s hosts is refused', async () => {
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED], maxUses: 3 })
    const res = await w.reg.register(iat.token, webApp({ backchannel_logout_uri: 'http://127.0.0.1:6379/' }))
    expect(res.status, `accepted: ${res.text}`).toBe(400)
  })

  it('model rules hold for registrants: none + client_credentials, HS256/none request objects, private keys in jwks', async () => {
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED], allowedGrantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], maxUses: 10 })
    const publicCc = await w.reg.register(iat.token, { client_name: 'x', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'none' })
    expect(publicCc.status, publicCc.text).toBe(400)
    for (const alg of ['HS256', 'none']) {
      const res = await w.reg.register(iat.token, webApp({ request_object_signing_alg: alg }))
      expect(res.status, `${alg}: ${res.text}`).toBe(400)
    }
    const { privateKey } = await generateKeyPair('ES256', { extractable: true })
    const priv = await exportJWK(privateKey)
    const withPrivate = await w.reg.register(iat.token, webApp({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...priv, alg: 'ES256', use: 'sig' }] } }))
    expect(withPrivate.status, withPrivate.text).toBe(400)
    const symmetric = await w.reg.register(iat.token, webApp({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0' }] } }))
    expect(symmetric.status, symmetric.text).toBe(400)
    // A logo or policy link that runs script is not a page.
    expect((await w.reg.register(iat.token, webApp({ logo_uri: 'javascript:alert(1)' }))).status).toBe(400)
    expect((await w.reg.register(iat.token, webApp({ policy_uri: 'data:text/html,<script>alert(1)</script>' }))).status).toBe(400)
  })

  it('a registrant cannot choose its client_id (a built-in’s, or another client’s)', async () => {
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED], maxUses: 3 })
    for (const id of ['admin-console', 'iam-account']) {
      const res = await w.reg.register(iat.token, webApp({ client_id: id }))
      if (res.status === 201) expect(res.json.client_id).not.toBe(id)
    }
    const console = await w.call(w.rootToken, 'GET', '/clients/admin-console')
    expect(console.json.registeredBy).toBe('admin')
    expect(console.json.builtIn).toBe(true)
  })

  // --- RFC 7592 ---------------------------------------------------------------------------------

  it('one client’s registration access token reads, changes and deletes nothing else, built-ins included', async () => {
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED], maxUses: 2 })
    const a = (await w.reg.register(iat.token, webApp({ client_name: 'A' }))).json
    const b = (await w.reg.register(iat.token, webApp({ client_name: 'B' }))).json
    for (const target of [b.registration_client_uri as string, `${w.iam.issuer}/reg/admin-console`, `${w.iam.issuer}/reg/iam-account`]) {
      expect((await w.reg.read(target, a.registration_access_token)).status, target).toBe(401)
      expect((await w.reg.update(target, a.registration_access_token, { ...webApp(), client_id: target.split('/').pop() })).status, target).toBe(401)
      expect((await w.reg.remove(target, a.registration_access_token)).status, target).toBe(401)
    }
    // A forged token is not one either.
    expect((await w.reg.read(`${w.iam.issuer}/reg/admin-console`, 'forged-token-value-forged-token-value-xx')).status).toBe(401)
    expect((await w.reg.read(b.registration_client_uri, b.registration_access_token)).json.client_name).toBe('B')
    expect((await w.call(w.rootToken, 'GET', '/clients/admin-console')).json.disabled).toBe(false)
  })

  it('RFC 7592 updates stay within the token’s policy and the model; the hash never leaks; a wrong or hashed secret is refused', async () => {
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED], allowedGrantTypes: ['authorization_code', 'refresh_token'], clientType: 'confidential', maxUses: 1 })
    const created = (await w.reg.register(iat.token, webApp())).json
    const { client_id: clientId, client_secret: secret, registration_client_uri: uri } = created
    let rat = created.registration_access_token as string
    const hash = (await w.iam.databaseNow((p) => p.client.findUniqueOrThrow({ where: { id: clientId } }))).secretHash!
    const read = await w.reg.read(uri, rat)
    expect(read.text).not.toContain(hash)
    expect(read.text).not.toMatch(/sha256\$|scrypt\$/)

    const attempts: Json[] = [
      webApp({ grant_types: ['authorization_code', 'client_credentials'] }),
      webApp({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code'], redirect_uris: [], response_types: [] }),
      webApp({ token_endpoint_auth_method: 'none' }),
      webApp({ redirect_uris: [`https://${ALLOWED}/cb`, 'https://evil.example/cb'] }),
      webApp({ post_logout_redirect_uris: ['https://evil.example/out'] }),
      webApp({ client_secret: `${secret}x` }),
      webApp({ client_secret: hash }),
    ]
    for (const body of attempts) {
      const res = await w.reg.update(uri, rat, { ...body, client_id: clientId })
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.text).not.toContain(hash)
    }
    // With its secret, a plain rename works; the hash is still not echoed and the secret still works.
    const ok = await w.reg.update(uri, rat, { ...webApp({ client_name: 'Renamed' }), client_id: clientId, client_secret: secret })
    expect(ok.status, ok.text).toBe(200)
    expect(ok.text).not.toContain(hash)
    rat = ok.json.registration_access_token
    expect(await secretWorks(w.iam.issuer, clientId, secret)).toBe(true)
    const row = await w.iam.databaseNow((p) => p.client.findUniqueOrThrow({ where: { id: clientId } }))
    expect(row.metadata as Json).toMatchObject({ grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'client_secret_basic' })
  })

  // --- Tenant administrators and built-in clients -----------------------------------------------

  it('a tenant administrator cannot reach another tenant’s or a global client, make one first-party or give admin permissions', async () => {
    const global = await w.call(w.rootToken, 'POST', '/clients', { name: 'Global app', kind: 'web', redirectUris: [SPA_REDIRECT] })
    expect(global.status, global.text).toBe(201)
    const gid = encodeURIComponent(global.json.client.id)
    expect((await w.call(w.acmeToken, 'GET', `/clients/${gid}`)).status).toBe(404)
    expect((await w.call(w.acmeToken, 'PATCH', `/clients/${gid}`, { name: 'Owned' })).status).toBe(404)
    expect((await w.call(w.acmeToken, 'PATCH', `/clients/${gid}`, { disabled: true })).status).toBe(404)
    expect((await w.call(w.acmeToken, 'POST', `/clients/${gid}/secret`, {})).status).toBe(404)
    expect((await w.call(w.acmeToken, 'DELETE', `/clients/${gid}`)).status).toBe(404)

    const other = await w.call(w.rootToken, 'POST', '/tenants', { slug: 'other-attack', name: 'Other' })
    const otherId = other.json?.id as string | undefined
    if (otherId) expect((await w.call(w.acmeToken, 'POST', '/clients', { name: 'x', kind: 'service', tenantId: otherId })).status).toBe(403)
    expect((await w.call(w.acmeToken, 'POST', '/clients', { name: 'x', kind: 'web', redirectUris: [SPA_REDIRECT], firstParty: true })).status).toBe(403)
    expect((await w.call(w.acmeToken, 'POST', '/clients', { name: 'x', kind: 'service', adminPermissions: ['clients:read'] })).status).toBe(403)
    expect((await w.call(w.acmeToken, 'POST', '/registration-tokens', { allowedRedirectHosts: [ALLOWED], tenantId: otherId ?? 'nope' })).status).toBe(403)

    // A dynamic client (registered with the tenant's token) cannot be made first-party by its tenant's admin.
    const own = await w.issue({ allowedRedirectHosts: [ALLOWED] }, w.acmeToken)
    const dyn = await w.reg.register(own.token, webApp())
    expect(dyn.status).toBe(201)
    const fp = await w.call(w.acmeToken, 'PATCH', `/clients/${encodeURIComponent(dyn.json.client_id)}`, { firstParty: true })
    expect(fp.status).toBe(403)
  })

  it('the built-in clients cannot be changed, disabled, rotated or deleted through the admin API, even by a global administrator', async () => {
    for (const id of ['admin-console', 'iam-account']) {
      expect((await w.call(w.rootToken, 'PATCH', `/clients/${id}`, { redirectUris: ['https://evil.example/cb'] })).status, id).toBe(409)
      expect((await w.call(w.rootToken, 'PATCH', `/clients/${id}`, { disabled: true })).status, id).toBe(409)
      expect((await w.call(w.rootToken, 'POST', `/clients/${id}/secret`, {})).status, id).toBeGreaterThanOrEqual(400)
      expect((await w.call(w.rootToken, 'DELETE', `/clients/${id}`)).status, id).toBe(409)
      expect([403, 404]).toContain((await w.call(w.acmeToken, 'PATCH', `/clients/${id}`, { disabled: true })).status)
      const row = await w.call(w.rootToken, 'GET', `/clients/${id}`)
      expect(row.json.disabled).toBe(false)
      expect(row.json.redirectUris).not.toContain('https://evil.example/cb')
    }
  })

  // --- PKCE, lifetimes and formats ---------------------------------------------------------------

  it('PKCE cannot be turned off for a public client by any admin door', async () => {
    expect((await w.call(w.rootToken, 'POST', '/clients', { name: 'spa', kind: 'spa', redirectUris: [SPA_REDIRECT], requirePkce: false })).status).toBe(400)
    expect((await w.call(w.rootToken, 'POST', '/clients', { name: 'native', kind: 'native', redirectUris: ['com.example.app:/cb'], requirePkce: false })).status).toBe(400)
    const spa = await w.call(w.rootToken, 'POST', '/clients', { name: 'spa', kind: 'spa', redirectUris: [SPA_REDIRECT] })
    expect(spa.status, spa.text).toBe(201)
    expect((await w.call(w.rootToken, 'PATCH', `/clients/${encodeURIComponent(spa.json.client.id)}`, { requirePkce: false })).status).toBe(400)
    // A confidential client without PKCE cannot become public while keeping the opt-out.
    const legacy = await w.call(w.rootToken, 'POST', '/clients', { name: 'legacy', kind: 'web', redirectUris: [SPA_REDIRECT], requirePkce: false })
    expect(legacy.status, legacy.text).toBe(201)
    expect((await w.call(w.rootToken, 'PATCH', `/clients/${encodeURIComponent(legacy.json.client.id)}`, { tokenEndpointAuthMethod: 'none' })).status).toBe(400)
    const auth = await fetch(`${w.iam.issuer}/auth?${new URLSearchParams({ client_id: spa.json.client.id, redirect_uri: SPA_REDIRECT, response_type: 'code', scope: 'openid' })}`, { redirect: 'manual' })
    expect(new URL(auth.headers.get('location') ?? '', w.iam.issuer).searchParams.get('error')).toBe('invalid_request')
  })

  it('a client’s accessTokenTtl and accessTokenFormat do not lengthen or change the admin API’s tokens', async () => {
    const svc = await w.call(w.rootToken, 'POST', '/clients', { name: 'svc', kind: 'service', adminPermissions: ['clients:read'], accessTokenTtl: 86_400, accessTokenFormat: 'opaque' })
    expect(svc.status, svc.text).toBe(201)
    const res = await answer(await fetch(`${w.iam.issuer}/token`, {
      method: 'POST', headers: { authorization: basic(svc.json.client.id, svc.json.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'clients:read', resource: adminResourceOf(w.iam.issuer) }),
    }))
    expect(res.status, res.text).toBe(200)
    expect(res.json.expires_in).toBeLessThanOrEqual(900)
    expect(String(res.json.access_token).split('.')).toHaveLength(3)
    expect((await w.call(res.json.access_token, 'GET', '/clients?limit=1')).status).toBe(200)
  })

  // --- Client secrets -----------------------------------------------------------------------------

  it('a rotated secret stops at once with keepPreviousFor 0, after its expiry otherwise, and never works for another client', async () => {
    const mk = async (secret?: string) => {
      const res = await w.call(w.rootToken, 'POST', '/clients', { name: 'rot', kind: 'web', redirectUris: [SPA_REDIRECT], ...(secret ? { secret } : {}) })
      expect(res.status, res.text).toBe(201)
      return { id: res.json.client.id as string, secret: (secret ?? res.json.clientSecret) as string }
    }
    const a = await mk()
    const now = await w.call(w.rootToken, 'POST', `/clients/${encodeURIComponent(a.id)}/secret`, { keepPreviousFor: 0 })
    expect(now.status, now.text).toBe(200)
    expect(await secretWorks(w.iam.issuer, a.id, a.secret)).toBe(false)
    expect(await secretWorks(w.iam.issuer, a.id, now.json.clientSecret)).toBe(true)

    const b = await mk('short-legacy-secret')
    const c = await mk()
    const kept = await w.call(w.rootToken, 'POST', `/clients/${encodeURIComponent(b.id)}/secret`, { keepPreviousFor: 1 })
    expect(kept.status, kept.text).toBe(200)
    expect(await secretWorks(w.iam.issuer, b.id, b.secret)).toBe(true)
    // b's old (and new) secret are not c's.
    expect(await secretWorks(w.iam.issuer, c.id, b.secret)).toBe(false)
    expect(await secretWorks(w.iam.issuer, c.id, kept.json.clientSecret)).toBe(false)
    await new Promise((r) => setTimeout(r, 2_200))
    expect(await secretWorks(w.iam.issuer, b.id, b.secret)).toBe(false)
    expect(await secretWorks(w.iam.issuer, b.id, kept.json.clientSecret)).toBe(true)
    // keepPreviousFor beyond 30 days, negative or fractional: refused.
    for (const keepPreviousFor of [-1, 1.5, 31 * 86_400]) {
      expect((await w.call(w.rootToken, 'POST', `/clients/${encodeURIComponent(c.id)}/secret`, { keepPreviousFor })).status).toBe(400)
    }
  }, 30_000)

  it('secrets and their hashes appear in no API answer, audit row or log line', async () => {
    const imported = 'imp0rted-short-Secret'
    const created = await w.call(w.rootToken, 'POST', '/clients', { name: 'leak', kind: 'web', redirectUris: [SPA_REDIRECT], secret: imported })
    expect(created.status, created.text).toBe(201)
    expect(created.text).not.toContain(imported)
    const id = created.json.client.id as string
    const rotated = await w.call(w.rootToken, 'POST', `/clients/${encodeURIComponent(id)}/secret`, { keepPreviousFor: 600 })
    const fresh = rotated.json.clientSecret as string
    // Failed authentications with secrets close to the real ones.
    await secretWorks(w.iam.issuer, id, `${fresh}x`)
    await secretWorks(w.iam.issuer, id, `${imported}x`)
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED] })
    const dyn = await w.reg.register(iat.token, webApp())
    const dynSecret = dyn.json.client_secret as string
    await w.reg.update(dyn.json.registration_client_uri, dyn.json.registration_access_token, { ...webApp(), client_id: dyn.json.client_id, client_secret: `${dynSecret}x` })

    const rows = await w.iam.databaseNow((p) => p.client.findMany({ where: { id: { in: [id, dyn.json.client_id] } } }))
    const hashes = rows.flatMap((r) => [r.secretHash, r.previousSecretHash]).filter((h): h is string => Boolean(h))
    expect(hashes.length).toBe(3)
    const listing = await w.call(w.rootToken, 'GET', '/clients?limit=100')
    const one = await w.call(w.rootToken, 'GET', `/clients/${encodeURIComponent(id)}`)
    const audit = await w.call(w.rootToken, 'GET', '/audit?limit=100')
    expect(audit.status, audit.text).toBe(200)
    const logs = w.iam.logs()
    for (const [where, text] of [['listing', listing.text], ['client', one.text], ['audit', audit.text], ['logs', logs]] as const) {
      for (const s of [imported, fresh, dynSecret, `${fresh}x`, `${dynSecret}x`, ...hashes]) expect(text.includes(s), `${where} contains ${s.slice(0, 12)}…`).toBe(false)
      expect(text, where).not.toMatch(/(sha256|scrypt)\$[A-Za-z0-9_-]{10,}/)
    }
  })

  // --- JAR ----------------------------------------------------------------------------------------

  it('request objects unsigned, HMAC-signed with the secret or its hash, or naming another client are refused', async () => {
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED], maxUses: 2 })
    const victim = (await w.reg.register(iat.token, webApp({ client_name: 'victim' }))).json
    const attacker = (await w.reg.register(iat.token, webApp({ client_name: 'attacker' }))).json
    const hash = (await w.iam.databaseNow((p) => p.client.findUniqueOrThrow({ where: { id: victim.client_id } }))).secretHash!
    const claims = (clientId: string) => ({ client_id: clientId, response_type: 'code', redirect_uri: `https://${ALLOWED}/cb`, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', iss: clientId, aud: w.iam.issuer })
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const unsigned = `${b64({ alg: 'none' })}.${b64(claims(victim.client_id))}.`
    const hs = async (key: string, clientId: string) => new SignJWT(claims(clientId)).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1m').sign(new TextEncoder().encode(key))
    const { privateKey } = await generateKeyPair('ES256')
    const foreign = await new SignJWT(claims(victim.client_id)).setProtectedHeader({ alg: 'ES256' }).setIssuedAt().setExpirationTime('1m').sign(privateKey)
    const cases: [string, string, string][] = [
      ['unsigned', victim.client_id, unsigned],
      ['HS256 with the secret', victim.client_id, await hs(victim.client_secret, victim.client_id)],
      ['HS256 with the hash', victim.client_id, await hs(hash, victim.client_id)],
      ['signed by an unknown key', victim.client_id, foreign],
      ['for another client', attacker.client_id, await hs(attacker.client_secret, victim.client_id)],
    ]
    for (const [name, clientId, request] of cases) {
      const res = await fetch(`${w.iam.issuer}/auth?${new URLSearchParams({ client_id: clientId, request, response_type: 'code', scope: 'openid' })}`, { redirect: 'manual' })
      const body = await res.text()
      const location = res.headers.get('location')
      const refused = res.status === 400 || (location !== null && new URL(location, w.iam.issuer).searchParams.has('error'))
      expect(refused, `${name}: ${res.status} ${location ?? body.slice(0, 200)}`).toBe(true)
      if (location) expect(location, name).not.toMatch(/\/interaction\//)
    }
  })

  // --- Consent page and CSP -----------------------------------------------------------------------

  it('a logo’s origin is allowed only on the consent page, and pages shown to people are https', async () => {
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED] })
    const res = await w.reg.register(iat.token, webApp({ logo_uri: 'http://evil.example/logo.png' }))
    expect(res.status).toBe(400)
    const login = await fetch(`${w.iam.issuer}/healthz`)
    for (const page of [`${w.iam.issuer}/account`, `${w.iam.issuer}/`]) {
      const r = await fetch(page, { redirect: 'manual' })
      await r.arrayBuffer()
      const csp = r.headers.get('content-security-policy') ?? ''
      expect(csp, page).not.toMatch(/img-src[^;]*(https?:\/\/(?!127\.0\.0\.1)|\*|https:(?!\/))/)
    }
    await login.arrayBuffer()
  })
})

describe.each(['embedded', 'postgres-redis'] as const)('initial access token race, failed secret checks (%s)', (mode) => {
  let w: World
  // A small per-client limit at the token endpoint (the two admin sign-ins use the console's client twice).
  beforeAll(async () => { w = await startWorld(mode, { RATE_LIMIT_TOKEN_CLIENT: '20/60', RATE_LIMIT_CLIENT_AUTH_FAILURE: '20/300' }) }, 240_000)
  afterAll(async () => { await w?.iam.close() })

  it('a one-use token fired ten times at once registers exactly one client', async () => {
    const iat = await w.issue({ allowedRedirectHosts: [ALLOWED], maxUses: 1 })
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => w.reg.register(iat.token, webApp({ client_name: `racer ${i}` }))))
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((s) => s === 201), statuses.join(',')).toHaveLength(1)
    expect(statuses.every((s) => s === 201 || s === 401), statuses.join(',')).toBe(true)
    const row = await w.call(w.rootToken, 'GET', `/registration-tokens/${encodeURIComponent(iat.id)}`)
    expect(row.json).toMatchObject({ uses: 1, state: 'spent' })
    expect(row.json.clientIds).toHaveLength(1)
    const listed = await w.call(w.rootToken, 'GET', '/clients?limit=100')
    expect(listed.json.items.filter((c: Json) => String(c.name).startsWith('racer '))).toHaveLength(1)
  })

  // An imported short secret is checked with scrypt (16 MiB, tens of milliseconds, on libuv's four
  // threads): wrong guesses must be bounded per client, at every endpoint that authenticates clients,
  // or anyone who knows such a client's (public) id can keep the pool busy and guess without limit.
  it('wrong-secret guesses against a client with a scrypt secret are limited at the token and introspection endpoints', async () => {
    const created = await w.call(w.rootToken, 'POST', '/clients', { name: 'legacy', kind: 'web', redirectUris: [SPA_REDIRECT], secret: 'legacy-short-pw' })
    expect(created.status, created.text).toBe(201)
    const id = created.json.client.id as string
    for (const path of ['/token', '/token/introspection']) {
      const statuses: number[] = []
      for (let i = 0; i < 40; i++) {
        const res = await fetch(`${w.iam.issuer}${path}`, {
          method: 'POST', headers: { authorization: basic(id, `guess-${i}`), 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(path === '/token' ? { grant_type: 'client_credentials' } : { token: 'x' }),
        })
        await res.arrayBuffer()
        statuses.push(res.status)
      }
      expect(statuses, `${path}: ${[...new Set(statuses)].join(',')}`).toContain(429)
    }
  }, 60_000)
})

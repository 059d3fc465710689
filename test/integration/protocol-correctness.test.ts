// Protocol details relying parties and resource servers depend on, as they see them at the
// endpoints: each resource server's access-token lifetime, introspection of a disabled client's
// tokens, essential acr requests, prompt=login, refresh with a wrong resource, the device flow's
// polling interval, discovery's endpoint auth methods, back-channel logout failures, the logout
// page and private_key_jwt assertion bounds. openid-client is the RP; pages are walked with
// HttpBrowser. Both storage modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose'
import { createIam, createTestDatabase, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { startRedis, type RedisServer } from '../support/redis-server.ts'
import { startBalancer, type Balancer } from '../support/balancer.ts'
import { generateJwks } from '../../src/oidc/keys.ts'
import { HttpBrowser, formWithAction, signIn, type PageResponse } from '../support/browser.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'
import { ALICE, OPAQUE_API, SPA_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import { registerResourceServer } from '../../src/oidc/resource-servers.ts'
import { createClient } from '../../src/clients/registry.ts'
import { ADMIN_PERMISSIONS, adminResource, setClientAdminPermissions } from '../../src/admin/permissions.ts'
import { ADMIN_TEST_CLIENT, ADMIN_TEST_REDIRECT, adminApi, personToken, serviceToken } from '../support/admin.ts'
import { addTotpFactor, totpCode } from '../support/mfa-fixtures.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }

/** A registered API whose tokens live 2 minutes (neither the default nor the admin API's 15). */
const SHORT_API = { identifier: 'https://short.example.test', ttl: 120 }
const SVC_ADMIN = { clientId: 'svc-admin', secret: 'svc-admin-secret-0123456789-0123456789-abcdef' }
const ADMIN = { login: 'root@example.test', password: 'root passphrase for the admin api' }
/** Clients that get disabled, re-enabled or deleted: their tokens must stop being active. */
const SPA_OFF = { clientId: 'spa-off', redirect: 'http://localhost:5174/callback' }
const SVC_OFF = { clientId: 'svc-off', secret: 'svc-off-secret-0123456789-0123456789-0123456789' }
const SVC_GONE = { clientId: 'svc-gone', secret: 'svc-gone-secret-0123456789-0123456789-012345678' }
/** A person with an authenticator app who has not yet consented to any client. */
const CAROL = { email: 'carol@example.test', password: 'carol has a second factor too' }
/** A native app on a TV: the kind of client that gets the device_code grant. */
const TV = { clientId: 'hall-tv', name: 'Hall TV', redirect: 'http://127.0.0.1/callback' }
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
/**
 * A web app whose back-channel logout URI the outbound (SSRF) policy blocks: 127.0.0.2 is loopback
 * and not in OUTBOUND_ALLOWED_HOSTS. Its query holds a canary that must appear in no log or audit row.
 */
const BLOCKED_BC = { clientId: 'web-blocked-bc', secret: 'web-blocked-bc-secret-0123456789-0123456789', redirect: 'http://localhost:8081/callback', canary: 'bc-canary-5e1f0a' }
/** A service that authenticates with private_key_jwt (its public key registered inline). */
const SVC_JWT = { clientId: 'svc-jwt' }
const SVC_SHORT = { clientId: 'svc-short', secret: 'svc-short-secret-0123456789-0123456789-abcdef' }
/** A service with an admin permission that gets disabled and enabled again. */
const SVC_ADMIN_OFF = { clientId: 'svc-admin-off', secret: 'svc-admin-off-secret-0123456789-0123456789-abc' }

/** A global administrator with a second factor (admin actions may need step-up); returns the TOTP secret. */
async function createAdministrator(prisma: PrismaClient): Promise<string> {
  const root = await createUser(prisma, { email: ADMIN.login, password: ADMIN.password, emailVerified: true })
  await assignRole(prisma, root.id, (await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])).id)
  await createClient(prisma, { clientId: ADMIN_TEST_CLIENT, name: 'Admin test RP', kind: 'spa', firstParty: true, redirectUris: [ADMIN_TEST_REDIRECT] })
  return addTotpFactor(prisma, root.id)
}

async function createClientsThatGoAway(prisma: PrismaClient): Promise<void> {
  await createClient(prisma, { clientId: SPA_OFF.clientId, name: 'Soon disabled SPA', kind: 'spa', redirectUris: [SPA_OFF.redirect] })
  await createClient(prisma, { clientId: SVC_OFF.clientId, name: 'Soon disabled service', kind: 'service', secret: SVC_OFF.secret })
  await createClient(prisma, { clientId: SVC_GONE.clientId, name: 'Soon deleted service', kind: 'service', secret: SVC_GONE.secret })
}

/** What the 'web' client (a confidential resource server) learns by introspecting `token`. */
async function introspect(issuer: string, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`web:${encodeURIComponent(WEB_SECRET)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

/** A person's tokens (opaque access token for userinfo, refresh token) for the SPA_OFF client, and a service's for SVC. */
async function tokensOfClientsThatGoAway(issuer: string, svc: { clientId: string; secret: string }) {
  const spaOff = await oidc.discovery(new URL(issuer), SPA_OFF.clientId, undefined, oidc.None(), insecure)
  const verifier = oidc.randomPKCECodeVerifier()
  const url = oidc.buildAuthorizationUrl(spaOff, {
    redirect_uri: SPA_OFF.redirect, scope: 'openid offline_access', prompt: 'consent',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  })
  const callback = await signIn(new HttpBrowser(issuer), url.href, { login: ALICE.email, password: ALICE.password })
  const person = await oidc.authorizationCodeGrant(spaOff, callback, { pkceCodeVerifier: verifier })
  const service = await oidc.discovery(new URL(issuer), svc.clientId, svc.secret, oidc.ClientSecretBasic(svc.secret), insecure)
  const serviceTokens = await oidc.clientCredentialsGrant(service, { scope: 'read', resource: OPAQUE_API })
  return { spaOff, accessToken: person.access_token, refreshToken: person.refresh_token!, sub: person.claims()!.sub, serviceToken: serviceTokens.access_token }
}

describe.each(STORAGE_MODES)('protocol correctness (%s)', (mode) => {
  let iam: IamInstance
  let spa: oidc.Configuration
  let adminTotp: string
  let carolTotp: string
  let svcJwtKey: CryptoKey

  beforeAll(async () => {
    iam = await createIam(mode)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      carolTotp = await addTotpFactor(prisma, (await createUser(prisma, { email: CAROL.email, password: CAROL.password, emailVerified: true })).id)
      await createClientsThatGoAway(prisma)
      await registerResourceServer(prisma, { identifier: SHORT_API.identifier, name: 'Short-lived API', scopes: ['read'], ttl: SHORT_API.ttl })
      await createClient(prisma, { clientId: SVC_ADMIN.clientId, name: 'Admin automation', kind: 'service', secret: SVC_ADMIN.secret })
      await setClientAdminPermissions(prisma, SVC_ADMIN.clientId, ADMIN_PERMISSIONS)
      await createClient(prisma, { clientId: SVC_ADMIN_OFF.clientId, name: 'Paused admin automation', kind: 'service', secret: SVC_ADMIN_OFF.secret })
      await setClientAdminPermissions(prisma, SVC_ADMIN_OFF.clientId, ['users:read'])
      adminTotp = await createAdministrator(prisma)
      await createClient(prisma, {
        clientId: BLOCKED_BC.clientId, name: 'Blocked back-channel app', kind: 'web', secret: BLOCKED_BC.secret, redirectUris: [BLOCKED_BC.redirect],
        backchannelLogoutUri: `http://127.0.0.2:9/backchannel?token=${BLOCKED_BC.canary}`,
      })
      const keys = await generateKeyPair('ES256')
      svcJwtKey = keys.privateKey
      const jwk = { ...(await exportJWK(keys.publicKey)), alg: 'ES256', use: 'sig', kid: 'svc-jwt-1' } as const
      await createClient(prisma, { clientId: SVC_JWT.clientId, name: 'Key-holding service', kind: 'service', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk as { kty: 'EC' }] } })
      await createClient(prisma, { clientId: TV.clientId, name: TV.name, kind: 'native', redirectUris: [TV.redirect] })
      await createClient(prisma, { clientId: SVC_SHORT.clientId, name: 'Short API automation', kind: 'service', secret: SVC_SHORT.secret })
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  })

  afterAll(async () => {
    await iam?.close()
  })

  // One administrator's token at a time: a TOTP code is accepted once, so a second sign-in within
  // its 30 s would be refused. A new one after five minutes, because the admin API counts a second
  // factor for ten (src/admin/route.ts) and a slow machine may take that long between uses.
  let adminSignIn: { at: number; token: Promise<string> } | undefined
  const adminToken = () => {
    if (!adminSignIn || Date.now() - adminSignIn.at > 5 * 60_000) {
      adminSignIn = { at: Date.now(), token: personToken(iam.issuer, { ...ADMIN, totpSecret: adminTotp }, ['users:read', 'clients:read', 'clients:write']) }
    }
    return adminSignIn.token
  }

  /** Request lines with a 5xx status, and error lines, the server logged after `from`. */
  async function expectNoServerErrors(from: number) {
    await new Promise((r) => setTimeout(r, 150))
    expect(iam.logs().slice(from).split('\n').filter((line) => /"status":5\d\d/.test(line) || /"level":(50|60)/.test(line))).toEqual([])
  }

  async function authorizationParams(params: Record<string, string>) {
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    return {
      verifier, state,
      params: {
        redirect_uri: SPA_REDIRECT, state,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        ...params,
      },
    }
  }

  /** Answers the login and consent pages as Alice; returns the first response off the server's origin and the steps seen. */
  async function walkPages(browser: HttpBrowser, res: PageResponse): Promise<{ res: PageResponse; seen: string[] }> {
    const seen: string[] = []
    for (let step = 0; step < 8; step++) {
      if (new URL(res.url).origin !== browser.origin) return { res, seen }
      const post = (suffix: string, fields: Record<string, string>) => {
        const form = formWithAction(res.body, suffix)
        return browser.navigate(new URL(form.action, browser.origin).href, { form: { ...form.fields, ...fields } })
      }
      if (/\/login"/.test(res.body)) {
        seen.push('login')
        res = await post('/login', { login: ALICE.email, password: ALICE.password })
      } else if (/\/consent"/.test(res.body)) {
        seen.push('consent')
        res = await post('/consent', {})
      } else {
        return { res, seen }
      }
    }
    throw new Error('interactions did not finish')
  }

  /** The access token's lifetime as a resource server reads it, and as the token response states it. */
  const lifetimeOf = (tokens: { access_token: string; expires_in?: number }) => {
    const { exp, iat } = decodeJwt(tokens.access_token)
    return { jwt: exp! - iat!, expiresIn: tokens.expires_in }
  }

  describe('access-token lifetime per resource server', () => {
    it('client credentials: the admin API\'s tokens live 15 minutes, a registered API\'s its own', async () => {
      const logMark = iam.logs().length
      const admin = await oidc.discovery(new URL(iam.issuer), SVC_ADMIN.clientId, SVC_ADMIN.secret, oidc.ClientSecretBasic(SVC_ADMIN.secret), insecure)
      const adminTokens = await oidc.clientCredentialsGrant(admin, { scope: 'users:read', resource: adminResource(iam.issuer) })
      expect(lifetimeOf(adminTokens)).toEqual({ jwt: 900, expiresIn: 900 })

      const svc = await oidc.discovery(new URL(iam.issuer), SVC_SHORT.clientId, SVC_SHORT.secret, oidc.ClientSecretBasic(SVC_SHORT.secret), insecure)
      const shortTokens = await oidc.clientCredentialsGrant(svc, { scope: 'read', resource: SHORT_API.identifier })
      expect(lifetimeOf(shortTokens)).toEqual({ jwt: SHORT_API.ttl, expiresIn: SHORT_API.ttl })
      await expectNoServerErrors(logMark)
    })

    it('authorization code: an administrator\'s admin-API token lives 15 minutes', async () => {
      const { aud, exp, iat } = decodeJwt(await adminToken())
      expect(aud).toBe(adminResource(iam.issuer))
      expect(exp! - iat!).toBe(900)
    })

    it('authorization code and refresh: a person\'s token for a registered API lives as long as that API says', async () => {
      const logMark = iam.logs().length
      const req = await authorizationParams({ scope: 'openid read offline_access', resource: SHORT_API.identifier, prompt: 'consent' })
      const browser = new HttpBrowser(iam.issuer)
      const { res } = await walkPages(browser, await browser.navigate(oidc.buildAuthorizationUrl(spa, req.params).href))
      const tokens = await oidc.authorizationCodeGrant(spa, new URL(res.url), { pkceCodeVerifier: req.verifier, expectedState: req.state }, { resource: SHORT_API.identifier })
      expect(decodeJwt(tokens.access_token).aud).toBe(SHORT_API.identifier)
      expect(lifetimeOf(tokens)).toEqual({ jwt: SHORT_API.ttl, expiresIn: SHORT_API.ttl })
      const refreshed = await oidc.refreshTokenGrant(spa, tokens.refresh_token!, { resource: SHORT_API.identifier })
      expect(lifetimeOf(refreshed)).toEqual({ jwt: SHORT_API.ttl, expiresIn: SHORT_API.ttl })
      await expectNoServerErrors(logMark)
    })
  })

  describe('requested authentication context (acr)', () => {
    const unsupportedEssential = JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:example:unsupported'] } } })

    it('an essential acr the server cannot satisfy fails with unmet_authentication_requirements, before and within a session', async () => {
      const logMark = iam.logs().length
      const browser = new HttpBrowser(iam.issuer)
      const req = await authorizationParams({ scope: 'openid', claims: unsupportedEssential })
      const first = await browser.navigate(oidc.buildAuthorizationUrl(spa, req.params).href)
      // No password is asked for what no password can give.
      const refused = new URL(first.url)
      expect(refused.origin + refused.pathname).toBe(SPA_REDIRECT)
      expect(refused.searchParams.get('error')).toBe('unmet_authentication_requirements')
      expect(refused.searchParams.get('state')).toBe(req.state)
      expect(refused.searchParams.get('code')).toBeNull()

      // Signed in, the same request is refused too (the session's acr is not one of those asked).
      const plain = await authorizationParams({ scope: 'openid' })
      const { res: signedIn } = await walkPages(browser, await browser.navigate(oidc.buildAuthorizationUrl(spa, plain.params).href))
      expect(new URL(signedIn.url).searchParams.get('code')).toBeTruthy()
      const again = await authorizationParams({ scope: 'openid', claims: unsupportedEssential })
      const inSession = new URL((await browser.navigate(oidc.buildAuthorizationUrl(spa, again.params).href)).url)
      expect(inSession.origin + inSession.pathname).toBe(SPA_REDIRECT)
      expect(inSession.searchParams.get('error')).toBe('unmet_authentication_requirements')
      expect(inSession.searchParams.get('code')).toBeNull()
      await expectNoServerErrors(logMark)
    })

    it('an essential acr list that names one we issue, and voluntary acr_values we do not know, sign in as usual', async () => {
      const logMark = iam.logs().length
      for (const params of [
        { claims: JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:example:unsupported', 'urn:iam:acr:pwd'] } } }) },
        { acr_values: 'urn:example:unsupported' },
      ] as Record<string, string>[]) {
        const req = await authorizationParams({ scope: 'openid', ...params })
        const browser = new HttpBrowser(iam.issuer)
        const { res, seen } = await walkPages(browser, await browser.navigate(oidc.buildAuthorizationUrl(spa, req.params).href))
        expect(seen).toContain('login')
        const tokens = await oidc.authorizationCodeGrant(spa, new URL(res.url), { pkceCodeVerifier: req.verifier, expectedState: req.state })
        expect(tokens.claims()!.acr).toBe('urn:iam:acr:pwd')
      }
      await expectNoServerErrors(logMark)
    })
  })

  describe('prompt=login', () => {
    it('on a first consent asks for the password and the second factor once each', async () => {
      const logMark = iam.logs().length
      const req = await authorizationParams({ scope: 'openid profile', prompt: 'login' })
      const browser = new HttpBrowser(iam.issuer)
      let res = await browser.navigate(oidc.buildAuthorizationUrl(spa, req.params).href)
      const seen: string[] = []
      const post = (suffix: string, fields: Record<string, string>) => {
        const form = formWithAction(res.body, suffix)
        return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
      }
      for (let step = 0; step < 8 && new URL(res.url).origin === iam.issuer; step++) {
        if (/\/login"/.test(res.body)) {
          seen.push('password')
          if (seen.filter((s) => s === 'password').length > 1) break
          res = await post('/login', { login: CAROL.email, password: CAROL.password })
        } else if (/\/mfa\/verify"/.test(res.body)) {
          seen.push('second factor')
          if (seen.filter((s) => s === 'second factor').length > 1) break
          res = await post('/mfa/verify', { code: await totpCode(carolTotp) })
        } else if (/\/mfa\/select"/.test(res.body)) {
          const method = [...res.body.matchAll(/name="method" value="([^"]*)"/g)].map((m) => m[1]!).find((v) => v !== 'backup')!
          res = await post('/mfa/select', { method })
        } else if (/\/consent"/.test(res.body)) {
          seen.push('consent')
          res = await post('/consent', {})
        } else {
          throw new Error(`unexpected page (${res.status}): ${res.body.slice(0, 1500)}`)
        }
      }
      expect(seen).toEqual(['password', 'second factor', 'consent'])
      const tokens = await oidc.authorizationCodeGrant(spa, new URL(res.url), { pkceCodeVerifier: req.verifier, expectedState: req.state })
      expect(tokens.claims()!.acr).toBe('urn:iam:acr:mfa')
      await expectNoServerErrors(logMark)
    })
  })

  describe('a resource the grant does not cover, at the token endpoint', () => {
    it('an authorization code redeemed for a resource it was not issued for is refused without spending the code', async () => {
      const logMark = iam.logs().length
      const req = await authorizationParams({ scope: 'openid read', resource: SHORT_API.identifier, prompt: 'consent' })
      const browser = new HttpBrowser(iam.issuer)
      const { res } = await walkPages(browser, await browser.navigate(oidc.buildAuthorizationUrl(spa, req.params).href))
      const callback = new URL(res.url)
      const redeem = (resource: string) => oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state }, { resource })
      await expect(redeem(OPAQUE_API)).rejects.toMatchObject({ error: 'invalid_target' })
      const tokens = await redeem(SHORT_API.identifier)
      expect(decodeJwt(tokens.access_token).aud).toBe(SHORT_API.identifier)
      await expectNoServerErrors(logMark)
    })

    it('is refused with invalid_target without spending the rotating refresh token: the corrected retry works', async () => {
      const logMark = iam.logs().length
      const req = await authorizationParams({ scope: 'openid read offline_access', resource: SHORT_API.identifier, prompt: 'consent' })
      const browser = new HttpBrowser(iam.issuer)
      const { res } = await walkPages(browser, await browser.navigate(oidc.buildAuthorizationUrl(spa, req.params).href))
      const tokens = await oidc.authorizationCodeGrant(spa, new URL(res.url), { pkceCodeVerifier: req.verifier, expectedState: req.state }, { resource: SHORT_API.identifier })
      // A registered API the person never granted, an unregistered one, and two at once.
      for (const resource of [OPAQUE_API, 'https://unknown.example.test']) {
        await expect(oidc.refreshTokenGrant(spa, tokens.refresh_token!, { resource })).rejects.toMatchObject({ error: 'invalid_target' })
      }
      await expect(oidc.refreshTokenGrant(spa, tokens.refresh_token!, { resource: [SHORT_API.identifier, OPAQUE_API] as unknown as string })).rejects.toMatchObject({ error: 'invalid_target' })
      // The same refresh token, asked correctly: the spa client's refresh tokens rotate on every use.
      const refreshed = await oidc.refreshTokenGrant(spa, tokens.refresh_token!, { resource: SHORT_API.identifier })
      expect(decodeJwt(refreshed.access_token).aud).toBe(SHORT_API.identifier)
      expect(refreshed.refresh_token).toBeTruthy()
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token)
      await expectNoServerErrors(logMark)
    })
  })

  describe('device authorization grant polling', () => {
    /** One poll of the token endpoint, as a device does it. */
    async function poll(deviceCode: string) {
      const res = await fetch(`${iam.issuer}/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: DEVICE_CODE_GRANT, device_code: deviceCode, client_id: TV.clientId }),
      })
      return { status: res.status, error: ((await res.json()) as { error?: string }).error }
    }

    it('tells the device how often to poll (interval), and answers slow_down to a device that polls faster', async () => {
      const logMark = iam.logs().length
      const tv = await oidc.discovery(new URL(iam.issuer), TV.clientId, undefined, oidc.None(), insecure)
      const device = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' })
      expect(device.interval).toBe(5)
      expect(await poll(device.device_code)).toEqual({ status: 400, error: 'authorization_pending' })
      expect(await poll(device.device_code)).toEqual({ status: 400, error: 'slow_down' })
      // Another device's polling is its own.
      const other = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' })
      expect(await poll(other.device_code)).toEqual({ status: 400, error: 'authorization_pending' })
      // At the interval, the first device is told to keep waiting again.
      await new Promise((r) => setTimeout(r, 5_100))
      expect(await poll(device.device_code)).toEqual({ status: 400, error: 'authorization_pending' })
      await expectNoServerErrors(logMark)
    })
  })

  describe('discovery', () => {
    it('names the client authentication methods introspection and revocation accept (those of the token endpoint)', async () => {
      const meta = await (await fetch(`${iam.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>
      const methods = meta.token_endpoint_auth_methods_supported
      expect(methods).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'private_key_jwt']))
      expect(meta.introspection_endpoint_auth_methods_supported).toEqual(methods)
      expect(meta.revocation_endpoint_auth_methods_supported).toEqual(methods)
      expect(meta.introspection_endpoint_auth_signing_alg_values_supported).toEqual(meta.token_endpoint_auth_signing_alg_values_supported)
      expect(meta.revocation_endpoint_auth_signing_alg_values_supported).toEqual(meta.token_endpoint_auth_signing_alg_values_supported)
      // What is listed works: client_secret_post at introspection.
      const res = await fetch(meta.introspection_endpoint as string, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: 'not-a-token', client_id: 'web', client_secret: WEB_SECRET }),
      })
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { active: false } })
    })
  })

  describe('back-channel logout', () => {
    it('a delivery the outbound policy blocks is audited and logged as a failure, without the URI\'s query', async () => {
      const web = await oidc.discovery(new URL(iam.issuer), BLOCKED_BC.clientId, BLOCKED_BC.secret, oidc.ClientSecretBasic(BLOCKED_BC.secret), insecure)
      const verifier = oidc.randomPKCECodeVerifier()
      const url = oidc.buildAuthorizationUrl(web, {
        redirect_uri: BLOCKED_BC.redirect, scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      })
      const browser = new HttpBrowser(iam.issuer)
      const { res } = await walkPages(browser, await browser.navigate(url.href))
      const tokens = await oidc.authorizationCodeGrant(web, new URL(res.url), { pkceCodeVerifier: verifier })
      const logMark = iam.logs().length
      const confirm = await browser.navigate(oidc.buildEndSessionUrl(web, { id_token_hint: tokens.id_token! }).href)
      const form = formWithAction(confirm.body, '/session/end/confirm')
      const done = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, logout: 'yes' } })
      expect(done.status).toBe(200)

      await expect.poll(() => iam.logs().slice(logMark), { timeout: 5_000 }).toMatch(/back-channel logout failed/)
      const warning = iam.logs().slice(logMark).split('\n').find((line) => line.includes('back-channel logout failed'))!
      expect(JSON.parse(warning)).toMatchObject({ level: 40, clientId: BLOCKED_BC.clientId })
      const rows = await iam.databaseNow((prisma) => prisma.auditEvent.findMany({ where: { type: 'backchannel_logout' } }), { settleMs: 500 })
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ outcome: 'failure', clientId: BLOCKED_BC.clientId, userId: tokens.claims()!.sub })
      expect(JSON.stringify(rows)).not.toContain(BLOCKED_BC.canary)
      expect(iam.logs()).not.toContain(BLOCKED_BC.canary)
    })
  })

  describe('the logout page', () => {
    /** What the page offers: its heading, its lead paragraph, and the labels of its buttons and links. */
    const offered = (html: string) => ({
      heading: /<h1>([^<]*)<\/h1>/.exec(html)?.[1],
      lead: /<p class="lead">([\s\S]*?)<\/p>/.exec(html)?.[1]?.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim(),
      choices: [...html.matchAll(/<(?:button|a)\b[^>]*>([^<]*)<\/(?:button|a)>/g)].map((m) => m[1]!.trim()).filter((t) => /sign/i.test(t)),
    })

    /** Whether the browser is still signed in at the OP: the first-party client gets a code with prompt=none. */
    async function stillSignedIn(browser: HttpBrowser): Promise<boolean> {
      const first = await oidc.discovery(new URL(iam.issuer), 'first', undefined, oidc.None(), insecure)
      const url = oidc.buildAuthorizationUrl(first, {
        redirect_uri: 'http://localhost:4000/callback', scope: 'openid', prompt: 'none',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
      })
      return Boolean(new URL((await browser.navigate(url.href)).url).searchParams.get('code'))
    }

    it('asked by an application: says what each choice does, and the lesser one signs out of that application only', async () => {
      const req = await authorizationParams({ scope: 'openid' })
      const browser = new HttpBrowser(iam.issuer)
      const { res } = await walkPages(browser, await browser.navigate(oidc.buildAuthorizationUrl(spa, req.params).href))
      const tokens = await oidc.authorizationCodeGrant(spa, new URL(res.url), { pkceCodeVerifier: req.verifier, expectedState: req.state })

      const page = await browser.navigate(oidc.buildEndSessionUrl(spa, { id_token_hint: tokens.id_token! }).href)
      expect(offered(page.body)).toEqual({
        heading: 'Sign out?',
        lead: 'Signing out of Identity signs you out of every application you signed in to with it in this browser, Test SPA included. Or sign out of Test SPA only, and stay signed in to Identity.',
        choices: ['Sign out', 'Sign out of Test SPA only'],
      })
      const form = formWithAction(page.body, '/session/end/confirm')
      const done = await browser.navigate(new URL(form.action, iam.issuer).href, { form: form.fields })
      expect(offered(done.body)).toMatchObject({ heading: 'You are signed out', lead: 'You have signed out of Test SPA.' })
      expect(await stillSignedIn(browser)).toBe(true)
    })

    it('asked by no application: "Stay signed in" leaves the person signed in', async () => {
      const req = await authorizationParams({ scope: 'openid' })
      const browser = new HttpBrowser(iam.issuer)
      await walkPages(browser, await browser.navigate(oidc.buildAuthorizationUrl(spa, req.params).href))
      const page = await browser.navigate(`${iam.issuer}/session/end`)
      expect(offered(page.body)).toEqual({ heading: 'Sign out?', lead: 'Do you want to sign out of Identity?', choices: ['Sign out', 'Stay signed in'] })
      const stay = /<a\b[^>]*href="([^"]*)"[^>]*>Stay signed in<\/a>/.exec(page.body)?.[1]
      expect(stay).toBeDefined()
      await browser.navigate(new URL(stay!, iam.issuer).href)
      expect(await stillSignedIn(browser)).toBe(true)
    })
  })

  describe('private_key_jwt client assertions', () => {
    const now = () => Math.floor(Date.now() / 1000)

    /** A client-credentials request authenticated with an assertion carrying `claims`. */
    async function tokenRequest(claims: { aud: string | string[]; exp: number; iat?: number }) {
      const assertion = await new SignJWT({ ...claims, jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'svc-jwt-1' })
        .setIssuer(SVC_JWT.clientId).setSubject(SVC_JWT.clientId)
        .sign(svcJwtKey)
      const res = await fetch(`${iam.issuer}/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials', scope: 'read', resource: OPAQUE_API,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
        }),
      })
      const body = await res.json() as { error?: string; access_token?: string }
      return { status: res.status, error: body.error, issued: typeof body.access_token === 'string' }
    }

    it('accepts a short-lived assertion for this server, and refuses one that names other audiences or lives long', async () => {
      const logMark = iam.logs().length
      const tokenEndpoint = `${iam.issuer}/token`
      expect(await tokenRequest({ aud: tokenEndpoint, iat: now(), exp: now() + 60 })).toEqual({ status: 200, error: undefined, issued: true })
      expect(await tokenRequest({ aud: iam.issuer, iat: now(), exp: now() + 300 })).toEqual({ status: 200, error: undefined, issued: true })
      expect(await tokenRequest({ aud: [iam.issuer, tokenEndpoint], exp: now() + 60 })).toEqual({ status: 200, error: undefined, issued: true })

      const refused = { status: 401, error: 'invalid_client', issued: false }
      // An assertion that another server would accept too could be replayed there (or from there).
      expect(await tokenRequest({ aud: [tokenEndpoint, 'https://other-server.example/token'], iat: now(), exp: now() + 60 })).toEqual(refused)
      // A year ahead, with or without iat; and a window longer than five minutes.
      expect(await tokenRequest({ aud: tokenEndpoint, iat: now(), exp: now() + 365 * 24 * 3600 })).toEqual(refused)
      expect(await tokenRequest({ aud: tokenEndpoint, exp: now() + 365 * 24 * 3600 })).toEqual(refused)
      expect(await tokenRequest({ aud: tokenEndpoint, iat: now() - 600, exp: now() + 60 })).toEqual(refused)
      await expectNoServerErrors(logMark)
    })
  })

  describe('tokens of a disabled or deleted client', () => {
    it('are inactive at once (introspection says active:false, not a 500), and re-enabling the client does not revive them', async () => {
      const logMark = iam.logs().length
      const call = adminApi(iam.issuer)
      const admin = await adminToken()
      const t = await tokensOfClientsThatGoAway(iam.issuer, SVC_OFF)
      for (const token of [t.accessToken, t.refreshToken, t.serviceToken]) {
        expect((await introspect(iam.issuer, token)).body).toMatchObject({ active: true })
      }

      for (const id of [SPA_OFF.clientId, SVC_OFF.clientId]) {
        expect((await call(admin, 'PATCH', `/clients/${id}`, { disabled: true })).status).toBe(200)
      }
      for (const token of [t.accessToken, t.refreshToken, t.serviceToken]) {
        expect(await introspect(iam.issuer, token)).toEqual({ status: 200, body: { active: false } })
      }
      await expect(oidc.fetchUserInfo(t.spaOff, t.accessToken, t.sub)).rejects.toMatchObject({ status: 401 })

      for (const id of [SPA_OFF.clientId, SVC_OFF.clientId]) {
        expect((await call(admin, 'PATCH', `/clients/${id}`, { disabled: false })).status).toBe(200)
      }
      for (const token of [t.accessToken, t.refreshToken, t.serviceToken]) {
        expect(await introspect(iam.issuer, token)).toEqual({ status: 200, body: { active: false } })
      }
      await expect(oidc.fetchUserInfo(t.spaOff, t.accessToken, t.sub)).rejects.toMatchObject({ status: 401 })
      await expect(oidc.refreshTokenGrant(t.spaOff, t.refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' })
      // The client itself works again: new tokens are active (tokens carry whole seconds, and
      // those of the second the client was disabled in count as from before).
      await new Promise((r) => setTimeout(r, 1_100))
      const fresh = await tokensOfClientsThatGoAway(iam.issuer, SVC_OFF)
      expect((await introspect(iam.issuer, fresh.serviceToken)).body).toMatchObject({ active: true, client_id: SVC_OFF.clientId })
      expect((await introspect(iam.issuer, fresh.refreshToken)).body).toMatchObject({ active: true, client_id: SPA_OFF.clientId })
      await expectNoServerErrors(logMark)
    })

    it('a deleted client\'s tokens are inactive, also when a client with the same id is registered again', async () => {
      const logMark = iam.logs().length
      const call = adminApi(iam.issuer)
      const admin = await adminToken()
      const service = await oidc.discovery(new URL(iam.issuer), SVC_GONE.clientId, SVC_GONE.secret, oidc.ClientSecretBasic(SVC_GONE.secret), insecure)
      const { access_token: token } = await oidc.clientCredentialsGrant(service, { scope: 'read', resource: OPAQUE_API })
      expect((await introspect(iam.issuer, token)).body).toMatchObject({ active: true })
      expect((await call(admin, 'DELETE', `/clients/${SVC_GONE.clientId}`)).status).toBe(204)
      expect(await introspect(iam.issuer, token)).toEqual({ status: 200, body: { active: false } })
      await new Promise((r) => setTimeout(r, 1_100)) // the same second would not tell a new registration from the old
      const again = await call(admin, 'POST', '/clients', { clientId: SVC_GONE.clientId, name: 'Same id, new client', kind: 'service' })
      expect(again.status, again.text).toBe(201)
      expect(await introspect(iam.issuer, token)).toEqual({ status: 200, body: { active: false } })
      await expectNoServerErrors(logMark)
    })
  })

  describe('a disabled client\'s admin-API tokens', () => {
    it('a service token from before the disable stays refused after the client is enabled again; a new one works', async () => {
      const logMark = iam.logs().length
      const call = adminApi(iam.issuer)
      const admin = await adminToken()
      const old = await serviceToken(iam.issuer, SVC_ADMIN_OFF.clientId, SVC_ADMIN_OFF.secret, ['users:read'])
      expect((await call(old, 'GET', '/users')).status).toBe(200)

      expect((await call(admin, 'PATCH', `/clients/${SVC_ADMIN_OFF.clientId}`, { disabled: true })).status).toBe(200)
      expect((await call(old, 'GET', '/users')).status).toBe(401)
      expect((await call(admin, 'PATCH', `/clients/${SVC_ADMIN_OFF.clientId}`, { disabled: false })).status).toBe(200)
      // The JWT is still signed and unexpired: only the client's disable moment tells it apart.
      const refused = await call(old, 'GET', '/users')
      expect(refused.status).toBe(401)
      expect(refused.headers.get('www-authenticate')).toMatch(/error="invalid_token"/)

      // Tokens carry whole seconds: one of the second the client was disabled in counts as from before.
      await new Promise((r) => setTimeout(r, 1_100))
      const fresh = await serviceToken(iam.issuer, SVC_ADMIN_OFF.clientId, SVC_ADMIN_OFF.secret, ['users:read'])
      expect((await call(fresh, 'GET', '/users')).status).toBe(200)
      await expectNoServerErrors(logMark)
    })
  })
})

// Two instances sharing PostgreSQL and Redis behind one issuer (see two-instances.test.ts): a
// client disabled through one is disabled on the other at once, though each keeps a short copy of
// the clients it reads.
describe('a client disabled on one instance (two instances)', () => {
  let redis: RedisServer
  let balancer: Balancer
  let a: IamInstance
  let b: IamInstance
  let adminTotp: string

  beforeAll(async () => {
    balancer = await startBalancer()
    redis = await startRedis({ appendonly: true })
    const shared = {
      ISSUER: balancer.url, DATABASE_URL: await createTestDatabase(), REDIS_URL: redis.url,
      JWKS: JSON.stringify(await generateJwks()), COOKIE_KEYS: 'protocol-correctness-cookie-key-0123456789',
    }
    a = await createIam('postgres-redis', { env: shared })
    b = await createIam('postgres-redis', { env: shared })
    await a.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await createClientsThatGoAway(prisma)
      adminTotp = await createAdministrator(prisma)
    })
    await a.start()
    await b.start()
  }, 180_000)

  afterAll(async () => {
    await a?.close()
    await b?.close()
    await balancer?.close()
    await redis?.stop()
  })

  it('B answers active:false for its tokens right after A disabled it, and after A enabled it again', async () => {
    balancer.route(a.port)
    const admin = await personToken(balancer.url, { ...ADMIN, totpSecret: adminTotp }, ['clients:read', 'clients:write'])
    const t = await tokensOfClientsThatGoAway(balancer.url, SVC_OFF)
    // B has just read both clients (its copy is fresh) when A disables them.
    balancer.route(b.port)
    for (const token of [t.accessToken, t.refreshToken, t.serviceToken]) {
      expect((await introspect(balancer.url, token)).body).toMatchObject({ active: true })
    }
    balancer.route(a.port)
    for (const id of [SPA_OFF.clientId, SVC_OFF.clientId]) {
      expect((await adminApi(balancer.url)(admin, 'PATCH', `/clients/${id}`, { disabled: true })).status).toBe(200)
    }
    balancer.route(b.port)
    for (const token of [t.accessToken, t.refreshToken, t.serviceToken]) {
      expect(await introspect(balancer.url, token)).toEqual({ status: 200, body: { active: false } })
    }
    await expect(oidc.fetchUserInfo(t.spaOff, t.accessToken, t.sub)).rejects.toMatchObject({ status: 401 })
    balancer.route(a.port)
    for (const id of [SPA_OFF.clientId, SVC_OFF.clientId]) {
      expect((await adminApi(balancer.url)(admin, 'PATCH', `/clients/${id}`, { disabled: false })).status).toBe(200)
    }
    balancer.route(b.port)
    for (const token of [t.accessToken, t.refreshToken, t.serviceToken]) {
      expect(await introspect(balancer.url, token)).toEqual({ status: 200, body: { active: false } })
    }
    await expect(oidc.refreshTokenGrant(t.spaOff, t.refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' })
  })
})

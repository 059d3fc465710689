// The protocol as relying parties see it, through openid-client 6 and the real pages, in both
// storage modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import argon2 from 'argon2'
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, signIn, formsOf } from '../support/browser.ts'
import { startBackchannelReceiver, type BackchannelReceiver } from '../support/backchannel-receiver.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { ALICE, API, DISABLED, OPAQUE_API, SERVICE_SECRET, SPA_REDIRECT, WEB_POST_LOGOUT, WEB_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }

describe.each(STORAGE_MODES)('OIDC flows (%s)', (mode) => {
  let iam: IamInstance
  let spa: oidc.Configuration
  let web: oidc.Configuration
  let svc: oidc.Configuration
  let firstParty: oidc.Configuration
  let rp: BackchannelReceiver

  beforeAll(async () => {
    rp = await startBackchannelReceiver()
    iam = await createIam(mode)
    await iam.withDatabase((prisma) => createFixtures(prisma, { backchannelLogoutUri: rp.uri }))
    await iam.start()
    const issuer = new URL(iam.issuer)
    spa = await oidc.discovery(issuer, 'spa', undefined, oidc.None(), insecure)
    web = await oidc.discovery(issuer, 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
    svc = await oidc.discovery(issuer, 'svc', SERVICE_SECRET, oidc.ClientSecretBasic(SERVICE_SECRET), insecure)
    firstParty = await oidc.discovery(issuer, 'first', undefined, oidc.None(), insecure)
  })

  afterAll(async () => {
    await iam?.close()
    rp?.close()
  })


  async function authorize(config: oidc.Configuration, redirectUri: string, params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri, scope: 'openid profile email offline_access', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      ...(params.scope?.includes('offline_access') || !params.scope ? { prompt: 'consent' } : {}),
      ...params,
    })
    return { url: url.href, verifier, state }
  }

  async function signInAndRedeem(config: oidc.Configuration, redirectUri: string, browser = new HttpBrowser(iam.issuer), params: Record<string, string> = {}) {
    const req = await authorize(config, redirectUri, params)
    const callback = await signIn(browser, req.url, { login: ALICE.email, password: ALICE.password })
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state })
    return { tokens, browser, callback }
  }

  it('publishes discovery with the enabled features', async () => {
    const meta = spa.serverMetadata()
    expect(meta.issuer).toBe(iam.issuer)
    expect(meta.code_challenge_methods_supported).toEqual(['S256'])
    expect(meta.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code']))
    expect(meta.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'ES256']))
    expect(meta.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'phone', 'offline_access', 'roles', 'tenant']))
    for (const key of ['introspection_endpoint', 'revocation_endpoint', 'userinfo_endpoint', 'end_session_endpoint', 'pushed_authorization_request_endpoint', 'device_authorization_endpoint']) {
      expect(meta[key], key).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//)
    }
    expect(meta.dpop_signing_alg_values_supported).toContain('ES256')
    expect(meta.backchannel_logout_supported).toBe(true)
    expect(meta.claims_parameter_supported).toBe(true)
    expect(meta.token_endpoint_auth_methods_supported).not.toContain('client_secret_jwt')
    const jwks = await (await fetch(`${iam.issuer}/jwks`)).json() as { keys: Array<{ alg: string; d?: string }> }
    expect(jwks.keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256'])
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true)
  })

  it('signs a person in through the login and consent pages (public client, code + PKCE)', async () => {
    const { tokens } = await signInAndRedeem(spa, SPA_REDIRECT)
    const claims = tokens.claims()!
    expect(claims.iss).toBe(iam.issuer)
    expect(claims.aud).toBe('spa')
    expect(claims.amr).toEqual(['pwd'])
    expect(claims.acr).toBe('urn:iam:acr:pwd')
    // Scope claims travel in userinfo, not the ID token (conformIdTokenClaims).
    expect(claims.email).toBeUndefined()
    expect(tokens.refresh_token).toBeTruthy()
    // userinfo with the access token
    const userinfo = await oidc.fetchUserInfo(spa, tokens.access_token, claims.sub)
    expect(userinfo.email).toBe(ALICE.email)
    expect(userinfo.email_verified).toBe(true)
    expect(userinfo.name).toBe('Alice Example')
  })

  it('releases roles and tenant claims for those scopes', async () => {
    const { tokens } = await signInAndRedeem(spa, SPA_REDIRECT, undefined, { scope: 'openid roles tenant' })
    const userinfo = await oidc.fetchUserInfo(spa, tokens.access_token, tokens.claims()!.sub)
    expect(userinfo.roles).toEqual(['user'])
    expect(userinfo.tenant).toBe('default')
    expect(userinfo.email).toBeUndefined()
  })

  it('releases each profile claim as stored, and every role, sorted', async () => {
    // Carol has every optional field and two roles: the account read must carry all of them.
    const carol = { email: 'carol@example.test', username: 'carol', password: 'carol long passphrase 7' }
    const stored = await iam.databaseNow(async (prisma) => {
      const user = await createUser(prisma, { ...carol, givenName: 'Carol', familyName: 'Ng', emailVerified: true })
      await prisma.user.update({ where: { id: user.id }, data: { phone: '+14155550123', phoneVerified: true } })
      for (const name of ['user', 'auditor']) await assignRole(prisma, user.id, (await ensureRole(prisma, name, [])).id)
      return prisma.user.findUniqueOrThrow({ where: { id: user.id } })
    })
    const req = await authorize(spa, SPA_REDIRECT, { scope: 'openid profile email phone roles tenant', prompt: 'consent' })
    const callback = await signIn(new HttpBrowser(iam.issuer), req.url, { login: carol.username, password: carol.password })
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state })
    const info = await oidc.fetchUserInfo(spa, tokens.access_token, tokens.claims()!.sub)
    // The sign-in itself updated the row (last sign-in time): updated_at is its time now.
    const now = await iam.databaseNow((prisma) => prisma.user.findUniqueOrThrow({ where: { id: stored.id } }))
    expect(info).toEqual({
      sub: stored.id, name: 'Carol Ng', given_name: 'Carol', family_name: 'Ng', preferred_username: 'carol',
      updated_at: Math.floor(now.updatedAt.getTime() / 1000), email: carol.email, email_verified: true,
      phone_number: '+14155550123', phone_number_verified: true, roles: ['auditor', 'user'], tenant: 'default',
    })
  })

  it('upgrades a password hash made with weaker parameters at the next sign-in, and clears failed attempts', async () => {
    const dan = { email: 'dan@example.test', password: 'dan has an old hash 42' }
    const id = await iam.databaseNow(async (prisma) => {
      const user = await createUser(prisma, { ...dan, emailVerified: true })
      const weak = await argon2.hash(dan.password, { type: argon2.argon2i, memoryCost: 4096, timeCost: 1, parallelism: 1 })
      await prisma.user.update({ where: { id: user.id }, data: { passwordHash: weak, failedLogins: 3, failedLoginsSince: new Date() } })
      return user.id
    })
    for (let i = 0; i < 2; i++) {
      const req = await authorize(spa, SPA_REDIRECT, { scope: 'openid', prompt: 'consent' })
      const callback = await signIn(new HttpBrowser(iam.issuer), req.url, { login: dan.email, password: dan.password })
      expect(callback.searchParams.get('code')).toBeTruthy()
    }
    const after = await iam.databaseNow((prisma) => prisma.user.findUniqueOrThrow({ where: { id } }))
    expect(after.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/)
    expect(await argon2.verify(after.passwordHash!, dan.password)).toBe(true)
    expect([after.failedLogins, after.failedLoginsSince, after.lockedUntil]).toEqual([0, null, null])
    expect(after.lastLoginAt!.getTime()).toBeGreaterThan(Date.now() - 60_000)
  })

  it('authenticates a confidential client whose secret has - % : + (client_secret_basic)', async () => {
    const { tokens } = await signInAndRedeem(web, WEB_REDIRECT)
    expect(tokens.claims()!.aud).toBe('web')
    const header = decodeProtectedHeader(tokens.id_token!)
    expect(header.alg).toBe('RS256')
    // The same client with a wrong secret is refused.
    const wrong = await oidc.discovery(new URL(iam.issuer), 'web', 'nope', oidc.ClientSecretBasic('nope-nope-nope'), insecure)
    const refused = await oidc.refreshTokenGrant(wrong, tokens.refresh_token!).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(oidc.WWWAuthenticateChallengeError)
    expect((refused as oidc.WWWAuthenticateChallengeError).status).toBe(401)
    expect((refused as oidc.WWWAuthenticateChallengeError).cause[0]!.parameters.error).toBe('invalid_client')
  })

  it('skips consent for first-party clients', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const req = await authorize(firstParty, 'http://localhost:4000/callback', { scope: 'openid profile', prompt: 'login' })
    const callback = await signIn(browser, req.url, { login: ALICE.username, password: ALICE.password, consent: false })
    const tokens = await oidc.authorizationCodeGrant(firstParty, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state })
    const userinfo = await oidc.fetchUserInfo(firstParty, tokens.access_token, tokens.claims()!.sub)
    expect(userinfo.preferred_username).toBe('alice')
  })

  it('issues client-credentials JWT access tokens for a registered API, verifiable against the JWKS', async () => {
    const tokens = await oidc.clientCredentialsGrant(svc, { scope: 'read', resource: API })
    expect(tokens.token_type.toLowerCase()).toBe('bearer')
    const jwks = createRemoteJWKSet(new URL(`${iam.issuer}/jwks`))
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer: iam.issuer, audience: API, typ: 'at+jwt' })
    expect(protectedHeader.alg).toBe('ES256')
    expect(payload.client_id).toBe('svc')
    expect(payload.scope).toBe('read')
    // Opaque for an API registered as opaque, and invalid_target for an unknown one.
    const opaque = await oidc.clientCredentialsGrant(svc, { scope: 'read', resource: OPAQUE_API })
    expect(opaque.access_token.split('.').length).toBe(1)
    await expect(oidc.clientCredentialsGrant(svc, { scope: 'read', resource: 'https://unknown.example.test' })).rejects.toMatchObject({ error: 'invalid_target' })
  })

  it('rotates public-client refresh tokens and revokes the grant when a rotated one is reused', async () => {
    const { tokens } = await signInAndRedeem(spa, SPA_REDIRECT)
    const first = tokens.refresh_token!
    const second = await oidc.refreshTokenGrant(spa, first)
    expect(second.refresh_token).toBeTruthy()
    expect(second.refresh_token).not.toBe(first)
    // Reusing the rotated token is refused and kills the grant: the newest token dies too.
    await expect(oidc.refreshTokenGrant(spa, first)).rejects.toMatchObject({ error: 'invalid_grant' })
    await expect(oidc.refreshTokenGrant(spa, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' })
    const introspected = await oidc.tokenIntrospection(web, second.access_token)
    expect(introspected.active).toBe(false)
  })

  it('introspects and revokes tokens', async () => {
    const { tokens } = await signInAndRedeem(web, WEB_REDIRECT)
    const active = await oidc.tokenIntrospection(web, tokens.access_token)
    expect(active).toMatchObject({ active: true, client_id: 'web', sub: tokens.claims()!.sub, token_type: 'Bearer' })
    const rt = await oidc.tokenIntrospection(web, tokens.refresh_token!)
    expect(rt.active).toBe(true)
    await oidc.tokenRevocation(web, tokens.refresh_token!)
    expect((await oidc.tokenIntrospection(web, tokens.refresh_token!)).active).toBe(false)
    await expect(oidc.refreshTokenGrant(web, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' })
    // A random string is simply inactive.
    expect((await oidc.tokenIntrospection(web, 'not-a-token')).active).toBe(false)
  })

  it('answers prompt=none without a session with login_required', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const req = await authorize(spa, SPA_REDIRECT, { prompt: 'none', scope: 'openid' })
    const res = await browser.navigate(req.url)
    const callback = new URL(res.url)
    expect(callback.origin + callback.pathname).toBe(SPA_REDIRECT)
    expect(callback.searchParams.get('error')).toBe('login_required')
    expect(callback.searchParams.get('state')).toBe(req.state)
  })

  it('reuses the session silently, and max_age=0 forces a new login', async () => {
    const { browser, tokens } = await signInAndRedeem(spa, SPA_REDIRECT)
    // prompt=none inside the session succeeds without pages
    const silent = await authorize(spa, SPA_REDIRECT, { prompt: 'none', scope: 'openid' })
    const silentRes = await browser.navigate(silent.url)
    expect(new URL(silentRes.url).searchParams.get('code')).toBeTruthy()
    // max_age=0 shows the login page again
    const forced = await authorize(spa, SPA_REDIRECT, { max_age: '0', scope: 'openid' })
    const page = await browser.navigate(forced.url)
    expect(page.status).toBe(200)
    expect(page.body).toContain('name="password"')
    const callback = await signIn(browser, forced.url, { login: ALICE.email, password: ALICE.password })
    const again = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: forced.verifier, expectedState: forced.state, maxAge: 0 })
    expect(again.claims()!.auth_time).toBeGreaterThanOrEqual(tokens.claims()!.auth_time as number)
  })

  it('refuses a reused authorization code and revokes what the first redemption issued', async () => {
    const req = await authorize(web, WEB_REDIRECT)
    const callback = await signIn(new HttpBrowser(iam.issuer), req.url, { login: ALICE.email, password: ALICE.password })
    const tokens = await oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state })
    await expect(oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state })).rejects.toMatchObject({ error: 'invalid_grant' })
    expect((await oidc.tokenIntrospection(web, tokens.access_token)).active).toBe(false)
    await expect(oidc.refreshTokenGrant(web, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' })
  })

  it('shows the same answer for an unknown user and a wrong password, and refuses disabled users', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const req = await authorize(spa, SPA_REDIRECT)
    const page = await browser.navigate(req.url)
    const form = formsOf(page.body).find((f) => f.action.endsWith('/login'))!
    const post = (login: string, password: string) => browser.request(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login, password } })
    const unknown = await post('nobody@example.test', 'whatever password')
    const wrong = await post(ALICE.email, 'wrong password')
    expect(unknown.status).toBe(400)
    expect(wrong.status).toBe(400)
    const message = (body: string) => /role="alert"[^>]*>([^<]*)</.exec(body)?.[1]
    expect(message(unknown.body)).toBe('Wrong email, username or password. Try again or reset your password. After too many tries, sign-in pauses for at least 15 minutes.')
    expect(message(wrong.body)).toBe(message(unknown.body))
    const disabled = await post(DISABLED.email, DISABLED.password)
    expect(disabled.status).toBe(403)
    expect(disabled.body).toContain('This account is disabled')
  })

  it('cancel on the login page returns access_denied to the client', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const req = await authorize(spa, SPA_REDIRECT)
    const page = await browser.navigate(req.url)
    const abort = formsOf(page.body).find((f) => f.action.endsWith('/abort'))!
    const res = await browser.navigate(new URL(abort.action, iam.issuer).href, { form: abort.fields })
    const callback = new URL(res.url)
    expect(callback.searchParams.get('error')).toBe('access_denied')
    expect(callback.searchParams.get('state')).toBe(req.state)
  })

  it('logs out through RP-initiated logout and delivers back-channel logout to the RP', async () => {
    const { tokens, browser } = await signInAndRedeem(web, WEB_REDIRECT, undefined, { scope: 'openid profile' })
    const sid = tokens.claims()!.sid as string
    expect(sid).toBeTruthy()
    const endSession = oidc.buildEndSessionUrl(web, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: WEB_POST_LOGOUT, state: 'bye' })
    const confirm = await browser.navigate(endSession.href)
    expect(confirm.status).toBe(200)
    expect(confirm.body).toContain('Sign out?')
    const form = formsOf(confirm.body)[0]!
    const done = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, logout: 'yes' } })
    const back = new URL(done.url)
    expect(back.origin + back.pathname).toBe(WEB_POST_LOGOUT)
    expect(back.searchParams.get('state')).toBe('bye')

    // The back-channel logout token reached the RP and is a valid logout token for this session.
    const deadline = Date.now() + 5000
    while (Date.now() < deadline && !rp.tokens.length) await new Promise((r) => setTimeout(r, 50))
    const jwks = createRemoteJWKSet(new URL(`${iam.issuer}/jwks`))
    const verified = await Promise.all(rp.tokens.map((t) => jwtVerify(t, jwks, { issuer: iam.issuer, audience: 'web', typ: 'logout+jwt' })))
    const mine = verified.find((v) => v.payload.sid === sid)
    expect(mine).toBeTruthy()
    expect(mine!.payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} })

    // The session is gone: prompt=none now needs a login.
    const silent = await authorize(web, WEB_REDIRECT, { prompt: 'none', scope: 'openid' })
    const res = await browser.navigate(silent.url)
    expect(new URL(res.url).searchParams.get('error')).toBe('login_required')
  })

  // Runs last in this file: after every flow above, oidc-provider never printed a WARNING or
  // NOTICE (it does when a default that must be configured is used, at start or later).
  it('printed no oidc-provider WARNING or NOTICE', () => {
    expect(iam.logs()).toContain('listening')
    expect(iam.logs()).not.toMatch(/oidc-provider (WARNING|NOTICE)/)
  })
})

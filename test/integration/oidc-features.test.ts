// The provider's optional protocol features as relying parties and people see them: PAR, DPoP,
// the device authorization grant, resource indicators, the claims parameter and CORS. openid-client
// 6 is the RP wherever it supports the feature; the pages are walked with HttpBrowser. Both
// storage modes.
import { createHash, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { calculateJwkThumbprint, createRemoteJWKSet, decodeJwt, exportJWK, jwtVerify, SignJWT } from 'jose'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, signIn, type PageResponse } from '../support/browser.ts'
import { ALICE, API, SPA_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import { createClient } from '../../src/clients/registry.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }

const SPA_ORIGIN = 'http://localhost:5173'
const EVIL_ORIGIN = 'https://evil.example'
const TV = { clientId: 'living-room-tv', name: 'Living Room TV', redirect: 'http://127.0.0.1/callback' }

/** The text of the page's alert box, if it has one. */
const alertText = (html: string) => /role="alert"[^>]*>([\s\S]*?)<\/div>/.exec(html)?.[1]?.replace(/<[^>]+>/g, '').trim()

describe.each(STORAGE_MODES)('OIDC features (%s)', (mode) => {
  let iam: IamInstance
  let spa: oidc.Configuration
  let web: oidc.Configuration
  let tv: oidc.Configuration

  beforeAll(async () => {
    iam = await createIam(mode)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      // A native app (a TV): the only kind of client that gets the device_code grant.
      await createClient(prisma, { clientId: TV.clientId, name: TV.name, kind: 'native', redirectUris: [TV.redirect] })
    })
    await iam.start()
    const issuer = new URL(iam.issuer)
    spa = await oidc.discovery(issuer, 'spa', undefined, oidc.None(), insecure)
    web = await oidc.discovery(issuer, 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
    tv = await oidc.discovery(issuer, TV.clientId, undefined, oidc.None(), insecure)
  })

  afterAll(async () => {
    await iam?.close()
  })

  /** Request lines with a 5xx status, and error lines, the server logged after `from`. */
  function serverErrorsSince(from: number): string[] {
    return iam.logs().slice(from).split('\n')
      .filter((line) => /"status":5\d\d/.test(line) || /"level":(50|60)/.test(line))
  }

  /** Asserts the server answered nothing in this test with a 5xx (its log lines arrive asynchronously). */
  async function expectNoServerErrors(from: number) {
    await new Promise((r) => setTimeout(r, 150))
    expect(serverErrorsSince(from)).toEqual([])
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

  /** Posts the login and consent forms while the browser is on one of them; returns the first other response. */
  async function completeInteractions(browser: HttpBrowser, res: PageResponse, seen: string[] = []): Promise<PageResponse> {
    for (let step = 0; step < 5; step++) {
      if (new URL(res.url).origin !== browser.origin) return res
      if (res.body.includes('name="password"')) {
        seen.push('login')
        const form = formWithAction(res.body, '/login')
        res = await browser.navigate(new URL(form.action, browser.origin).href, { form: { ...form.fields, login: ALICE.email, password: ALICE.password } })
        continue
      }
      if (/action="\/interaction\/[^"]+\/consent"/.test(res.body)) {
        seen.push('consent')
        const form = formWithAction(res.body, '/consent')
        res = await browser.navigate(new URL(form.action, browser.origin).href, { form: form.fields })
        continue
      }
      return res
    }
    throw new Error('interactions did not finish')
  }

  describe('pushed authorization requests (PAR)', () => {
    it('signs in through a request_uri and refuses the same request_uri a second time', async () => {
      const logMark = iam.logs().length
      const req = await authorizationParams({ scope: 'openid profile' })
      const url = await oidc.buildAuthorizationUrlWithPAR(spa, req.params)
      // Only client_id and the reference travel through the browser.
      expect(url.origin + url.pathname).toBe(`${iam.issuer}/auth`)
      expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri'])
      expect(url.searchParams.get('client_id')).toBe('spa')
      expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:[\w-]{20,}$/)

      const browser = new HttpBrowser(iam.issuer)
      const callback = await signIn(browser, url.href, { login: ALICE.email, password: ALICE.password })
      expect(callback.origin + callback.pathname).toBe(SPA_REDIRECT)
      expect(callback.searchParams.get('state')).toBe(req.state)
      const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state })
      expect(tokens.claims()!.aud).toBe('spa')
      const userinfo = await oidc.fetchUserInfo(spa, tokens.access_token, tokens.claims()!.sub)
      expect(userinfo.name).toBe('Alice Example')
      expect(userinfo.email).toBeUndefined()

      // The same request_uri again, from the same browser (its session is still alive): refused.
      // oidc-provider sends the error to the client's only registered redirect_uri; there is no
      // state to echo (it was in the spent request) and no code.
      const replay = await browser.navigate(url.href)
      expect(replay.status).toBe(303)
      const refused = new URL(replay.url)
      expect(refused.origin + refused.pathname).toBe(SPA_REDIRECT)
      expect(Object.fromEntries(refused.searchParams)).toEqual({
        error: 'invalid_request_uri',
        error_description: 'request_uri is invalid, expired, or was already used',
        iss: iam.issuer,
      })
      // …and the same from a fresh browser.
      const fresh = await new HttpBrowser(iam.issuer).navigate(url.href)
      expect(fresh.status).toBe(303)
      expect(new URL(fresh.url).searchParams.get('error')).toBe('invalid_request_uri')
      expect(new URL(fresh.url).searchParams.get('code')).toBeNull()
      await expectNoServerErrors(logMark)
    })

    it('refuses a pushed request from a confidential client with the wrong secret', async () => {
      const logMark = iam.logs().length
      const wrong = await oidc.discovery(new URL(iam.issuer), 'web', 'nope', oidc.ClientSecretBasic('wrong-secret-wrong-secret-wrong-secret'), insecure)
      const req = await authorizationParams({ scope: 'openid', redirect_uri: 'http://localhost:8080/callback' })
      const refused = await oidc.buildAuthorizationUrlWithPAR(wrong, req.params).catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(oidc.WWWAuthenticateChallengeError)
      expect((refused as oidc.WWWAuthenticateChallengeError).status).toBe(401)
      // The right secret works.
      const ok = await oidc.buildAuthorizationUrlWithPAR(web, req.params)
      expect(ok.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/)
      await expectNoServerErrors(logMark)
    })
  })

  describe('DPoP', () => {
    it('binds a public client\'s tokens to its key: userinfo needs the proof, refresh needs the same key', async () => {
      const logMark = iam.logs().length
      const key = await oidc.randomDPoPKeyPair('ES256')
      const DPoP = oidc.getDPoPHandle(spa, key)
      const jkt = await calculateJwkThumbprint(await exportJWK(key.publicKey))

      const req = await authorizationParams({ scope: 'openid email offline_access', prompt: 'consent' })
      const callback = await signIn(new HttpBrowser(iam.issuer), oidc.buildAuthorizationUrl(spa, req.params).href, { login: ALICE.email, password: ALICE.password })
      const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state }, undefined, { DPoP })
      expect(tokens.token_type.toLowerCase()).toBe('dpop')
      expect(tokens.refresh_token).toBeTruthy()
      const sub = tokens.claims()!.sub

      // The resource server ('web', confidential) sees the binding.
      const introspected = await oidc.tokenIntrospection(web, tokens.access_token)
      expect(introspected).toMatchObject({ active: true, client_id: 'spa', sub, token_type: 'DPoP', cnf: { jkt } })

      // userinfo with a proof for the token…
      const userinfo = await oidc.fetchUserInfo(spa, tokens.access_token, sub, { DPoP })
      expect(userinfo.email).toBe(ALICE.email)
      // A proof is good once: the same proof, which just worked, is refused when sent again
      // (replay detection, in the artifact store). At userinfo the provider says invalid_token.
      const proof = await new SignJWT({ htm: 'GET', htu: `${iam.issuer}/me`, jti: randomUUID(), ath: createHash('sha256').update(tokens.access_token).digest('base64url') })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await exportJWK(key.publicKey) }).setIssuedAt().sign(key.privateKey)
      const withProof = () => fetch(`${iam.issuer}/me`, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } })
      const first = await withProof()
      expect(first.status).toBe(200)
      expect(await first.json()).toMatchObject({ sub })
      const replayed = await withProof()
      expect(replayed.status).toBe(401)
      expect(await replayed.json()).toMatchObject({ error: 'invalid_token' })
      // …but the same token as a plain bearer token is refused.
      const bearer = await fetch(`${iam.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
      expect(bearer.status).toBe(401)
      expect(bearer.headers.get('www-authenticate')).toMatch(/error="invalid_token"/)
      expect(await bearer.json()).toMatchObject({ error: 'invalid_token' })
      // A proof from another key does not fit the token either.
      const otherKey = await oidc.randomDPoPKeyPair('ES256')
      const otherDPoP = oidc.getDPoPHandle(spa, otherKey)
      await expect(oidc.fetchUserInfo(spa, tokens.access_token, sub, { DPoP: otherDPoP })).rejects.toMatchObject({ status: 401 })

      // The refresh token is bound too: another key is refused, the right key works (and the
      // refresh token is not rotated away, so it keeps working).
      await expect(oidc.refreshTokenGrant(spa, tokens.refresh_token!, undefined, { DPoP: otherDPoP })).rejects.toMatchObject({ error: 'invalid_grant' })
      await expect(oidc.refreshTokenGrant(spa, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' })
      const refreshed = await oidc.refreshTokenGrant(spa, tokens.refresh_token!, undefined, { DPoP })
      expect(refreshed.token_type.toLowerCase()).toBe('dpop')
      expect(refreshed.access_token).not.toBe(tokens.access_token)
      expect(refreshed.refresh_token).toBe(tokens.refresh_token)
      expect((await oidc.tokenIntrospection(web, refreshed.access_token))).toMatchObject({ active: true, cnf: { jkt } })
      const again = await oidc.refreshTokenGrant(spa, tokens.refresh_token!, undefined, { DPoP })
      expect(again.access_token).toBeTruthy()
      expect((await oidc.fetchUserInfo(spa, again.access_token, sub, { DPoP })).sub).toBe(sub)
      await expectNoServerErrors(logMark)
    })
  })

  describe('device authorization grant', () => {
    it('lets a person connect a TV by entering its code; the TV then gets tokens', async () => {
      const logMark = iam.logs().length
      const device = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid profile offline_access' })
      expect(device.verification_uri).toBe(`${iam.issuer}/device`)
      expect(device.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/)
      expect(device.verification_uri_complete).toBe(`${iam.issuer}/device?user_code=${device.user_code}`)
      expect(device.expires_in).toBe(600)
      // The TV polls while the person is busy (authorization_pending until they finish).
      const polling = oidc.pollDeviceAuthorizationGrant(tv, device, undefined, { signal: AbortSignal.timeout(45_000) })
      polling.catch(() => {}) // asserted below

      const browser = new HttpBrowser(iam.issuer)
      const input = await browser.navigate(device.verification_uri)
      expect(input.status).toBe(200)
      expect(input.body).toContain('Enter the code shown on your device.')
      expect(input.body).toContain('id="device-code-form"')
      // One code field, labelled; no inline script (the provider's own input has an onfocus handler).
      expect(input.body.match(/name="user_code"/g)).toHaveLength(1)
      expect(input.body).toContain('<label for="user_code">Code</label>')
      expect(input.body).not.toContain('onfocus')
      const inputForm = formWithAction(input.body, '/device')
      expect(inputForm.fields.xsrf).toBeTruthy()
      const confirm = await browser.navigate(new URL(inputForm.action, iam.issuer).href, { form: { ...inputForm.fields, user_code: device.user_code } })
      expect(confirm.status).toBe(200)
      expect(confirm.body).toContain('Confirm the device')
      expect(confirm.body).toContain(`<strong>${TV.name}</strong> wants to sign in on a device.`)
      expect(confirm.body).toContain(`<code class="user-code">${device.user_code}</code>`)
      const confirmForm = formWithAction(confirm.body, '/device')
      expect(confirmForm.fields).toMatchObject({ user_code: device.user_code, confirm: 'yes' })

      const seen: string[] = []
      const done = await completeInteractions(browser, await browser.navigate(new URL(confirmForm.action, iam.issuer).href, { form: { ...confirmForm.fields, confirm: 'yes' } }), seen)
      expect(seen).toEqual(['login', 'consent'])
      expect(new URL(done.url).origin).toBe(iam.issuer)
      expect(done.status).toBe(200)
      expect(done.body).toContain('Device connected')
      expect(done.body).toContain(`<strong>${TV.name}</strong> is now signed in on your device.`)

      const tokens = await polling
      const claims = tokens.claims()!
      expect(claims.iss).toBe(iam.issuer)
      expect(claims.aud).toBe(TV.clientId)
      expect(claims.amr).toEqual(['pwd'])
      expect(tokens.refresh_token).toBeTruthy()
      expect(tokens.scope?.split(' ').sort()).toEqual(['offline_access', 'openid', 'profile'])
      const userinfo = await oidc.fetchUserInfo(tv, tokens.access_token, claims.sub)
      expect(userinfo.name).toBe('Alice Example')
      expect(userinfo.preferred_username).toBe(ALICE.username)

      // The code is spent: entering it again shows the input page with the error.
      const input2 = await browser.navigate(device.verification_uri)
      const form2 = formWithAction(input2.body, '/device')
      const reused = await browser.navigate(new URL(form2.action, iam.issuer).href, { form: { ...form2.fields, user_code: device.user_code } })
      expect(reused.status).toBe(200)
      expect(alertText(reused.body)).toBe('That code has already been used. Start again on your device to get a new one.')
      expect(reused.body).not.toContain('Confirm the device')
      await expectNoServerErrors(logMark)
    })

    it('shows the input page again with an error for a wrong code, and denies when the person cancels', async () => {
      const logMark = iam.logs().length
      const browser = new HttpBrowser(iam.issuer)
      const input = await browser.navigate(`${iam.issuer}/device`)
      const form = formWithAction(input.body, '/device')
      expect(alertText(input.body)).toBeUndefined()
      const wrong = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, user_code: 'BCDF-GHJK' } })
      expect(wrong.status).toBeLessThan(500)
      expect(wrong.status).toBe(200)
      expect(alertText(wrong.body)).toBe('That code is not valid. Check it and try again.')
      expect(wrong.body).toContain('aria-invalid="true"')
      // The page offers a fresh form to try again.
      expect(formWithAction(wrong.body, '/device').fields.xsrf).toBeTruthy()

      // Cancel on the confirm page: the TV is told access_denied.
      const device = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' })
      const polling = oidc.pollDeviceAuthorizationGrant(tv, device, undefined, { signal: AbortSignal.timeout(45_000) })
      polling.catch(() => {})
      const retry = formWithAction(wrong.body, '/device')
      const confirm = await browser.navigate(new URL(retry.action, iam.issuer).href, { form: { ...retry.fields, user_code: device.user_code.toLowerCase() } })
      expect(confirm.body).toContain('Confirm the device')
      const confirmForm = formWithAction(confirm.body, '/device')
      const { confirm: _yes, ...fields } = confirmForm.fields
      const cancelled = await browser.navigate(new URL(confirmForm.action, iam.issuer).href, { form: { ...fields, abort: 'yes' } })
      // The person is back on the input page (to enter another code), told what happened.
      expect(cancelled.status).toBe(200)
      expect(alertText(cancelled.body)).toBe('The device was not connected. Enter a code to connect a device.')
      expect(alertText(cancelled.body)).toBe('The device was not connected. Enter a code to connect a device.')
      expect(new URL(cancelled.url).pathname).toBe('/device')
      expect(formWithAction(cancelled.body, '/device').fields.xsrf).toBeTruthy()
      expect(cancelled.body).not.toContain('Confirm the device')
      await expect(polling).rejects.toMatchObject({ error: 'access_denied' })
      await expectNoServerErrors(logMark)
    })

    // What a real browser submits for the device input page: every control of the form, in tree
    // order (once, the page carried two user_code fields and the provider refused the request).
    it('accepts the code typed into the labelled field when the whole form is submitted like a browser does', async () => {
      const device = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' })
      const browser = new HttpBrowser(iam.issuer)
      const input = await browser.navigate(device.verification_uri)
      const body = browserFormData(input.body, 'device-code-form', { user_code: device.user_code })
      expect(body.get('xsrf')).toBeTruthy()
      expect(body.getAll('user_code')).toContain(device.user_code)
      // HttpBrowser forms are records (one value a name), so post the exact body by hand.
      const raw = await fetch(`${iam.issuer}/device`, {
        method: 'POST', redirect: 'manual', body: body.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: browser.cookieHeader() },
      })
      expect(raw.status).toBe(200)
      expect(await raw.text()).toContain('Confirm the device')
    })
  })

  describe('resource indicators', () => {
    it('issues a JWT access token for the API the person consented to', async () => {
      const logMark = iam.logs().length
      const req = await authorizationParams({ scope: 'openid read', resource: API, prompt: 'consent' })
      const browser = new HttpBrowser(iam.issuer)
      const login = await browser.navigate(oidc.buildAuthorizationUrl(spa, req.params).href)
      const loginForm = formWithAction(login.body, '/login')
      const consent = await browser.navigate(new URL(loginForm.action, iam.issuer).href, { form: { ...loginForm.fields, login: ALICE.email, password: ALICE.password } })
      expect(consent.status).toBe(200)
      const items = [...consent.body.matchAll(/<li>([^<]*)<\/li>/g)].map((m) => m[1])
      expect(items).toEqual(['Know who you are when you sign in', `Access ${API} with: read`])
      // Press Allow.
      const consentForm = formWithAction(consent.body, '/consent')
      const back = await browser.navigate(new URL(consentForm.action, iam.issuer).href, { form: consentForm.fields })
      const redirect = new URL(back.url)
      expect(redirect.origin + redirect.pathname).toBe(SPA_REDIRECT)
      const tokens = await oidc.authorizationCodeGrant(spa, redirect, { pkceCodeVerifier: req.verifier, expectedState: req.state })
      expect(tokens.token_type.toLowerCase()).toBe('bearer')
      const jwks = createRemoteJWKSet(new URL(`${iam.issuer}/jwks`))
      const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer: iam.issuer, audience: API, typ: 'at+jwt' })
      expect(protectedHeader.alg).toBe('ES256')
      expect(payload.aud).toBe(API)
      expect(payload.client_id).toBe('spa')
      expect(payload.scope).toBe('read')
      expect(payload.sub).toBe(tokens.claims()!.sub)
      // Not a token for another audience.
      await expect(jwtVerify(tokens.access_token, jwks, { issuer: iam.issuer, audience: 'https://opaque.example.test' })).rejects.toThrow()
      await expectNoServerErrors(logMark)
    })

    it('answers invalid_target for an API that is not registered', async () => {
      const logMark = iam.logs().length
      const req = await authorizationParams({ scope: 'openid read', resource: 'https://unknown.example.test' })
      const res = await new HttpBrowser(iam.issuer).navigate(oidc.buildAuthorizationUrl(spa, req.params).href)
      const callback = new URL(res.url)
      expect(callback.origin + callback.pathname).toBe(SPA_REDIRECT)
      expect(callback.searchParams.get('error')).toBe('invalid_target')
      expect(callback.searchParams.get('state')).toBe(req.state)
      expect(callback.searchParams.get('code')).toBeNull()
      await expectNoServerErrors(logMark)
    })
  })

  describe('claims parameter', () => {
    it('puts an essential email claim requested for the ID token into the ID token', async () => {
      const logMark = iam.logs().length
      const req = await authorizationParams({
        scope: 'openid', prompt: 'consent',
        claims: JSON.stringify({ id_token: { email: { essential: true } }, userinfo: { name: null } }),
      })
      const browser = new HttpBrowser(iam.issuer)
      const login = await browser.navigate(oidc.buildAuthorizationUrl(spa, req.params).href)
      const loginForm = formWithAction(login.body, '/login')
      const consent = await browser.navigate(new URL(loginForm.action, iam.issuer).href, { form: { ...loginForm.fields, login: ALICE.email, password: ALICE.password } })
      const items = [...consent.body.matchAll(/<li>([^<]*)<\/li>/g)].map((m) => m[1])
      expect(items).toHaveLength(2)
      expect(items[0]).toBe('Know who you are when you sign in')
      expect(items[1]).toMatch(/^See these details about you: /)
      expect(items[1]!.replace('See these details about you: ', '').split(', ').sort()).toEqual(['email', 'name'])
      const consentForm = formWithAction(consent.body, '/consent')
      const back = await browser.navigate(new URL(consentForm.action, iam.issuer).href, { form: consentForm.fields })
      const tokens = await oidc.authorizationCodeGrant(spa, new URL(back.url), { pkceCodeVerifier: req.verifier, expectedState: req.state })
      const claims = tokens.claims()!
      expect(claims.email).toBe(ALICE.email)
      // Only what was asked for: no email_verified, no profile claims in the ID token.
      expect(claims.email_verified).toBeUndefined()
      expect(claims.name).toBeUndefined()
      expect(decodeJwt(tokens.id_token!).email).toBe(ALICE.email)
      // The userinfo request releases name (and not email, which was asked for the ID token only).
      const userinfo = await oidc.fetchUserInfo(spa, tokens.access_token, claims.sub)
      expect(userinfo.name).toBe('Alice Example')
      expect(userinfo.email).toBeUndefined()
      await expectNoServerErrors(logMark)
    })
  })

  describe('CORS', () => {
    it('allows the SPA\'s origin on discovery and the token endpoint, and refuses an unrelated origin at the token endpoint', async () => {
      const logMark = iam.logs().length
      const discovery = `${iam.issuer}/.well-known/openid-configuration`
      const token = `${iam.issuer}/token`
      const preflight = (url: string, origin: string) => fetch(url, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': url === token ? 'POST' : 'GET', 'access-control-request-headers': 'content-type,dpop' },
      })
      const tokenPost = (origin: string) => fetch(token, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'not-a-refresh-token', client_id: 'spa' }),
      })

      // Discovery is open to every origin.
      const discoveryPre = await preflight(discovery, SPA_ORIGIN)
      expect(discoveryPre.status).toBe(204)
      expect(discoveryPre.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)
      const discoveryGet = await fetch(discovery, { headers: { origin: SPA_ORIGIN } })
      expect(discoveryGet.status).toBe(200)
      expect(discoveryGet.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)
      expect(((await discoveryGet.json()) as { issuer: string }).issuer).toBe(iam.issuer)

      // Token endpoint from the SPA's origin: preflight and the request itself are allowed (the
      // SPA reads the error body).
      const tokenPre = await preflight(token, SPA_ORIGIN)
      expect(tokenPre.status).toBe(204)
      expect(tokenPre.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)
      expect(tokenPre.headers.get('access-control-allow-methods')).toContain('POST')
      expect(tokenPre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('dpop')
      const fromSpa = await tokenPost(SPA_ORIGIN)
      expect(fromSpa.status).toBe(400)
      expect(fromSpa.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)
      expect(await fromSpa.json()).toMatchObject({ error: 'invalid_grant' })

      // From an unrelated origin the token request is refused and carries no CORS allowance, so
      // a browser would not let that page read anything.
      const fromEvil = await tokenPost(EVIL_ORIGIN)
      expect(fromEvil.status).toBe(400)
      expect(fromEvil.headers.get('access-control-allow-origin')).toBeNull()
      expect(await fromEvil.json()).toMatchObject({ error: 'invalid_request', error_description: `origin ${EVIL_ORIGIN} not allowed for client: spa` })

      // And a real token request from the SPA's origin works end to end.
      const req = await authorizationParams({ scope: 'openid' })
      const callback = await signIn(new HttpBrowser(iam.issuer), oidc.buildAuthorizationUrl(spa, req.params).href, { login: ALICE.email, password: ALICE.password })
      const redeem = (origin: string) => fetch(token, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: SPA_REDIRECT, code_verifier: req.verifier, client_id: 'spa' }),
      })
      const evilRedeem = await redeem(EVIL_ORIGIN)
      expect(evilRedeem.status).toBe(400)
      expect(evilRedeem.headers.get('access-control-allow-origin')).toBeNull()
      const spaRedeem = await redeem(SPA_ORIGIN)
      expect(spaRedeem.status).toBe(200)
      expect(spaRedeem.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)
      expect(((await spaRedeem.json()) as { token_type: string }).token_type).toBe('Bearer')
      await expectNoServerErrors(logMark)
    })
  })

  // Runs last: nothing in this file made the server answer with a 5xx.
  it('answered no request with a 5xx', async () => {
    await new Promise((r) => setTimeout(r, 200))
    expect(iam.logs()).toContain('listening')
    expect(serverErrorsSince(0)).toEqual([])
    expect(iam.logs()).not.toMatch(/oidc-provider (WARNING|NOTICE)/)
  })
})

/**
 * The form data set a browser builds for the form with this id: the inputs inside it plus those
 * that join it via form=, in document order. `typed` is what the person types, by field name: it
 * goes into the field the page labels (<label for>), or else the first visible field of that name.
 */
function browserFormData(html: string, formId: string, typed: Record<string, string>): URLSearchParams {
  const formMatch = new RegExp(`<form\\b[^>]*id="${formId.replace('.', '\\.')}"[^>]*>([\\s\\S]*?)</form>`).exec(html)
  if (!formMatch) throw new Error(`no form ${formId}`)
  const controls: Array<{ name: string; id?: string; type: string; value: string }> = []
  for (const m of html.matchAll(/<input\b([^>]*)>/g)) {
    const attrs = m[1]!
    const inside = m.index > formMatch.index && m.index < formMatch.index + formMatch[0].length
    if (!inside && !attrs.includes(`form="${formId}"`)) continue
    const name = /\bname="([^"]*)"/.exec(attrs)?.[1]
    if (!name) continue
    const id = /\bid="([^"]*)"/.exec(attrs)?.[1]
    controls.push({ name, ...(id ? { id } : {}), type: /\btype="([^"]*)"/.exec(attrs)?.[1] ?? 'text', value: /\bvalue="([^"]*)"/.exec(attrs)?.[1] ?? '' })
  }
  const labelled = new Set([...html.matchAll(/<label\b[^>]*for="([^"]*)"/g)].map((m) => m[1]))
  for (const [name, value] of Object.entries(typed)) {
    const fields = controls.filter((c) => c.name === name && c.type !== 'hidden')
    const target = fields.find((c) => c.id && labelled.has(c.id)) ?? fields[0]
    if (!target) throw new Error(`no field ${name} to type into`)
    target.value = value
  }
  return new URLSearchParams(controls.map((c) => [c.name, c.value]))
}

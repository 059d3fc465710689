// Every kind of client the registry offers runs its own flow, as its relying party would, with
// openid-client 6 (test/support/client-flows.ts): private_key_jwt with a jwks and with a jwks_uri,
// client_secret_post, a device-only native client, a confidential device client, a web app that
// also uses client credentials, a legacy confidential client without PKCE (and a public client
// refused without it), signed request objects (JAR) at /auth and through PAR, and a client that
// must use PAR refused without it. One client per setting, registered through the registry.
// The consent page shows what the registration says about the application: logo, domain, policy
// and terms (HTML, and the logo loaded by Chromium under the page's CSP). Both storage modes.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHmac, randomUUID } from 'node:crypto'
import * as oidc from 'openid-client'
import { importJWK, SignJWT, type JWTPayload } from 'jose'
import type { Browser } from 'playwright-core'
import { HttpBrowser, formWithAction, type PageResponse } from '../support/browser.ts'
import { launchChromium, openSession } from '../support/chromium.ts'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { clientKey, runClientFlow, type ClientKey, serveJwks, type FlowClient, type FlowOutcome } from '../support/client-flows.ts'
import { ALICE, createFixtures } from '../support/fixtures.ts'
import { createClient, type ClientSettingsInput } from '../../src/clients/registry.ts'

const REDIRECT = 'http://localhost:8080/callback'
const BRAND = { name: 'Brand <b>&</b> "Co"', clientUri: 'https://app.example.test/home', policyUri: 'https://app.example.test/privacy?a=1&b=2', tosUri: 'https://app.example.test/terms' }
// A 1×1 transparent PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64')

/** Serves the logo at /logo.png (404 elsewhere) and remembers the Referer of each request. */
async function serveLogo() {
  const referers: Array<string | undefined> = []
  const server = http.createServer((req, res) => {
    referers.push(req.headers.referer)
    if (req.url === '/logo.png') {
      res.writeHead(200, { 'content-type': 'image/png' })
      res.end(PNG)
    } else {
      res.writeHead(404)
      res.end()
    }
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    referers,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
const SECRET = (name: string) => `${name}-secret-0123456789-0123456789-abcdef`

function expectOk(outcome: FlowOutcome): asserts outcome is Extract<FlowOutcome, { ok: true }> {
  expect(outcome, JSON.stringify(outcome)).toMatchObject({ ok: true })
}

describe.each(STORAGE_MODES)('every kind of client runs its flow (%s)', (mode) => {
  let iam: IamInstance
  let jwksServer: Awaited<ReturnType<typeof serveJwks>>
  let logo: Awaited<ReturnType<typeof serveLogo>>
  const keys: Record<string, ClientKey> = {}
  const clients: Record<string, FlowClient> = {}

  beforeAll(async () => {
    for (const name of ['jwks', 'uri', 'jar', 'jarRs', 'jarEs']) keys[name] = await clientKey(name === 'jarRs' ? 'RS256' : 'ES256')
    jwksServer = await serveJwks(keys.uri!.publicJwks)
    logo = await serveLogo()
    iam = await createIam(mode)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      const register = (settings: ClientSettingsInput) => createClient(prisma, settings)
      await register({ clientId: 'pkj-jwks', name: 'Key client (jwks)', kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', jwks: keys.jwks!.publicJwks, redirectUris: [REDIRECT] })
      await register({ clientId: 'pkj-uri', name: 'Key client (jwks_uri)', kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: jwksServer.url, redirectUris: [REDIRECT] })
      await register({ clientId: 'post', name: 'Secret in the body', kind: 'web', tokenEndpointAuthMethod: 'client_secret_post', secret: SECRET('post'), redirectUris: [REDIRECT] })
      await register({ clientId: 'device-native', name: 'Device CLI', kind: 'native', grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], redirectUris: [] })
      await register({ clientId: 'device-web', name: 'Confidential device', kind: 'web', secret: SECRET('device-web'), grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], redirectUris: [] })
      await register({ clientId: 'web-cc', name: 'Web app with client credentials', kind: 'web', secret: SECRET('web-cc'), grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], redirectUris: [REDIRECT] })
      await register({ clientId: 'legacy', name: 'Legacy app without PKCE', kind: 'web', secret: SECRET('legacy'), requirePkce: false, redirectUris: [REDIRECT] })
      await register({ clientId: 'public-app', name: 'Public app', kind: 'spa', redirectUris: [REDIRECT] })
      await register({ clientId: 'jar', name: 'Signed requests', kind: 'web', secret: SECRET('jar'), jwks: keys.jar!.publicJwks, requestObjectSigningAlg: 'ES256', requireSignedRequestObject: true, redirectUris: [REDIRECT] })
      await register({ clientId: 'jar-pkj', name: 'Signed requests, key auth', kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [...keys.jarRs!.publicJwks.keys, ...keys.jarEs!.publicJwks.keys] }, requestObjectSigningAlg: 'RS256', redirectUris: [REDIRECT] })
      await register({ clientId: 'branded', name: BRAND.name, kind: 'web', secret: SECRET('branded'), redirectUris: [REDIRECT], clientUri: BRAND.clientUri, logoUri: `${logo.origin}/logo.png`, policyUri: BRAND.policyUri, tosUri: BRAND.tosUri })
      await register({ clientId: 'plain', name: 'Plain app', kind: 'web', secret: SECRET('plain'), redirectUris: [REDIRECT], logoUri: `${logo.origin}/missing.png`, tosUri: BRAND.tosUri })
      await register({ clientId: 'par-only', name: 'Pushed requests only', kind: 'web', secret: SECRET('par-only'), requirePushedAuthorizationRequests: true, redirectUris: [REDIRECT] })
    })
    await iam.start()
    Object.assign(clients, {
      pkjJwks: { clientId: 'pkj-jwks', authMethod: 'private_key_jwt', key: keys.jwks!.privateJwk, redirectUri: REDIRECT },
      pkjUri: { clientId: 'pkj-uri', authMethod: 'private_key_jwt', key: keys.uri!.privateJwk, redirectUri: REDIRECT },
      post: { clientId: 'post', authMethod: 'client_secret_post', secret: SECRET('post'), redirectUri: REDIRECT },
      deviceNative: { clientId: 'device-native', authMethod: 'none' },
      deviceWeb: { clientId: 'device-web', authMethod: 'client_secret_basic', secret: SECRET('device-web') },
      webCc: { clientId: 'web-cc', authMethod: 'client_secret_basic', secret: SECRET('web-cc'), redirectUri: REDIRECT },
      legacy: { clientId: 'legacy', authMethod: 'client_secret_basic', secret: SECRET('legacy'), redirectUri: REDIRECT },
      publicApp: { clientId: 'public-app', authMethod: 'none', redirectUri: REDIRECT },
      jar: { clientId: 'jar', authMethod: 'client_secret_basic', secret: SECRET('jar'), key: keys.jar!.privateJwk, redirectUri: REDIRECT },
      jarPkj: { clientId: 'jar-pkj', authMethod: 'private_key_jwt', key: keys.jarRs!.privateJwk, redirectUri: REDIRECT },
      parOnly: { clientId: 'par-only', authMethod: 'client_secret_basic', secret: SECRET('par-only'), redirectUri: REDIRECT },
    } satisfies Record<string, FlowClient>)
  })

  afterAll(async () => {
    await iam?.close()
    await jwksServer?.close()
    await logo?.close()
  })

  it('private_key_jwt with a registered jwks: sign-in, code redeemed with a signed assertion, refresh', async () => {
    const outcome = await runClientFlow(iam.issuer, clients.pkjJwks!, 'code')
    expectOk(outcome)
    expect(outcome.claims?.aud).toBe('pkj-jwks')
    expect(outcome.userinfo?.email ?? outcome.userinfo?.preferred_username).toBeTruthy()
    expect(outcome.refreshed).toBe(true)
  })

  it('private_key_jwt with a jwks_uri the server fetches', async () => {
    const outcome = await runClientFlow(iam.issuer, clients.pkjUri!, 'code')
    expectOk(outcome)
    expect(outcome.claims?.aud).toBe('pkj-uri')
    // Another key than the one behind the jwks_uri is refused.
    const stranger = await clientKey('ES256')
    const refused = await runClientFlow(iam.issuer, { ...clients.pkjUri!, key: { ...stranger.privateJwk, kid: keys.uri!.privateJwk.kid! } }, 'code')
    expect(refused).toMatchObject({ ok: false, error: 'invalid_client' })
  })

  it('client_secret_post: the secret in the body is accepted, another one is not', async () => {
    expectOk(await runClientFlow(iam.issuer, clients.post!, 'code'))
    // (oidc-provider takes client_secret_basic and client_secret_post as one method: either works.)
    const wrong = await runClientFlow(iam.issuer, { ...clients.post!, secret: 'not-the-secret-0123456789-0123456789' }, 'code')
    expect(wrong).toMatchObject({ ok: false, error: 'invalid_client' })
  })

  it('a device-only native client (no redirect URI) signs a person in by device code, and refreshes', async () => {
    const outcome = await runClientFlow(iam.issuer, clients.deviceNative!, 'device')
    expectOk(outcome)
    expect(outcome.claims?.aud).toBe('device-native')
    expect(outcome.userinfo?.preferred_username).toBe(ALICE.username)
    expect(outcome.refreshed).toBe(true)
    // It has no authorization-code grant: nowhere to send a code.
    const code = await runClientFlow(iam.issuer, { ...clients.deviceNative!, redirectUri: REDIRECT }, 'code')
    expect(code.ok).toBe(false)
  })

  it('a confidential device client authenticates when it starts the device flow and when it polls', async () => {
    const outcome = await runClientFlow(iam.issuer, clients.deviceWeb!, 'device')
    expectOk(outcome)
    expect(outcome.claims?.aud).toBe('device-web')
    const wrongSecret = await runClientFlow(iam.issuer, { ...clients.deviceWeb!, secret: 'not-the-secret-0123456789-0123456789' }, 'device')
    expect(wrongSecret).toMatchObject({ ok: false, error: 'invalid_client' })
  })

  it('a web app that also uses client credentials does both', async () => {
    expectOk(await runClientFlow(iam.issuer, clients.webCc!, 'code'))
    const machine = await runClientFlow(iam.issuer, clients.webCc!, 'client-credentials')
    expectOk(machine)
    expect(machine.tokens.access_token).toBeTruthy()
    expect(machine.tokens.refresh_token).toBeUndefined()
    // A web app without that grant is refused it.
    const post = await runClientFlow(iam.issuer, clients.post!, 'client-credentials')
    expect(post).toMatchObject({ ok: false, error: 'invalid_request', errorDescription: 'requested grant type is not allowed for this client' })
  })

  it('a legacy confidential client may leave PKCE out; a public client, and a confidential one by default, may not', async () => {
    const legacy = await runClientFlow(iam.issuer, clients.legacy!, 'code-without-pkce')
    expectOk(legacy)
    expect(legacy.claims?.aud).toBe('legacy')
    // It may still send PKCE.
    expectOk(await runClientFlow(iam.issuer, clients.legacy!, 'code'))
    for (const client of [clients.publicApp!, clients.webCc!]) {
      const refused = await runClientFlow(iam.issuer, client, 'code-without-pkce')
      expect(refused, client.clientId).toMatchObject({ ok: false, error: 'invalid_request' })
    }
  })

  it('a signed request object at /auth and through PAR; a client that requires one is refused without it', async () => {
    const atAuth = await runClientFlow(iam.issuer, clients.jar!, 'code-jar')
    expectOk(atAuth)
    expect(atAuth.claims?.aud).toBe('jar')
    expectOk(await runClientFlow(iam.issuer, clients.jar!, 'code-par-jar'))
    // require_signed_request_object: plain parameters are refused at /auth and at /request.
    expect(await runClientFlow(iam.issuer, clients.jar!, 'code')).toMatchObject({ ok: false, error: 'invalid_request' })
    expect(await runClientFlow(iam.issuer, clients.jar!, 'code-par')).toMatchObject({ ok: false, error: 'invalid_request' })
    // Signed by a key the client did not register: refused.
    const stranger = await clientKey('ES256')
    const forged = await runClientFlow(iam.issuer, { ...clients.jar!, key: { ...stranger.privateJwk, kid: keys.jar!.privateJwk.kid! } }, 'code-jar')
    expect(forged).toMatchObject({ ok: false, error: 'invalid_request_object' })
  })

  it('refuses request objects that are unsigned, HMAC-signed, for another audience or issuer, expired, or for another client, and ignores parameters outside them', async () => {
    const now = Math.floor(Date.now() / 1000)
    const challenge = await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier())
    const claims = (over: JWTPayload = {}): JWTPayload => ({
      iss: 'jar', aud: iam.issuer, client_id: 'jar', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid',
      state: 'st', code_challenge: challenge, code_challenge_method: 'S256', iat: now, exp: now + 60, jti: randomUUID(), ...over,
    })
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const key = await importJWK(keys.jar!.privateJwk, 'ES256') as CryptoKey
    const signed = (payload: JWTPayload) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: keys.jar!.privateJwk.kid! }).sign(key)
    const hs256 = (payload: JWTPayload) => {
      const input = `${b64({ alg: 'HS256' })}.${b64(payload)}`
      return `${input}.${createHmac('sha256', SECRET('jar')).update(input).digest('base64url')}`
    }
    /** The error /auth answers (by redirect to the registered URI, or on a page), or the redirect's code. */
    const authorize = async (request: string, outer: Record<string, string> = {}) => {
      const res = await fetch(`${iam.issuer}/auth?${new URLSearchParams({ client_id: 'jar', request, ...outer })}`, { redirect: 'manual' })
      const location = res.headers.get('location')
      if (location && !location.startsWith(iam.issuer) && !location.startsWith('/')) {
        expect(location.startsWith(`${REDIRECT}?`), location).toBe(true)
        return new URL(location).searchParams.get('error') ?? 'redirected without error'
      }
      if (location) return 'sign-in started'
      expect(res.status).toBe(400)
      return /invalid_[a-z_]+/.exec(await res.text())?.[0] ?? 'page'
    }
    // Control: a good one starts the sign-in.
    expect(await authorize(await signed(claims()))).toBe('sign-in started')
    for (const [label, request] of [
      ['unsigned (alg none)', `${b64({ alg: 'none' })}.${b64(claims())}.`],
      ['HS256 keyed with the client secret', hs256(claims())],
      ['another audience', await signed(claims({ aud: 'https://other.example' }))],
      ['another issuer', await signed(claims({ iss: 'pkj-jwks' }))],
      ['expired', await signed(claims({ iat: now - 600, exp: now - 300 }))],
      ['another client id inside', await signed(claims({ client_id: 'pkj-jwks' }))],
    ] as const) {
      expect(await authorize(request), label).toBe('invalid_request_object')
    }
    // A redirect URI inside that is not registered: never sent there.
    const evil = await fetch(`${iam.issuer}/auth?${new URLSearchParams({ client_id: 'jar', request: await signed(claims({ redirect_uri: 'https://evil.example/cb' })) })}`, { redirect: 'manual' })
    expect(evil.headers.get('location') ?? '').not.toContain('evil.example')
    // Parameters outside the object are not used: an outer redirect_uri or scope changes nothing.
    const outer = await fetch(`${iam.issuer}/auth?${new URLSearchParams({ client_id: 'jar', request: await signed(claims()), redirect_uri: 'https://evil.example/cb', scope: 'openid email' })}`, { redirect: 'manual' })
    expect(outer.headers.get('location') ?? '').not.toContain('evil.example')
  })

  it('a private_key_jwt client signs its request objects with its registered algorithm (RS256)', async () => {
    expectOk(await runClientFlow(iam.issuer, clients.jarPkj!, 'code-jar'))
    expectOk(await runClientFlow(iam.issuer, clients.jarPkj!, 'code-par-jar'))
    // Not required for it: plain parameters still work.
    expectOk(await runClientFlow(iam.issuer, clients.jarPkj!, 'code'))
    // Another algorithm than the registered one is refused, even signed with a registered key.
    const es = await runClientFlow(iam.issuer, { ...clients.jarPkj!, key: keys.jarEs!.privateJwk }, 'code-jar')
    expect(es).toMatchObject({ ok: false, error: 'invalid_request_object' })
  })

  it('a client that must use PAR is refused at /auth without it, and signs in through it', async () => {
    expect(await runClientFlow(iam.issuer, clients.parOnly!, 'code')).toMatchObject({ ok: false, error: 'invalid_request' })
    expectOk(await runClientFlow(iam.issuer, clients.parOnly!, 'code-par'))
    // Another client may still use /auth directly.
    expectOk(await runClientFlow(iam.issuer, clients.webCc!, 'code-par'))
  })

  it('discovery says request objects are supported, and with which algorithms', async () => {
    const meta = await (await fetch(`${iam.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>
    expect(meta.request_parameter_supported).toBe(true)
    expect(meta.request_uri_parameter_supported).toBe(false)
    expect([...(meta.request_object_signing_alg_values_supported as string[])].sort()).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256'])
    expect(meta.require_signed_request_object).toBeUndefined()
    expect(meta.pushed_authorization_request_endpoint).toBe(`${iam.issuer}/request`)
  })

  /** The authorization request of `clientId` (PKCE, a consent prompt). */
  async function authorizationUrl(clientId: string): Promise<string> {
    const config = await oidc.discovery(new URL(iam.issuer), clientId, undefined, oidc.ClientSecretBasic(SECRET(clientId)), { execute: [oidc.allowInsecureRequests] })
    return oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid profile', prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    }).href
  }

  /** Signs Alice in over HTTP and returns the consent page. */
  async function consentPage(clientId: string): Promise<PageResponse> {
    const browser = new HttpBrowser(iam.issuer)
    const login = await browser.navigate(await authorizationUrl(clientId))
    const form = formWithAction(login.body, '/login')
    const consent = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: ALICE.email, password: ALICE.password } })
    expect(consent.body).toContain('Allow access?')
    return consent
  }

  it('the consent page shows the logo, the domain, and the policy and terms links, escaped', async () => {
    const page = await consentPage('branded')
    const img = /<img\b[^>]*>/.exec(page.body)?.[0] ?? ''
    expect(img).toContain(`src="${logo.origin}/logo.png"`)
    expect(img).toContain('alt="Logo of Brand &lt;b&gt;&amp;&lt;/b&gt; &quot;Co&quot;"')
    expect(img).toMatch(/width="64" height="64"/)
    expect(img).toContain('referrerpolicy="no-referrer"')
    expect(page.body).toContain('<strong>Brand &lt;b&gt;&amp;&lt;/b&gt; &quot;Co&quot;</strong> is asking to:')
    expect(page.body).not.toContain('<b>&</b>')
    // The domain is the client_uri's host (not the redirect URI's).
    expect(page.body).toContain('Application at <strong>app.example.test</strong>')
    expect(page.body).toContain('<a href="https://app.example.test/privacy?a=1&amp;b=2" rel="noopener noreferrer" target="_blank">privacy policy</a>')
    expect(page.body).toContain('<a href="https://app.example.test/terms" rel="noopener noreferrer" target="_blank">terms of service</a>')
    expect(page.body).toContain('<a href="https://app.example.test/home" rel="noopener noreferrer" target="_blank">About this application</a>')
    // The page may load images from the logo's origin, and only this page.
    const csp = page.headers.get('content-security-policy') ?? ''
    expect(csp).toContain(`img-src 'self' data: ${logo.origin};`)
    expect(csp).not.toMatch(/img-src[^;]*https:/)
    const login = await new HttpBrowser(iam.issuer).navigate(await authorizationUrl('branded'))
    expect(login.headers.get('content-security-policy')).toContain("img-src 'self' data:;")
  })

  it('without a client_uri the domain is the redirect URI’s; without a policy only the terms are linked', async () => {
    const page = await consentPage('plain')
    expect(page.body).toContain('Application at <strong>localhost</strong>')
    expect(page.body).not.toContain('About this application')
    expect(page.body).not.toContain('privacy policy')
    expect(page.body).toContain('terms of service</a> before you allow it.')
    // A client registered without any of these shows none of them.
    const bare = await consentPage('legacy')
    expect(bare.body).not.toContain('<img')
    expect(bare.body).not.toContain('terms of service')
  })

  it('in Chromium the logo loads under the page’s CSP without a referrer, and a broken logo does not stop the page', async () => {
    let browser: Browser | undefined
    try {
      browser = await launchChromium()
      for (const [clientId, loads] of [['branded', true], ['plain', false]] as const) {
        const { page, context, problems } = await openSession(browser)
        const seen = logo.referers.length
        await page.goto(await authorizationUrl(clientId))
        await page.getByLabel('Email or username', { exact: true }).fill(ALICE.email)
        await page.getByLabel('Password', { exact: true }).fill(ALICE.password)
        await page.getByRole('button', { name: 'Sign in', exact: true }).click()
        await page.getByRole('heading', { name: 'Allow access?' }).waitFor()
        const image = page.locator('img.client-logo')
        await image.waitFor()
        await page.waitForFunction(() => (document.querySelector('img.client-logo') as HTMLImageElement | null)?.complete === true)
        expect(await image.evaluate((el: HTMLImageElement) => el.naturalWidth), clientId).toBe(loads ? 1 : 0)
        await page.getByRole('button', { name: 'Allow', exact: true }).waitFor()
        expect(logo.referers.length, clientId).toBeGreaterThan(seen)
        expect(logo.referers.slice(seen).filter(Boolean), clientId).toEqual([])
        expect(problems.filter((p) => p.includes('CSP')), clientId).toEqual([])
        await context.close()
      }
    } finally {
      await browser?.close()
    }
  }, 120_000)
})

// Bad input gets a clear 4xx in the right format: an OAuth error (JSON or redirect) from protocol
// endpoints, a human page from the interaction pages. Never a 5xx.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, signIn } from '../support/browser.ts'
import { ALICE, SPA_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

describe.each(STORAGE_MODES)('bad input (%s)', (mode) => {
  let iam: IamInstance
  let spa: oidc.Configuration
  const serverErrors = () => iam.logs().split('\n').filter((l) => /"status":5\d\d/.test(l))

  beforeAll(async () => {
    iam = await createIam(mode)
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  })
  afterAll(async () => {
    // Whatever happened above, the server never answered with a 5xx.
    expect(serverErrors()).toEqual([])
    await iam?.close()
  })

  const authorizeUrl = (params: Record<string, string>) => `${iam.issuer}/auth?${new URLSearchParams(params)}`

  async function expectErrorPage(url: string, code: string) {
    const res = await new HttpBrowser(iam.issuer).request(url)
    expect(res.status).toBe(400)
    expect(res.headers.get('location')).toBeNull()
    expect(res.headers.get('content-type')).toMatch(/text\/html/)
    expect(res.body).toContain(`<code>${code}</code>`)
    expect(res.body).toContain('Something went wrong')
    return res
  }

  it('shows an error page (no redirect) for an unknown client', async () => {
    await expectErrorPage(authorizeUrl({ client_id: 'nope', redirect_uri: SPA_REDIRECT, response_type: 'code', scope: 'openid' }), 'invalid_client')
  })

  it('shows an error page (no redirect) for an unregistered redirect_uri', async () => {
    const res = await expectErrorPage(authorizeUrl({ client_id: 'spa', redirect_uri: 'https://evil.example/cb', response_type: 'code', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }), 'invalid_redirect_uri')
    expect(res.body).toContain('return address that is not registered')
  })

  it('redirects invalid_request back to a public client that sent no PKCE challenge', async () => {
    const res = await new HttpBrowser(iam.issuer).request(authorizeUrl({ client_id: 'spa', redirect_uri: SPA_REDIRECT, response_type: 'code', scope: 'openid', state: 's1' }))
    expect(res.status).toBe(303)
    const to = new URL(res.headers.get('location')!)
    expect(to.origin + to.pathname).toBe(SPA_REDIRECT)
    expect(to.searchParams.get('error')).toBe('invalid_request')
    expect(to.searchParams.get('error_description')).toMatch(/PKCE/)
    expect(to.searchParams.get('state')).toBe('s1')
  })

  it('refuses a wrong code_verifier with invalid_grant', async () => {
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const callback = await signIn(new HttpBrowser(iam.issuer), url.href, { login: ALICE.email, password: ALICE.password })
    await expect(oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: oidc.randomPKCECodeVerifier() })).rejects.toMatchObject({ error: 'invalid_grant' })
  })

  async function postToken(body: string | Uint8Array<ArrayBuffer>, headers: Record<string, string>) {
    const res = await fetch(`${iam.issuer}/token`, { method: 'POST', headers: { authorization: basic('web', WEB_SECRET), ...headers }, body })
    return { status: res.status, type: res.headers.get('content-type'), json: await res.json().catch(() => undefined) as { error?: string } | undefined }
  }

  it('answers malformed token requests with OAuth error JSON', async () => {
    const cases: Array<[string, string | Uint8Array<ArrayBuffer>, Record<string, string>]> = [
      ['JSON body', '{"grant_type": "client_credentials"', { 'content-type': 'application/json' }],
      ['no grant_type', 'foo=bar', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['unknown grant_type', 'grant_type=magic', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['broken percent-encoding', 'grant_type=%E0%A4%A&code=%%%', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['invalid UTF-8', new Uint8Array([0x67, 0x72, 0x61, 0x6e, 0x74, 0x3d, 0xff, 0xfe]), { 'content-type': 'application/x-www-form-urlencoded' }],
      ['no content type', 'grant_type=authorization_code', {}],
      ['oversized body', `grant_type=authorization_code&code=${'a'.repeat(2_000_000)}`, { 'content-type': 'application/x-www-form-urlencoded' }],
    ]
    for (const [name, body, headers] of cases) {
      const res = await postToken(body, headers)
      expect(res.status, name).toBeGreaterThanOrEqual(400)
      expect(res.status, name).toBeLessThan(500)
      expect(res.type, name).toMatch(/application\/json/)
      expect(res.json?.error, name).toMatch(/^(invalid_request|unsupported_grant_type|invalid_grant|invalid_client)$/)
    }
  })

  it('refuses bad client authentication on introspection and revocation', async () => {
    for (const path of ['/token/introspection', '/token/revocation']) {
      const res = await fetch(`${iam.issuer}${path}`, { method: 'POST', headers: { authorization: basic('web', 'wrong'), 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=abc' })
      expect(res.status, path).toBe(401)
      expect((await res.json() as { error: string }).error, path).toBe('invalid_client')
    }
  })

  it('answers a bad bearer token at userinfo with 401 and WWW-Authenticate', async () => {
    const res = await fetch(`${iam.issuer}/me`, { headers: { authorization: 'Bearer not-a-token' } })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/)
  })

  describe('interaction pages', () => {
    async function loginPage() {
      const browser = new HttpBrowser(iam.issuer)
      const verifier = oidc.randomPKCECodeVerifier()
      const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
      const page = await browser.navigate(url.href)
      return { browser, form: formWithAction(page.body, '/login') }
    }

    it('refuses a form without its CSRF token with a 403 page', async () => {
      const { browser, form } = await loginPage()
      const action = new URL(form.action, iam.issuer).href
      for (const csrf of [undefined, 'forged']) {
        const fields: Record<string, string> = { login: ALICE.email, password: ALICE.password }
        if (csrf) fields.csrf = csrf
        const res = await browser.request(action, { form: fields })
        expect(res.status).toBe(403)
        expect(res.body).toContain('Form expired')
        expect(res.headers.get('location')).toBeNull()
      }
    })

    it('shows a sign-in-expired page for an unknown interaction or a browser without its cookie', async () => {
      const { form } = await loginPage()
      const stranger = new HttpBrowser(iam.issuer)
      for (const url of [`${iam.issuer}/interaction/does-not-exist`, new URL(form.action.replace(/\/login$/, ''), iam.issuer).href]) {
        const res = await stranger.request(url)
        expect(res.status).toBe(400)
        expect(res.body).toContain('Sign-in expired')
      }
    })

    it('answers an oversized form with a 413 page and keeps the form usable', async () => {
      const { browser, form } = await loginPage()
      const res = await browser.request(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: ALICE.email, password: 'x'.repeat(100_000) } })
      expect(res.status).toBe(413)
      expect(res.body).toContain('Request not accepted')
    })

    it('re-renders the form with a message for empty or wrongly-typed fields', async () => {
      const { browser, form } = await loginPage()
      const action = new URL(form.action, iam.issuer).href
      const empty = await browser.request(action, { form: { ...form.fields, login: '', password: '' } })
      expect(empty.status).toBe(400)
      expect(empty.body).toContain('Enter your email or username.')
      const res = await fetch(action, { method: 'POST', headers: { cookie: browser.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${encodeURIComponent(form.fields.csrf!)}&login[a]=1&login[b]=2&password=x` })
      expect(res.status).toBe(400)
      // Hostile input is escaped, never reflected as markup.
      const xss = await browser.request(action, { form: { ...form.fields, login: '"><script>alert(1)</script>', password: 'x' } })
      expect(xss.body).not.toContain('<script>alert(1)</script>')
      expect(xss.body).toContain('&quot;&gt;&lt;script&gt;')
    })
  })
})

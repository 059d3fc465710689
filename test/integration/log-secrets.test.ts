// The server's logs never carry a secret. A realistic run (password sign-in and a wrong
// password, authorization code + PKCE + refresh through openid-client, client credentials with a
// secret, an emailed MFA code, a password reset link, introspection) collects every secret it
// sees on the wire, then searches everything the server printed for each of them, raw and
// URL-encoded. The request lines themselves are checked too: one JSON line per request with a
// request id (an honoured X-Request-Id, else a generated one, echoed back), method, route pattern,
// status and duration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, signIn, type PageResponse } from '../support/browser.ts'
import { ALICE, API, OPAQUE_API, SERVICE_SECRET, WEB_REDIRECT, WEB_SECRET, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { startMailCatcher, type MailCatcher } from '../support/smtp.ts'
import { addCodeFactor } from '../support/mfa-fixtures.ts'
import { createUser } from '../../src/identity/users.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const EMMA = { email: 'emma.logs@example.test', password: 'emma keeps her passphrase long' }
const RITA = { email: 'rita.logs@example.test', password: 'rita hums while the kettle boils' }
const RITA_NEW = 'copper kites above the salt marsh'
const WRONG_PASSWORD = 'not-alices-password-but-close'

interface RequestLine { msg: string; reqId: string; method: string; route: string; status: number; ms: number }

describe('logs carry no secrets (postgres-redis)', () => {
  let iam: IamInstance
  let mail: MailCatcher
  let web: oidc.Configuration
  let spa: oidc.Configuration
  let svc: oidc.Configuration
  /** name → value of every secret this run handled. */
  const secrets = new Map<string, string>()
  const keep = (name: string, value: string | undefined) => {
    if (!value) throw new Error(`no ${name} to keep`)
    secrets.set(name, value)
  }
  const keepCookies = (browser: HttpBrowser, label: string) => {
    for (const pair of browser.cookieHeader().split('; ').filter(Boolean)) {
      const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]
      // Only values long enough to be secrets (a signature, a session id), not flags like "1".
      if (value.length >= 16) keep(`${label} cookie ${name}`, value)
    }
  }
  const submit = (browser: HttpBrowser, page: PageResponse, suffix: string, fields: Record<string, string> = {}) => {
    const form = formWithAction(page.body, suffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }

  beforeAll(async () => {
    mail = await startMailCatcher()
    iam = await createIam('postgres-redis', { env: { ...mail.env, MFA_RESEND_SECONDS: '0' } })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      const emma = await createUser(prisma, { ...EMMA, emailVerified: true })
      await addCodeFactor(prisma, emma.id, 'email', EMMA.email)
      await createUser(prisma, { ...RITA, emailVerified: true })
    })
    await iam.start()
    const issuer = new URL(iam.issuer)
    web = await oidc.discovery(issuer, 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
    spa = await oidc.discovery(issuer, 'spa', undefined, oidc.None(), insecure)
    svc = await oidc.discovery(issuer, 'svc', SERVICE_SECRET, oidc.ClientSecretBasic(SERVICE_SECRET), insecure)
    keep('web client secret', WEB_SECRET)
    keep('service client secret', SERVICE_SECRET)
    // As they travel in an Authorization: Basic header (RFC 6749 §2.3.1 form-encodes them first).
    const basic = (id: string, secret: string) => Buffer.from(`${id}:${new URLSearchParams({ s: secret }).toString().slice(2)}`).toString('base64')
    keep('web Basic credentials', basic('web', WEB_SECRET))
    keep('service Basic credentials', basic('svc', SERVICE_SECRET))
  })

  afterAll(async () => {
    await iam?.close()
    await mail?.close()
  })

  it('runs the flows: wrong password, code + PKCE + refresh, introspection', async () => {
    keep('password', ALICE.password)
    keep('wrong password', WRONG_PASSWORD)
    const browser = new HttpBrowser(iam.issuer)
    const verifier = oidc.randomPKCECodeVerifier()
    keep('PKCE verifier', verifier)
    const url = oidc.buildAuthorizationUrl(web, {
      redirect_uri: WEB_REDIRECT, scope: 'openid profile email offline_access', prompt: 'consent', state: oidc.randomState(),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const login = await browser.navigate(url.href)
    const refused = await submit(browser, login, '/login', { login: ALICE.email, password: WRONG_PASSWORD })
    expect(refused.status).toBe(400) // the login page again, with its error
    const callback = await signIn(browser, url.href, { login: ALICE.email, password: ALICE.password })
    keep('authorization code', callback.searchParams.get('code') ?? undefined)
    keepCookies(browser, 'signed-in browser')
    const tokens = await oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: verifier, expectedState: url.searchParams.get('state')! })
    keep('access token', tokens.access_token)
    keep('refresh token', tokens.refresh_token)
    keep('ID token', tokens.id_token)
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!)
    keep('refreshed access token', refreshed.access_token)
    keep('rotated refresh token', refreshed.refresh_token ?? tokens.refresh_token)
    keep('refreshed ID token', refreshed.id_token)
    const introspected = await oidc.tokenIntrospection(web, refreshed.access_token)
    expect(introspected.active).toBe(true)
    const info = await oidc.fetchUserInfo(web, refreshed.access_token, refreshed.claims()!.sub)
    expect(info.email).toBe(ALICE.email)
  })

  it('runs client credentials with a secret', async () => {
    const jwt = await oidc.clientCredentialsGrant(svc, { resource: API, scope: 'read' })
    keep('client credentials JWT', jwt.access_token)
    const opaque = await oidc.clientCredentialsGrant(svc, { resource: OPAQUE_API, scope: 'read' })
    keep('client credentials opaque token', opaque.access_token)
    const introspected = await oidc.tokenIntrospection(svc, opaque.access_token)
    expect(introspected.active).toBe(true)
  })

  it('runs an emailed MFA code', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const verifier = oidc.randomPKCECodeVerifier()
    keep('MFA PKCE verifier', verifier)
    const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const login = await browser.navigate(url.href)
    keep('MFA user password', EMMA.password)
    const mfa = await submit(browser, login, '/login', { login: EMMA.email, password: EMMA.password })
    const method = /name="method" value="([^"]*)">Email a code/.exec(mfa.body)?.[1]
    expect(method, mfa.body.slice(0, 1000)).toBeDefined()
    const since = mail.messages.length
    const codePage = await submit(browser, mfa, '/mfa/select', { method: method! })
    const code = await mail.codeFor(EMMA.email, { since })
    keep('MFA email code', code)
    let done = await submit(browser, codePage, '/mfa/verify', { code })
    if (new URL(done.url).origin === iam.issuer && /\/consent"/.test(done.body)) done = await submit(browser, done, '/consent')
    const callback = new URL(done.url)
    expect(callback.origin + callback.pathname).toBe(SPA_REDIRECT)
    keep('MFA authorization code', callback.searchParams.get('code') ?? undefined)
    keepCookies(browser, 'MFA browser')
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier })
    keep('MFA access token', tokens.access_token)
    keep('MFA ID token', tokens.id_token)
  })

  it('runs a password reset link', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const since = mail.messages.length
    const form = await browser.navigate(`${iam.issuer}/self-service/forgot-password`)
    await submit(browser, form, '/self-service/forgot-password', { email: RITA.email })
    const message = await mail.nextTo(RITA.email, { since })
    const link = /https?:\/\/\S+\/self-service\/reset-password\?token=([A-Za-z0-9_-]+)/.exec(message.text)
    expect(link, message.text).not.toBeNull()
    keep('reset link token', link![1])
    const page = await browser.navigate(link![0])
    keep('new password', RITA_NEW)
    const reset = await submit(browser, page, '/self-service/reset-password', { password: RITA_NEW, confirm: RITA_NEW })
    expect(reset.status).toBe(200)
    keepCookies(browser, 'reset browser')
  })

  it('logs one JSON line per request: request id, method, route pattern, status, duration', async () => {
    const res = await fetch(`${iam.issuer}/.well-known/openid-configuration?probe=1`, { headers: { 'X-Request-Id': 'probe-request-0001' } })
    expect(res.headers.get('x-request-id')).toBe('probe-request-0001')
    const bad = await fetch(`${iam.issuer}/healthz`, { headers: { 'X-Request-Id': 'not sane\u00e9 {"x":1}' } })
    const generated = bad.headers.get('x-request-id')!
    expect(generated).toMatch(/^[0-9a-f-]{36}$/)
    await new Promise((r) => setTimeout(r, 200))

    const lines = iam.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RequestLine).filter((l) => l.msg === 'request')
    const probe = lines.find((l) => l.reqId === 'probe-request-0001')
    expect(probe).toMatchObject({ method: 'GET', route: '/.well-known/openid-configuration', status: 200 })
    expect(typeof probe!.ms).toBe('number')
    expect(lines.find((l) => l.reqId === generated)).toMatchObject({ route: '/healthz', status: 200 })
    // Route patterns, not paths with ids in them.
    const routes = new Set(lines.map((l) => l.route))
    expect(routes).toContain('/interaction/:uid/login')
    expect(routes).toContain('/token')
    expect(routes).toContain('/auth/:uid')
    expect([...routes].filter((r) => /\/interaction\/[A-Za-z0-9_-]{10,}/.test(r))).toEqual([])
    expect(lines.find((l) => l.route === '/token' && l.status === 200)).toBeDefined()
    expect(lines.find((l) => l.route === '/token/introspection' && l.status === 200)).toBeDefined()
  })

  it('no secret appears anywhere in the logs', () => {
    // Every flow above ran and kept its secrets.
    expect(secrets.size).toBeGreaterThanOrEqual(20)
    const logs = iam.logs()
    expect(logs.length).toBeGreaterThan(1000)
    const found: string[] = []
    for (const [name, value] of secrets) {
      for (const form of new Set([value, encodeURIComponent(value), new URLSearchParams({ v: value }).toString().slice(2)])) {
        if (logs.includes(form)) found.push(`${name} (${form === value ? 'raw' : 'encoded'})`)
      }
      // A JWT's signature alone would also be a leak (e.g. a token logged after truncation).
      const signature = value.split('.').length === 3 ? value.split('.')[2]! : ''
      if (signature.length > 20 && logs.includes(signature)) found.push(`${name} (signature)`)
    }
    expect(found).toEqual([])
  })
})

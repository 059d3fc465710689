// Rate limits through the real server: sign-in per address and per typed account, code checks and
// code sending at the second-factor step, and token requests per client. Each answers 429 with
// Retry-After: pages say when to try again, the token endpoint answers OAuth error JSON. The
// counters live in Redis in postgres-redis mode and in the server process in embedded mode.
// Distinct addresses come from X-Forwarded-For, which the server trusts here (TRUST_PROXY=true).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { Redis } from 'ioredis'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, type PageResponse } from '../support/browser.ts'
import { API, SERVICE_SECRET, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { addCodeFactor, addTotpFactor, totpCode } from '../support/mfa-fixtures.ts'
import { startMailCatcher, type MailCatcher } from '../support/smtp.ts'
import { createUser } from '../../src/identity/users.ts'
import { createClient } from '../../src/clients/registry.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const RITA = { email: 'rita@example.test', password: 'rita has a long passphrase' }
const SAM = { email: 'sam@example.test', password: 'sam has a long passphrase' }
const VERA = { email: 'vera@example.test', password: 'vera has a long passphrase' }
const SENA = { email: 'sena@example.test', password: 'sena has a long passphrase' }
const NORA = { email: 'nora@example.test', password: 'nora has a long passphrase' }
const SVC2_SECRET = 'second-service-secret-0123456789-0123456789'
const SVC3_SECRET = 'third-service-secret-0123456789-01234567890'
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

const LIMITS = {
  RATE_LIMIT_SIGN_IN_IP: '3/600',
  RATE_LIMIT_SIGN_IN_ACCOUNT: '4/600',
  RATE_LIMIT_CODE_VERIFY_ACCOUNT: '3/600',
  RATE_LIMIT_CODE_SEND_ACCOUNT: '2/600',
  RATE_LIMIT_TOKEN_CLIENT: '3/600',
}

const alert = (page: PageResponse) => /role="alert"[^>]*>([^<]*)</.exec(page.body)?.[1]

/** A 429 with a whole number of seconds to wait, within the limit's window. */
function expectRetryAfter(res: { status: number; headers: Headers }, windowSeconds = 600): number {
  expect(res.status).toBe(429)
  const header = res.headers.get('retry-after')
  expect(header).toMatch(/^\d+$/)
  const seconds = Number(header)
  expect(seconds).toBeGreaterThan(0)
  expect(seconds).toBeLessThanOrEqual(windowSeconds)
  return seconds
}

describe.each(STORAGE_MODES)('rate limits (%s)', (mode) => {
  let iam: IamInstance
  let mail: MailCatcher
  let spa: oidc.Configuration
  let svc: oidc.Configuration
  let veraSecret: string
  const startedAt = new Date()

  beforeAll(async () => {
    mail = await startMailCatcher()
    iam = await createIam(mode, { env: { ...mail.env, ...LIMITS, TRUST_PROXY: 'true', LOCKOUT_THRESHOLD: '100', MFA_RESEND_SECONDS: '0' } })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      for (const person of [RITA, SAM, NORA]) await createUser(prisma, { ...person, emailVerified: true })
      veraSecret = await addTotpFactor(prisma, (await createUser(prisma, { ...VERA, emailVerified: true })).id)
      await addCodeFactor(prisma, (await createUser(prisma, { ...SENA, emailVerified: true })).id, 'email', SENA.email)
      await createClient(prisma, { clientId: 'svc2', name: 'Second Service', kind: 'service', secret: SVC2_SECRET })
      await createClient(prisma, { clientId: 'svc3', name: 'Third Service', kind: 'service', secret: SVC3_SECRET })
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
    svc = await oidc.discovery(new URL(iam.issuer), 'svc', SERVICE_SECRET, undefined, insecure)
  })
  afterAll(async () => {
    await iam?.close()
    await mail?.close()
  })

  /** A fresh browser (or `again`, asked to sign in again) at the login page of a new authorization request. */
  async function loginPage(again?: HttpBrowser) {
    const browser = again ?? new HttpBrowser(iam.issuer)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', ...(again ? { prompt: 'login' } : {}), code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const page = await browser.navigate(url.href)
    expect(page.body).toContain('name="password"')
    return { browser, page }
  }

  /** One sign-in attempt from `ip` (as the trusted proxy reports it). */
  function attempt(browser: HttpBrowser, page: PageResponse, login: string, password: string, forwardedFor: string) {
    const form = formWithAction(page.body, '/login')
    return browser.request(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login, password }, headers: { 'x-forwarded-for': forwardedFor } })
  }

  const post = (browser: HttpBrowser, page: PageResponse, suffix: string, fields: Record<string, string> = {}) => {
    const form = formWithAction(page.body, suffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }

  async function passwordStep(who: { email: string; password: string }) {
    const { browser, page } = await loginPage()
    const form = formWithAction(page.body, '/login')
    return { browser, page: await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: who.email, password: who.password } }) }
  }

  function tokenRequest(body: Record<string, string>, authorization?: string, forwardedFor?: string) {
    return fetch(`${iam.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}), ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) },
      body: new URLSearchParams(body).toString(),
    })
  }

  it('keeps the counters in Redis with REDIS_URL, in the process without', () => {
    expect(iam.logs()).toContain(mode === 'postgres-redis' ? 'rate limits: counters in Redis' : 'rate limits: counters in this process')
  })

  it('limits sign-in attempts per address: 429 with Retry-After and a page that says when to try again', async () => {
    const { browser, page } = await loginPage()
    for (const n of [1, 2, 3]) {
      const res = await attempt(browser, page, `stranger${n}@example.test`, 'a wrong password', '10.0.0.1')
      expect(res.status).toBe(400)
    }
    const limited = await attempt(browser, page, 'stranger4@example.test', 'a wrong password', '10.0.0.1')
    const wait = expectRetryAfter(limited)
    expect(alert(limited)).toBe(`Too many sign-in attempts. Please wait, and try again in ${Math.ceil(wait / 60)} minutes.`)
    expect(limited.headers.get('cache-control')).toContain('no-store')
    // Still the sign-in page, with a working form (its CSRF token), and what was typed kept.
    expect(limited.body).toMatch(/name="csrf" value="[^"]+"/)
    expect(limited.body).toMatch(/id="login"[^>]*value="stranger4@example.test"/)

    // The proxy's own entry counts (the last); an entry the client wrote in front does not help it.
    expect((await attempt(browser, page, 'stranger5@example.test', 'a wrong password', '10.9.9.9, 10.0.0.1')).status).toBe(429)
    // Another address is not affected.
    expect((await attempt(browser, page, 'stranger6@example.test', 'a wrong password', '10.0.0.2')).status).toBe(400)
  })

  it('limits attempts per typed account from any address, known and unknown accounts alike', async () => {
    const pages: Record<string, PageResponse> = {}
    const { browser, page } = await loginPage()
    for (const login of [RITA.email, 'nobody-at-all@example.test']) {
      for (const n of [1, 2, 3, 4]) expect((await attempt(browser, page, login, 'a wrong password', `10.1.${n}.1`)).status).toBe(400)
      // Spelled differently, still the same account; the right password is not even checked.
      const limited = await attempt(browser, page, login.toUpperCase(), login === RITA.email ? RITA.password : 'x', '10.1.5.1')
      expectRetryAfter(limited)
      pages[login] = limited
    }
    const normalise = (p: PageResponse) => p.body.replace(/name="csrf" value="[^"]*"/g, '').replace(/ nonce="[^"]*"/g, '').replace(/(id="login"[^>]*value=")[^"]*"/, '$1"').replace(/try again in \d+ minutes/, '')
    expect(normalise(pages[RITA.email]!)).toBe(normalise(pages['nobody-at-all@example.test']!))
  })

  it('lets the owner\'s known browser in while a stranger has spent the account\'s allowance', async () => {
    // The owner signed in from this browser before: it carries a device cookie for her account.
    const owner = await loginPage()
    expect((await attempt(owner.browser, owner.page, NORA.email, NORA.password, '10.4.0.1')).status).toBe(303)
    // A stranger spends the account's allowance from four addresses.
    const { browser, page } = await loginPage()
    for (const n of [1, 2, 3, 4]) expect((await attempt(browser, page, NORA.email, 'a wrong password', `10.4.${n}.1`)).status).toBe(400)
    expectRetryAfter(await attempt(browser, page, NORA.email, NORA.password, '10.4.5.1'))
    // Her browser signs in; a browser without her device cookie is still refused, at her address too.
    const again = await loginPage(owner.browser)
    expect((await attempt(again.browser, again.page, NORA.email, NORA.password, '10.4.0.1')).status).toBe(303)
    const fresh = await loginPage()
    expectRetryAfter(await attempt(fresh.browser, fresh.page, NORA.email, NORA.password, '10.4.0.1'))
    // Her success did not hand the stranger a fresh allowance.
    expectRetryAfter(await attempt(browser, page, NORA.email, 'a wrong password', '10.4.6.1'))
  })

  it('gives the account its allowance back after a successful sign-in', async () => {
    const { browser, page } = await loginPage()
    for (const n of [1, 2, 3]) expect((await attempt(browser, page, SAM.email, 'a wrong password', `10.2.${n}.1`)).status).toBe(400)
    const right = await attempt(browser, page, SAM.email, SAM.password, '10.2.4.1')
    expect(right.status).toBe(303)
    const again = await loginPage()
    for (const n of [1, 2, 3, 4]) expect((await attempt(again.browser, again.page, SAM.email, 'a wrong password', `10.2.${n}.2`)).status).toBe(400)
    expectRetryAfter(await attempt(again.browser, again.page, SAM.email, 'a wrong password', '10.2.5.2'))
  })

  it('limits second-factor code checks per account, even a right code once the limit is reached', async () => {
    const step = await passwordStep(VERA)
    let page = await post(step.browser, step.page, '/mfa/select', { method: /name="method" value="([^"]*)"/.exec(step.page.body)![1]! })
    expect(page.body).toContain('Enter the 6-digit code')
    const right = await totpCode(veraSecret)
    const wrong = right === '000000' ? '111111' : '000000'
    for (let i = 0; i < 3; i++) {
      page = await post(step.browser, page, '/mfa/verify', { code: wrong })
      expect(page.status).toBe(400)
    }
    page = await post(step.browser, page, '/mfa/verify', { code: right })
    const wait = expectRetryAfter(page)
    expect(alert(page)).toBe(`Too many codes were tried. Please wait, and try again in ${Math.ceil(wait / 60)} minutes.`)
    expect(page.body).toContain('Enter the 6-digit code')
  })

  it('limits codes sent per account', async () => {
    const step = await passwordStep(SENA)
    const since = mail.messages.length
    let page = await post(step.browser, step.page, '/mfa/select', { method: /name="method" value="([^"]*)"/.exec(step.page.body)![1]! })
    expect(page.body).toContain('We sent a 6-digit code')
    page = await post(step.browser, page, '/mfa/resend')
    expect(page.status).toBe(200)
    await expect.poll(() => mail.messages.length - since).toBe(2)
    page = await post(step.browser, page, '/mfa/resend')
    const wait = expectRetryAfter(page)
    expect(alert(page)).toBe(`Too many codes were sent. Please wait, and try again in ${Math.ceil(wait / 60)} minutes.`)
    // The codes already sent still work: the code page stays.
    expect(page.body).toContain('/mfa/verify')
    expect(mail.messages.length - since).toBe(2)
  })

  it('limits token requests per client with 429, Retry-After and OAuth error JSON; other clients go on', async () => {
    for (let i = 0; i < 3; i++) await oidc.clientCredentialsGrant(svc, { scope: 'read', resource: API })
    const limited = await tokenRequest({ grant_type: 'client_credentials', scope: 'read', resource: API }, basic('svc', SERVICE_SECRET))
    expectRetryAfter(limited)
    expect(limited.headers.get('content-type')).toMatch(/application\/json/)
    expect(limited.headers.get('cache-control')).toBe('no-store')
    expect(await limited.json()).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.stringContaining('retry after') })
    // The client library sees an OAuth error.
    await expect(oidc.clientCredentialsGrant(svc, { scope: 'read', resource: API })).rejects.toMatchObject({ error: 'temporarily_unavailable' })

    // Naming svc2 with a wrong secret does not use up its allowance.
    for (let i = 0; i < 5; i++) {
      const res = await tokenRequest({ grant_type: 'client_credentials', scope: 'read', resource: API }, basic('svc2', 'not the secret'))
      expect(res.status).toBe(401)
    }
    for (let i = 0; i < 3; i++) {
      const res = await tokenRequest({ grant_type: 'client_credentials', scope: 'read', resource: API }, basic('svc2', SVC2_SECRET))
      expect(res.status).toBe(200)
    }
    expectRetryAfter(await tokenRequest({ grant_type: 'client_credentials', scope: 'read', resource: API }, basic('svc2', SVC2_SECRET)))
  })

  it('finds the client in the form body too (public clients)', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await tokenRequest({ grant_type: 'refresh_token', refresh_token: `not-a-token-${i}`, client_id: 'spa' })
      expect(res.status).toBe(400)
      expect((await res.json() as { error: string }).error).toBe('invalid_grant')
    }
    const limited = await tokenRequest({ grant_type: 'refresh_token', refresh_token: 'not-a-token', client_id: 'spa' })
    expectRetryAfter(limited)
    expect((await limited.json() as { error: string }).error).toBe('temporarily_unavailable')
    // The provider read the body the limit had read before it, and had nothing to complain about.
    expect(iam.logs()).not.toMatch(/oidc-provider (WARNING|NOTICE)/)
  })

  it('audits each limit reached once per window, with the limit and what it counted', async () => {
    const { rows, emails } = await withDb(async (prisma) => ({
      rows: await prisma.auditEvent.findMany({ where: { type: 'rate_limited', at: { gte: startedAt } }, orderBy: { at: 'asc' } }),
      emails: new Map((await prisma.user.findMany({ select: { id: true, email: true } })).map((u) => [u.id, u.email])),
    }))
    const seen = rows.map((r) => `${(r.details as { limit: string }).limit}:${(r.details as { dimension: string }).dimension}:${r.userId ? emails.get(r.userId) : ''}:${r.clientId ?? ''}`)
    expect(seen).toEqual(expect.arrayContaining([
      'signIn:ip::spa',
      'signIn:account::spa',
      `codeVerify:account:${VERA.email}:spa`,
      `codeSend:account:${SENA.email}:spa`,
      'token:client::svc',
      'token:client::svc2',
      'token:client::spa',
    ]))
    // Once per counter and window, not per refused request (svc was refused twice).
    expect(seen.filter((s) => s === 'token:client::svc')).toHaveLength(1)
    expect(rows.every((r) => r.outcome === 'failure' && r.ip)).toBe(true)
    expect(rows.find((r) => (r.details as { limit: string }).limit === 'signIn')?.ip).toBe('10.0.0.1')
  })

  it.skipIf(mode === 'embedded')('keeps the counters in Redis, and keeps limiting in the process while Redis is away', async () => {
    const redis = new Redis(iam.redis!.url, { maxRetriesPerRequest: 1 })
    try {
      const keys = await redis.keys('iam:rl:*')
      expect(keys).toEqual(expect.arrayContaining(['iam:rl:signIn:ip:10.0.0.1', 'iam:rl:token:client:svc', 'iam:rl:token:client:spa']))
      // Accounts are kept as digests: no email address in Redis.
      expect(keys.filter((k) => k.startsWith('iam:rl:signIn:account:'))).not.toHaveLength(0)
      expect(keys.join(' ')).not.toContain('@')
    } finally {
      redis.disconnect()
    }

    await iam.redis!.stop()
    try {
      const statuses: number[] = []
      for (let i = 0; i < 4; i++) statuses.push((await tokenRequest({ grant_type: 'client_credentials', scope: 'read', resource: API }, basic('svc3', SVC3_SECRET))).status)
      expect(statuses.slice(0, 3)).not.toContain(429)
      expect(statuses[3]).toBe(429)
      expect(iam.logs()).toContain('rate limits: Redis is unavailable; counting in this process until it is back')
    } finally {
      await iam.redis!.restart()
    }
  })

  /** Direct database access (embedded: only while the server is stopped, so it restarts after). */
  async function withDb<T>(fn: (prisma: PrismaClient) => Promise<T>): Promise<T> {
    if (mode === 'embedded') await iam.stop()
    try {
      return await iam.withDatabase(fn)
    } finally {
      if (mode === 'embedded') await iam.start()
    }
  }
})

describe('rate limits without a trusted proxy (embedded)', () => {
  let iam: IamInstance
  let spa: oidc.Configuration

  beforeAll(async () => {
    iam = await createIam('embedded', { env: { RATE_LIMIT_SIGN_IN_IP: '2/600' } })
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  })
  afterAll(async () => {
    await iam?.close()
  })

  it('ignores X-Forwarded-For: every attempt counts for the connecting address', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' })
    const page = await browser.navigate(url.href)
    const form = formWithAction(page.body, '/login')
    const statuses: number[] = []
    for (const n of [1, 2, 3]) {
      const res = await browser.request(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: `someone${n}@example.test`, password: 'wrong' }, headers: { 'x-forwarded-for': `10.3.0.${n}` } })
      statuses.push(res.status)
    }
    expect(statuses).toEqual([400, 400, 429])
  })
})

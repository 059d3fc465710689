// Second factor by SMS and WhatsApp through Vonage's Messages API, in both storage modes: the real
// server talks to a fake Vonage on loopback; a person walks the real pages; a relying party
// (openid-client) reads what the ID token says happened.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { generate as generateTotp, generateSecret as generateTotpSecret } from 'otplib'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, type PageResponse } from '../support/browser.ts'
import { createFixtures } from '../support/fixtures.ts'
import { FAKE_SMS_FROM, FAKE_VONAGE_KEY, FAKE_VONAGE_SECRET, FAKE_WHATSAPP_FROM, startFakeVonage, type FakeVonage } from '../support/fake-vonage.ts'
import { sleep } from '../support/processes.ts'
import { createUser } from '../../src/identity/users.ts'
import { createSecretBox, loadEncryptionKeys } from '../../src/security/encryption.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const CALLBACK = 'http://localhost:4000/callback'
const SITE_NAME = 'Example ID'
const RESEND_SECONDS = 2
const PASSWORD = 'a long and correct passphrase'
const ENCRYPTION_KEYS = `k1:${randomBytes(32).toString('base64')}`

// One person per scenario: the resend throttle and the code attempts are per person.
const PHONE = '+447700900123'
const WA_PHONE = '+447700900456'
const people = {
  sms: { email: 'sam@example.test', phone: PHONE },
  whatsapp: { email: 'wanda@example.test', phone: WA_PHONE },
  wrong: { email: 'wally@example.test', phone: '+447700900124' },
  resend: { email: 'rita@example.test', phone: '+447700900125' },
  vonageError: { email: 'tess@example.test', phone: '+447700900126' },
  vonageDown: { email: 'tina@example.test', phone: '+447700900127' },
  vonageHangs: { email: 'hank@example.test', phone: '+447700900128' },
} as const
type Person = keyof typeof people
/** These also have an authenticator app: the fallback when Vonage fails. */
const withTotp: Person[] = ['vonageError', 'vonageDown']

describe.each(STORAGE_MODES)('second factor by SMS and WhatsApp (%s)', (mode) => {
  let iam: IamInstance
  let vonage: FakeVonage
  let client: oidc.Configuration
  const ids = {} as Record<Person, string>
  const totpSecrets = {} as Partial<Record<Person, string>>

  beforeAll(async () => {
    vonage = await startFakeVonage()
    iam = await createIam(mode, { env: { ...vonage.env, SITE_NAME, MFA_RESEND_SECONDS: String(RESEND_SECONDS), ENCRYPTION_KEYS } })
    const box = createSecretBox(await loadEncryptionKeys({ encryptionKeys: ENCRYPTION_KEYS, keysDir: '/nonexistent' }))
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      for (const [name, person] of Object.entries(people) as Array<[Person, (typeof people)[Person]]>) {
        const user = await createUser(prisma, { email: person.email, password: PASSWORD, emailVerified: true })
        ids[name] = user.id
        const kind = name === 'whatsapp' ? 'whatsapp' : 'sms'
        await prisma.mfaFactor.create({ data: { userId: user.id, kind, label: kind === 'sms' ? 'Mobile' : 'WhatsApp', destination: person.phone, verified: true } })
        if (withTotp.includes(name)) {
          const secret = generateTotpSecret()
          totpSecrets[name] = secret
          await prisma.mfaFactor.create({ data: { userId: user.id, kind: 'totp', label: 'Authenticator app', secret: box.seal(secret, `totp:${user.id}`), verified: true } })
        }
      }
    })
    await iam.start()
    client = await oidc.discovery(new URL(iam.issuer), 'first', undefined, oidc.None(), insecure)
  })

  afterAll(async () => {
    await iam?.close()
    await vonage?.close()
  })

  /** Runs `fn` on the database: live in postgres-redis mode; embedded, the server stops meanwhile. */
  async function inDatabase<T>(fn: (prisma: PrismaClient) => Promise<T>): Promise<T> {
    if (mode === 'postgres-redis') return iam.withDatabase(fn)
    await iam.stop()
    try {
      return await iam.withDatabase(fn)
    } finally {
      await iam.start()
    }
  }

  /** authorize → login page → password; returns the page after the password (the MFA step). */
  async function startSignIn(person: Person) {
    const browser = new HttpBrowser(iam.issuer)
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const url = oidc.buildAuthorizationUrl(client, {
      redirect_uri: CALLBACK, scope: 'openid', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const login = await browser.navigate(url.href)
    const form = formWithAction(login.body, '/login')
    const page = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: people[person].email, password: PASSWORD } })
    expect(page.status).toBe(200)
    expect(page.body).toContain('Choose how to confirm your sign-in')
    return { browser, verifier, state, page }
  }

  /** Presses the button labelled `label` on the choose page. */
  async function choose(browser: HttpBrowser, page: PageResponse, label: RegExp): Promise<PageResponse> {
    const form = formWithAction(page.body, '/mfa/select')
    const button = [...page.body.matchAll(/<button\b[^>]*name="method" value="([^"]*)"[^>]*>([^<]*)<\/button>/g)].find((m) => label.test(m[2]!))
    if (!button) throw new Error(`no option ${label} on the page:\n${page.body}`)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, method: button[1]! } })
  }

  async function post(browser: HttpBrowser, page: PageResponse, suffix: string, fields: Record<string, string> = {}): Promise<PageResponse> {
    const form = formWithAction(page.body, suffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }

  const enterCode = (browser: HttpBrowser, page: PageResponse, code: string) => post(browser, page, '/mfa/verify', { code })

  async function redeem(res: PageResponse, flow: { verifier: string; state: string }) {
    expect(res.url.startsWith(CALLBACK), `expected the redirect to the client, got ${res.status} ${res.url}:\n${res.body.slice(0, 1500)}`).toBe(true)
    return oidc.authorizationCodeGrant(client, new URL(res.url), { pkceCodeVerifier: flow.verifier, expectedState: flow.state })
  }

  const otherCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0')
  const expectedText = (code: string) => `${code} is your ${SITE_NAME} code. It expires in 10 minutes.`

  it('texts a code through the Messages API and signs in with it: acr mfa, amr pwd sms mfa', async () => {
    const flow = await startSignIn('sms')
    expect(flow.page.body).toMatch(/Text a code to •{11}23</)
    const since = vonage.requests.length
    const codePage = await choose(flow.browser, flow.page, /^Text a code to/)
    expect(codePage.status).toBe(200)
    expect(codePage.body).toMatch(/We sent a 6-digit code to •{11}23\. It expires in 10 minutes\./)

    const code = await vonage.codeFor(PHONE, since)
    const sent = vonage.requests.slice(since)
    expect(sent).toHaveLength(1)
    const request = sent[0]!
    expect(request.method).toBe('POST')
    expect(request.path).toBe('/v1/messages')
    expect(request.auth).toEqual({ user: FAKE_VONAGE_KEY, password: FAKE_VONAGE_SECRET })
    expect(request.headers['content-type']).toBe('application/json')
    // The exact payload: digits-only number (Vonage takes E.164 without +), nothing else.
    expect(request.body).toEqual({ channel: 'sms', message_type: 'text', to: '447700900123', from: FAKE_SMS_FROM, text: expectedText(code) })

    const done = await enterCode(flow.browser, codePage, code)
    const tokens = await redeem(done, flow)
    const claims = tokens.claims()!
    expect(claims.acr).toBe('urn:iam:acr:mfa')
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'sms', 'mfa']))
    expect(claims.amr).not.toContain('otp')
    expect(claims.sub).toBe(ids.sms)
    // The code is never logged.
    expect(iam.logs()).not.toMatch(new RegExp(`\\b${code}\\b`))
  })

  it('sends a code by WhatsApp: acr mfa, amr pwd otp mfa', async () => {
    const flow = await startSignIn('whatsapp')
    expect(flow.page.body).toMatch(/Send a code by WhatsApp to •{11}56</)
    const since = vonage.requests.length
    const codePage = await choose(flow.browser, flow.page, /^Send a code by WhatsApp to/)
    expect(codePage.body).toMatch(/We sent a 6-digit code to •{11}56\./)
    const code = await vonage.codeFor(WA_PHONE, since)
    expect(vonage.requests.slice(since).map((r) => r.body)).toEqual([
      { channel: 'whatsapp', message_type: 'text', to: '447700900456', from: FAKE_WHATSAPP_FROM, text: expectedText(code) },
    ])
    const tokens = await redeem(await enterCode(flow.browser, codePage, code), flow)
    expect(tokens.claims()!.acr).toBe('urn:iam:acr:mfa')
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']))
    expect(tokens.claims()!.amr).not.toContain('sms')
  })

  it('counts wrong codes, kills the code after five, and a new code replaces the old one', async () => {
    const phone = people.wrong.phone
    const flow = await startSignIn('wrong')
    let since = vonage.requests.length
    const firstSentAt = Date.now()
    let page = await choose(flow.browser, flow.page, /^Text a code to/)
    const first = await vonage.codeFor(phone, since)

    page = await enterCode(flow.browser, page, otherCode(first))
    expect(page.status).toBe(400)
    expect(page.body).toContain('That code is not right. 4 attempts left.')
    for (const left of ['3 attempts', '2 attempts', '1 attempt']) {
      page = await enterCode(flow.browser, page, otherCode(first))
      expect(page.body).toContain(`That code is not right. ${left} left.`)
    }
    page = await enterCode(flow.browser, page, otherCode(first))
    expect(page.status).toBe(400)
    expect(page.body).toContain('Too many wrong codes: this code no longer works. Send a new code.')
    // Even the right code no longer works.
    page = await enterCode(flow.browser, page, first)
    expect(page.status).toBe(400)
    expect(page.body).toContain('this code no longer works')

    await sleep(Math.max(0, firstSentAt + RESEND_SECONDS * 1000 + 200 - Date.now()))
    since = vonage.requests.length
    page = await post(flow.browser, page, '/mfa/resend')
    expect(page.status).toBe(200)
    expect(page.body).toMatch(/We sent a 6-digit code to •{11}24\./)
    const second = await vonage.codeFor(phone, since)
    expect(vonage.requests.slice(since)).toHaveLength(1)
    if (second !== first) {
      page = await enterCode(flow.browser, page, first)
      expect(page.status).toBe(400)
      expect(page.body).toContain('That code is not right. 4 attempts left.')
    }
    const tokens = await redeem(await enterCode(flow.browser, page, second), flow)
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'sms', 'mfa']))
  })

  it('throttles "Send a new code": 429 with Retry-After, and nothing is sent', async () => {
    const phone = people.resend.phone
    const flow = await startSignIn('resend')
    let since = vonage.requests.length
    const codePage = await choose(flow.browser, flow.page, /^Text a code to/)
    const first = await vonage.codeFor(phone, since)
    since = vonage.requests.length

    const throttled = await post(flow.browser, codePage, '/mfa/resend')
    expect(throttled.status).toBe(429)
    const retryAfter = Number(throttled.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(RESEND_SECONDS)
    expect(throttled.body).toContain(`A code was sent a moment ago: use that one, or wait ${retryAfter} seconds before asking for another.`)
    expect(vonage.requests.length).toBe(since)

    // After Retry-After, a new code goes out and it is the one that works.
    await sleep(retryAfter * 1000 + 200)
    const again = await post(flow.browser, throttled, '/mfa/resend')
    expect(again.status).toBe(200)
    const second = await vonage.codeFor(phone, since)
    let page = again
    if (second !== first) {
      page = await enterCode(flow.browser, again, first)
      expect(page.body).toContain('That code is not right.')
    }
    const tokens = await redeem(await enterCode(flow.browser, page, second), flow)
    expect(tokens.claims()!.acr).toBe('urn:iam:acr:mfa')
  })

  /** Vonage fails while the person picks SMS: the page says so, offers the other factors, stores nothing. */
  async function sendFails(person: Person, expectRequest: boolean) {
    const flow = await startSignIn(person)
    expect(flow.page.body).toContain('Code from Authenticator app')
    const since = vonage.requests.length
    const page = await choose(flow.browser, flow.page, /^Text a code to/)
    expect(page.status).toBeLessThan(500)
    expect(page.status).toBe(200)
    expect(page.body).toContain('We could not send a code by SMS just now. Use another method, or try again in a few minutes.')
    // Back on the choice, with the authenticator app on offer.
    expect(page.body).toContain('Choose how to confirm your sign-in')
    expect(page.body).toMatch(/name="method" value="[^"]+">Code from Authenticator app</)
    expect(vonage.requests.slice(since).map((r) => r.status)).toEqual(expectRequest ? [expect.any(Number)] : [])
    return { ...flow, page }
  }

  async function finishWithTotp(person: Person, flow: Awaited<ReturnType<typeof sendFails>>) {
    const totpPage = await choose(flow.browser, flow.page, /^Code from Authenticator app/)
    expect(totpPage.body).toContain('Enter the 6-digit code from Authenticator app.')
    const tokens = await redeem(await enterCode(flow.browser, totpPage, await generateTotp({ secret: totpSecrets[person]! })), flow)
    expect(tokens.claims()!.acr).toBe('urn:iam:acr:mfa')
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']))
  }

  it('when Vonage answers 500: says the code could not be sent, offers the other factors, stores no code', async () => {
    await vonage.fail('error')
    const flow = await sendFails('vonageError', true).finally(() => vonage.fail('ok'))
    expect(vonage.requests.at(-1)!.status).toBe(500)
    // Had a code been stored, choosing SMS again this soon would be throttled (429).
    const since = vonage.requests.length
    const retry = await choose(flow.browser, flow.page, /^Text a code to/)
    expect(retry.status).toBe(200)
    expect(retry.body).toContain('We sent a 6-digit code')
    const code = await vonage.codeFor(people.vonageError.phone, since)
    const tokens = await redeem(await enterCode(flow.browser, retry, code), flow)
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'sms', 'mfa']))
  })

  it('when Vonage cannot be reached: says the code could not be sent; the authenticator app still works', async () => {
    await vonage.fail('down')
    try {
      const flow = await sendFails('vonageDown', false)
      // No code is waiting: one posted anyway (with this page's form token) signs nobody in.
      const csrf = formWithAction(flow.page.body, '/mfa/select').fields.csrf!
      const uid = /\/interaction\/([^/]+)\/mfa\/select/.exec(flow.page.body)![1]!
      const stray = await flow.browser.navigate(`${iam.issuer}/interaction/${uid}/mfa/verify`, { form: { csrf, code: '123456' } })
      expect(stray.url.startsWith(iam.issuer)).toBe(true)
      expect(stray.body).toContain('Choose how to confirm your sign-in')
      await finishWithTotp('vonageDown', { ...flow, page: stray })
    } finally {
      await vonage.fail('ok')
    }
  })

  it('gives up on a Vonage that does not answer within about 10 seconds', async () => {
    await vonage.fail('hang')
    try {
      const flow = await startSignIn('vonageHangs')
      const started = Date.now()
      const page = await choose(flow.browser, flow.page, /^Text a code to/)
      const waited = Date.now() - started
      expect(page.status).toBe(200)
      expect(page.body).toContain('We could not send a code by SMS just now.')
      expect(waited).toBeGreaterThanOrEqual(9_000)
      expect(waited).toBeLessThan(15_000)
    } finally {
      await vonage.fail('ok')
    }
  }, 40_000)

  it('audits each send; a failed send leaves an audit event and no stored code', async () => {
    const { challenges, audits } = await inDatabase(async (prisma) => ({
      challenges: await prisma.mfaChallenge.findMany({ where: { userId: { in: [ids.vonageDown, ids.vonageHangs] } } }),
      audits: await prisma.auditEvent.findMany({ where: { type: 'mfa_challenge' }, orderBy: { at: 'asc' } }),
    }))
    expect(challenges).toEqual([])
    const failures = (user: string) => audits.filter((a) => a.userId === user && a.outcome === 'failure').map((a) => a.details)
    // The audit says why a send failed (the provider's answer), never the code.
    const why = { [ids.vonageError]: 'Vonage answered 500', [ids.vonageDown]: /^Vonage could not be reached/, [ids.vonageHangs]: /^Vonage (did not answer|could not be reached)/ }
    for (const user of [ids.vonageError, ids.vonageDown, ids.vonageHangs]) {
      expect(failures(user)).toEqual([{ method: 'sms', purpose: 'sms', reason: 'send_failed', error: expect.stringMatching(why[user]!) }])
      expect(JSON.stringify(failures(user))).not.toMatch(/\d{6}/)
    }
    expect(failures(ids.resend)).toEqual([{ method: 'sms', purpose: 'sms', reason: 'throttled' }])
    expect(audits.filter((a) => a.userId === ids.sms).map((a) => [a.outcome, a.details])).toEqual([['success', { method: 'sms', purpose: 'sms' }]])
    expect(audits.filter((a) => a.userId === ids.whatsapp).map((a) => [a.outcome, a.details])).toEqual([['success', { method: 'whatsapp', purpose: 'whatsapp' }]])
    expect(audits.every((a) => a.clientId === 'first')).toBe(true)
  })
})

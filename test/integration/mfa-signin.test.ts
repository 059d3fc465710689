// The second-factor step at sign-in with email codes (a real SMTP server receives them), TOTP and
// backup codes, and what a person sees when something goes wrong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, formsOf, type PageResponse } from '../support/browser.ts'
import { SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { addBackupCodes, addCodeFactor, addTotpFactor, totpCode } from '../support/mfa-fixtures.ts'
import { startMailCatcher, type MailCatcher } from '../support/smtp.ts'
import { createUser } from '../../src/identity/users.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const EMMA = { email: 'emma@example.test', password: 'emma has a long passphrase' }
const TOM = { email: 'tom@example.test', password: 'tom has a long passphrase' }

describe.each(STORAGE_MODES)('second factor at sign-in (%s)', (mode) => {
  let iam: IamInstance
  let mail: MailCatcher
  let spa: oidc.Configuration
  let emmaBackup: string[]
  let tomSecret: string
  let emmaId: string

  beforeAll(async () => {
    mail = await startMailCatcher()
    iam = await createIam(mode, { env: { ...mail.env, MFA_RESEND_SECONDS: '0' } })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      const emma = await createUser(prisma, { ...EMMA, emailVerified: true })
      emmaId = emma.id
      await addCodeFactor(prisma, emma.id, 'email', EMMA.email)
      emmaBackup = await addBackupCodes(prisma, emma.id)
      const tom = await createUser(prisma, { ...TOM, emailVerified: true })
      tomSecret = await addTotpFactor(prisma, tom.id)
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  })
  afterAll(async () => {
    await iam?.close()
    await mail?.close()
  })

  /** Starts an authorization request and signs in with the password: returns the MFA page. */
  async function passwordStep(who: { email: string; password: string }) {
    const browser = new HttpBrowser(iam.issuer)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const login = await browser.navigate(url.href)
    const form = formWithAction(login.body, '/login')
    const page = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: who.email, password: who.password } })
    return { browser, verifier, page }
  }

  const post = (browser: HttpBrowser, page: PageResponse, suffix: string, fields: Record<string, string> = {}) => {
    const form = formWithAction(page.body, suffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }
  const alert = (page: PageResponse) => /role="alert"[^>]*>([^<]*)</.exec(page.body)?.[1]
  const choices = (page: PageResponse) => [...page.body.matchAll(/name="method" value="([^"]*)">([^<]*)</g)].map((m) => ({ value: m[1]!, label: m[2]! }))

  /** Presses Allow on the consent page if it comes, then redeems the code at the client. */
  async function redeem(res: PageResponse, verifier: string, browser?: HttpBrowser) {
    if (new URL(res.url).origin === iam.issuer && /\/consent"/.test(res.body)) res = await post(browser!, res, '/consent')
    const callback = new URL(res.url)
    expect(callback.origin + callback.pathname).toBe(SPA_REDIRECT)
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier })
    return tokens.claims()!
  }

  async function chooseEmail() {
    const step = await passwordStep(EMMA)
    expect(step.page.body).toContain('Verify it’s you')
    const options = choices(step.page)
    expect(options[0]!.label).toBe('Email a code to e•••@example.test')
    expect(options[1]!.label).toMatch(/^Use a backup code \(\d+ left\)$/)
    const since = mail.messages.length
    const codePage = await post(step.browser, step.page, '/mfa/select', { method: options[0]!.value })
    expect(codePage.body).toContain('We sent a 6-digit code to e•••@example.test')
    const code = await mail.codeFor(EMMA.email, { since })
    return { ...step, page: codePage, code }
  }

  it('asks for an emailed code after the password and issues an MFA ID token', async () => {
    const { browser, page, code, verifier } = await chooseEmail()
    const mailed = mail.messages.at(-1)!
    expect(mailed.subject).toBe(`${code} is your Identity code`)
    expect(mailed.to).toEqual([EMMA.email])
    const done = await post(browser, page, '/mfa/verify', { code })
    const claims = await redeem(done, verifier, browser)
    expect(claims.acr).toBe('urn:iam:acr:mfa')
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa'])
  })

  it('counts wrong codes down, kills the code after five, and a new code replaces the old', async () => {
    let { browser, page, code, verifier } = await chooseEmail()
    const wrong = code === '000000' ? '111111' : '000000'
    for (const left of [4, 3, 2, 1]) {
      page = await post(browser, page, '/mfa/verify', { code: wrong })
      expect(page.status).toBe(400)
      expect(alert(page)).toBe(`That code is not right. ${left} ${left === 1 ? 'attempt' : 'attempts'} left.`)
      expect(page.body).toMatch(/id="code"[^>]*aria-invalid="true"/)
    }
    page = await post(browser, page, '/mfa/verify', { code: wrong })
    expect(alert(page)).toBe('Too many wrong codes: this code no longer works. Send a new code.')
    page = await post(browser, page, '/mfa/verify', { code })
    expect(alert(page)).toBe('Too many wrong codes: this code no longer works. Send a new code.')

    const since = mail.messages.length
    page = await post(browser, page, '/mfa/resend')
    const fresh = await mail.codeFor(EMMA.email, { since })
    if (fresh !== code) {
      page = await post(browser, page, '/mfa/verify', { code })
      expect(alert(page)).toBe('That code is not right. 4 attempts left.')
    }
    const done = await post(browser, page, '/mfa/verify', { code: fresh })
    expect((await redeem(done, verifier, browser)).acr).toBe('urn:iam:acr:mfa')
  })

  it('says the code could not be sent when the mail server refuses, and offers the other methods', async () => {
    const step = await passwordStep(EMMA)
    const options = choices(step.page)
    mail.refuse(true)
    try {
      const page = await post(step.browser, step.page, '/mfa/select', { method: options[0]!.value })
      expect(page.status).toBe(200)
      expect(alert(page)).toBe('We could not send a code by email just now. Use another method, or try again in a few minutes.')
      expect(choices(page).map((o) => o.value)).toContain('backup')
      // Nothing was left behind: there is no code to enter.
      if (mode === 'postgres-redis') {
        await iam.databaseNow(async (prisma) => {
          expect(await prisma.mfaChallenge.count({ where: { userId: emmaId, consumedAt: null } })).toBe(0)
          const audit = await prisma.auditEvent.findFirst({ where: { userId: emmaId, type: 'mfa_challenge', outcome: 'failure' }, orderBy: { at: 'desc' } })
          expect(audit?.details).toMatchObject({ method: 'email', reason: 'send_failed' })
        })
      }
    } finally {
      mail.refuse(false)
    }
  })

  it('accepts a backup code once, however it is typed', async () => {
    const first = await passwordStep(EMMA)
    let page = await post(first.browser, first.page, '/mfa/select', { method: 'backup' })
    expect(page.body).toContain('Enter one of your backup codes')
    const typed = ` ${emmaBackup[0]!.toUpperCase().replace('-', ' ')} `
    page = await post(first.browser, page, '/mfa/verify', { code: typed })
    const claims = await redeem(page, first.verifier, first.browser)
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa'])

    const again = await passwordStep(EMMA)
    expect(choices(again.page).at(-1)!.label).toBe('Use a backup code (9 left)')
    page = await post(again.browser, again.page, '/mfa/select', { method: 'backup' })
    page = await post(again.browser, page, '/mfa/verify', { code: emmaBackup[0]! })
    expect(page.status).toBe(400)
    expect(alert(page)).toBe('That backup code has already been used. Each code works once.')
    page = await post(again.browser, page, '/mfa/verify', { code: 'aaaaa-bbbbb' })
    expect(alert(page)).toBe('That is not one of your backup codes.')
  })

  it('goes straight to the code page for a single TOTP factor choice and refuses a replayed code', async () => {
    const first = await passwordStep(TOM)
    const options = choices(first.page)
    expect(options.map((o) => o.label)).toEqual(['Code from Authenticator app'])
    let page = await post(first.browser, first.page, '/mfa/select', { method: options[0]!.value })
    expect(page.body).toContain('Enter the 6-digit code from Authenticator app.')
    const code = await totpCode(tomSecret)
    page = await post(first.browser, page, '/mfa/verify', { code })
    expect((await redeem(page, first.verifier, first.browser)).amr).toEqual(['pwd', 'otp', 'mfa'])

    const second = await passwordStep(TOM)
    page = await post(second.browser, second.page, '/mfa/select', { method: choices(second.page)[0]!.value })
    page = await post(second.browser, page, '/mfa/verify', { code })
    expect(alert(page)).toBe('That code was already used. Wait for the next code in your app.')
  })

  it('refuses tampered forms: a factor of someone else, a missing CSRF token', async () => {
    const emma = await passwordStep(EMMA)
    const tom = await passwordStep(TOM)
    const tomFactor = choices(tom.page)[0]!.value
    let page = await post(emma.browser, emma.page, '/mfa/select', { method: tomFactor })
    expect(page.status).toBe(400)
    expect(alert(page)).toBe('Choose one of the methods below.')
    const form = formWithAction(page.body, '/mfa/select')
    page = await emma.browser.request(new URL(form.action, iam.issuer).href, { form: { method: 'backup' } })
    expect(page.status).toBe(403)
    expect(page.body).toContain('Form expired')
    // Cancel still returns access_denied to the client.
    const abort = formsOf(emma.page.body).find((f) => f.action.endsWith('/abort'))!
    const res = await emma.browser.navigate(new URL(abort.action, iam.issuer).href, { form: abort.fields })
    expect(new URL(res.url).searchParams.get('error')).toBe('access_denied')
  })

  it.skipIf(mode === 'embedded')('refuses an expired code', async () => {
    const { browser, page, code } = await chooseEmail()
    await iam.databaseNow((prisma) => prisma.mfaChallenge.updateMany({ where: { userId: emmaId, consumedAt: null }, data: { expiresAt: new Date(Date.now() - 1000) } }))
    const res = await post(browser, page, '/mfa/verify', { code })
    expect(res.status).toBe(400)
    expect(alert(res)).toBe('That code has expired. Send a new code.')
  })
})

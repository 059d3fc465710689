// The self-service security area (/account/security), in both storage modes, through the real
// pages: a person adds an authenticator app (key read from the page, codes computed like an app
// does), is then asked for it at sign-in, adds email codes (read from a real SMTP catcher) and SMS
// codes (read from a fake Vonage), renews backup codes and removes a factor — the last two, and
// adding a further factor, only after confirming a fresh second factor (step-up through the OP).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generate } from 'otplib'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { alertOf } from '../support/page-text.ts'
import { HttpBrowser, formWithAction, formsOf, type PageResponse } from '../support/browser.ts'
import { ALICE, createFixtures } from '../support/fixtures.ts'
import { startMailCatcher, type MailCatcher } from '../support/smtp.ts'
import { startFakeVonage, type FakeVonage } from '../support/fake-vonage.ts'
import { sleep } from '../support/processes.ts'
import { createUser } from '../../src/identity/users.ts'

const BOB = { email: 'bob@example.test', password: 'bob has a long passphrase too' }
const BOB_PHONE = '+447700900321'
const PERIOD = 30

const noticeOf = (html: string) => /role="status"[^>]*>([^<]*)</.exec(html)?.[1]?.trim()
const backupCodesOf = (html: string) => [...html.matchAll(/<li><code>([a-z0-9]{5}-[a-z0-9]{5})<\/code><\/li>/g)].map((m) => m[1]!)
const csrfOf = (html: string) => {
  const token = formsOf(html).find((f) => f.fields.csrf)?.fields.csrf
  if (!token) throw new Error(`no CSRF token on page:\n${html.slice(0, 1500)}`)
  return token
}
/** The factors listed on the security page, in order: label and id. */
const factorsOf = (html: string) =>
  [...html.matchAll(/<strong>([^<]+)<\/strong>[\s\S]*?action="\/account\/security\/factors\/([^/"]+)\/remove"/g)].map((m) => ({ label: m[1]!, id: m[2]! }))

describe.each(STORAGE_MODES)('account security area (%s)', (mode) => {
  let iam: IamInstance
  let mail: MailCatcher
  let vonage: FakeVonage
  const url = (path: string) => `${iam.issuer}${path}`

  // Like an authenticator app that has been used before: each code is accepted once, so the next
  // one must be from a later 30 s step (the server accepts ±1 step around its clock).
  let totpSecret = ''
  let lastStep = -1
  async function nextTotp(): Promise<string> {
    for (;;) {
      const current = Math.floor(Date.now() / 1000 / PERIOD)
      const step = Math.max(current, lastStep + 1)
      if (step <= current + 1) {
        lastStep = step
        return generate({ secret: totpSecret, epoch: step * PERIOD })
      }
      await sleep((step - 1) * PERIOD * 1000 - Date.now() + 200)
    }
  }

  beforeAll(async () => {
    mail = await startMailCatcher()
    vonage = await startFakeVonage()
    iam = await createIam(mode, { env: { ...mail.env, ...vonage.env, MFA_RESEND_SECONDS: '0' } })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await createUser(prisma, { ...BOB, emailVerified: true })
    })
    await iam.start()
  })
  afterAll(async () => {
    await iam?.close()
    await mail?.close()
    await vonage?.close()
  })

  async function submit(browser: HttpBrowser, page: PageResponse, actionSuffix: string, fields: Record<string, string> = {}): Promise<PageResponse> {
    const form = formWithAction(page.body, actionSuffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }

  /** Opens `path` signed out, signs in with the password; returns the page after the password. */
  async function signIn(browser: HttpBrowser, who: { email: string; password: string }, path = '/account'): Promise<PageResponse> {
    const login = await browser.navigate(url(path))
    expect(login.body).toContain('name="password"')
    return submit(browser, login, '/login', { login: who.email, password: who.password })
  }

  /** On the OP's "Verify it’s you" page: chooses the method whose label matches. */
  async function choose(browser: HttpBrowser, page: PageResponse, label: RegExp): Promise<PageResponse> {
    expect(page.body).toContain('Verify it’s you')
    const option = [...page.body.matchAll(/<button[^>]*name="method" value="([^"]*)"[^>]*>([^<]*)<\/button>/g)].find((m) => label.test(m[2]!))
    if (!option) throw new Error(`no method ${label} on page:\n${page.body}`)
    return submit(browser, page, '/mfa/select', { method: option[1]! })
  }

  async function signOut(browser: HttpBrowser): Promise<void> {
    const account = await browser.navigate(url('/account'))
    const confirm = await submit(browser, account, '/account/logout')
    const end = formsOf(confirm.body)[0]!
    const done = await browser.navigate(new URL(end.action, iam.issuer).href, { form: { ...end.fields, logout: 'yes' } })
    expect(done.body).toContain('You are signed out')
  }

  /** POSTs a button form of the security page without following the redirect. */
  async function press(browser: HttpBrowser, path: string): Promise<PageResponse> {
    const page = await browser.navigate(url('/account/security'))
    return browser.request(url(path), { form: { csrf: csrfOf(page.body) } })
  }

  function expectStepUpRedirect(res: PageResponse, returnTo: string) {
    expect(res.status).toBe(303)
    const location = new URL(res.headers.get('location')!, iam.issuer)
    expect(location.pathname).toBe('/account/login')
    expect(location.searchParams.get('stepup')).toBe('1')
    expect(location.searchParams.get('return')).toBe(returnTo)
  }

  // a: adds the app; c: a second password-only session (as someone who only knows the password).
  const a = () => browsers.a!
  const c = () => browsers.c!
  const browsers: { a?: HttpBrowser; c?: HttpBrowser } = {}
  let firstCodes: string[] = []
  let totpFactorId = ''

  it('adds an authenticator app: a wrong first code is refused, the right one turns it on and shows backup codes once', async () => {
    browsers.a = new HttpBrowser(iam.issuer)
    browsers.c = new HttpBrowser(iam.issuer)
    const account = await signIn(a(), ALICE)
    expect(account.body).toContain('href="/account/security"')
    expect((await signIn(c(), ALICE)).body).toContain('Your account')

    const security = await a().navigate(url('/account/security'))
    expect(security.status).toBe(200)
    expect(security.body).toContain('You have not added a second step yet.')
    expect(security.body).toContain('href="/account/security/totp"')
    expect(security.body).toContain('href="/account/security/email"')
    expect(security.body).toContain('href="/account/security/phone?kind=sms"')
    expect(security.body).toContain('href="/account/security/phone?kind=whatsapp"')
    expect(security.body).toContain('href="/account/security/passkeys/new"')
    expect(security.body).not.toContain('/account/security/backup-codes')

    const setup = await a().navigate(url('/account/security/totp'))
    expect(setup.status).toBe(200)
    expect(setup.body).toMatch(/<figure class="qr"[^>]*><svg/)
    totpSecret = /id="totp-secret">([^<]+)</.exec(setup.body)![1]!.replace(/\s/g, '')
    expect(totpSecret).toMatch(/^[A-Z2-7]{16,}$/)

    // A code far from now: never accepted.
    const wrongCode = await generate({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + 20 * PERIOD })
    const wrong = await submit(a(), setup, '/account/security/totp', { code: wrongCode })
    expect(wrong.status).toBe(400)
    expect(alertOf(wrong.body)).toBe('That code is not right. Check that your app shows this account, and enter its current code.')
    expect(wrong.body).toMatch(/<input id="code"[^>]*aria-invalid="true" aria-describedby="enrol-error"/)
    // Still the same key: the person keeps the app entry they made.
    expect(/id="totp-secret">([^<]+)</.exec(wrong.body)![1]!.replace(/\s/g, '')).toBe(totpSecret)
    expect((await a().navigate(url('/account/security'))).body).toContain('You have not added a second step yet.')

    const done = await submit(a(), wrong, '/account/security/totp', { code: await nextTotp() })
    expect(done.status).toBe(200)
    expect(done.body).toContain('Save your backup codes')
    firstCodes = backupCodesOf(done.body)
    expect(firstCodes).toHaveLength(10)

    const after = await a().navigate(url('/account/security'))
    const factors = factorsOf(after.body)
    expect(factors.map((f) => f.label)).toEqual(['Authenticator app'])
    totpFactorId = factors[0]!.id
    expect(after.body).toContain('10 of 10 backup codes left.')
    expect(after.body).toMatch(/Added <time datetime="[^"]+">[^<]+<\/time>\. Last used <time/)
    for (const code of firstCodes) expect(after.body).not.toContain(code)

    // Pressing "Turn on" again (a reload) does not add the same app twice.
    const again = await a().request(url('/account/security/totp'), { form: { ...formWithAction(wrong.body, '/account/security/totp').fields, code: '123456' } })
    expect(again.status).toBe(303)
    expect(again.headers.get('location')).toBe('/account/security?done=exists')
    const exists = await a().navigate(url('/account/security?done=exists'))
    expect(noticeOf(exists.body)).toBe('That is already one of your second steps.')
    expect(factorsOf(exists.body)).toHaveLength(1)
  }, 120_000)

  it('a session that only proved the password cannot add another factor, remove one or renew backup codes', async () => {
    const add = await c().request(url('/account/security/totp'))
    expectStepUpRedirect(add, '/account/security/totp')
    // The OP now asks for the second factor, not for a QR code.
    const stepUp = await c().navigate(url(add.headers.get('location')!))
    expect(stepUp.body).toContain('Verify it’s you')
    expect(stepUp.body).not.toContain('totp-secret')

    expectStepUpRedirect(await c().request(url('/account/security/email')), '/account/security/email')
    expectStepUpRedirect(await press(c(), '/account/security/email'), '/account/security/email')
    expectStepUpRedirect(await press(c(), `/account/security/factors/${totpFactorId}/remove`), '/account/security?done=confirmed')
    expectStepUpRedirect(await press(c(), '/account/security/backup-codes'), '/account/security?done=confirmed')
    const security = await c().navigate(url('/account/security'))
    expect(factorsOf(security.body)).toHaveLength(1)
    expect(security.body).toContain('10 of 10 backup codes left.')
    expect(security.body).toContain('you will first confirm it’s you')
  }, 60_000)

  let b: HttpBrowser
  it('signing in again now asks for the authenticator app', async () => {
    await signOut(a())
    b = new HttpBrowser(iam.issuer)
    const second = await signIn(b, ALICE)
    expect(second.body).toContain('Verify it’s you')
    expect(second.body).toContain('Use a backup code (10 left)')
    const codePage = await choose(b, second, /^Code from Authenticator app$/)
    const account = await submit(b, codePage, '/mfa/verify', { code: await nextTotp() })
    expect(account.body).toContain('You are signed in as <strong>Alice Example</strong>')
  }, 60_000)

  it('adds codes by email, confirmed with the code from the mail; a wrong code shows the attempts left', async () => {
    // Fresh from signing in with the second factor: no step-up needed.
    const intro = await b.navigate(url('/account/security/email'))
    expect(intro.status).toBe(200)
    expect(intro.body).toContain('@example.test</strong>')
    const since = mail.messages.length
    const codePage = await submit(b, intro, '/account/security/email')
    expect(codePage.status).toBe(200)
    expect(codePage.body).toContain('Confirm your email')
    const code = await mail.codeFor(ALICE.email, { since })

    const wrong = await submit(b, codePage, '/account/security/email/confirm', { code: code === '000000' ? '111111' : '000000' })
    expect(wrong.status).toBe(400)
    expect(alertOf(wrong.body)).toBe('That code is not right. 4 attempts left.')
    expect(wrong.body).toMatch(/<input id="code"[^>]*aria-invalid="true" aria-describedby="code-error"/)

    const done = await submit(b, wrong, '/account/security/email/confirm', { code })
    expect(done.url).toBe(url('/account/security?done=added'))
    expect(noticeOf(done.body)).toContain('Your new second step is on')
    expect(factorsOf(done.body).map((f) => f.label)).toEqual(['Authenticator app', 'Email'])
    expect(done.body).toMatch(/a•+@example\.test/)
    // Not the first factor: the backup codes stay as they were.
    expect(done.body).toContain('10 of 10 backup codes left.')
  }, 60_000)

  let newCodes: string[] = []
  it('renewing backup codes first asks for the second factor, then shows new codes once; the old ones stop working', async () => {
    const first = await press(c(), '/account/security/backup-codes')
    expectStepUpRedirect(first, '/account/security?done=confirmed')
    const verify = await c().navigate(url(first.headers.get('location')!))
    const codePage = await choose(c(), verify, /^Code from Authenticator app$/)
    const back = await submit(c(), codePage, '/mfa/verify', { code: await nextTotp() })
    expect(back.url).toBe(url('/account/security?done=confirmed'))
    expect(noticeOf(back.body)).toContain('You confirmed it’s you')
    expect(back.body).not.toContain('you will first confirm it’s you')

    const renewed = await c().request(url('/account/security/backup-codes'), { form: { csrf: csrfOf(back.body) } })
    expect(renewed.status).toBe(200)
    expect(renewed.body).toContain('Your old backup codes no longer work.')
    newCodes = backupCodesOf(renewed.body)
    expect(newCodes).toHaveLength(10)
    expect(newCodes.filter((code) => firstCodes.includes(code))).toEqual([])

    const d = new HttpBrowser(iam.issuer)
    const backupPage = await choose(d, await signIn(d, ALICE), /^Use a backup code \(10 left\)$/)
    const old = await submit(d, backupPage, '/mfa/verify', { code: firstCodes[0]! })
    expect(old.status).toBe(400)
    expect(alertOf(old.body)).toBe('That is not one of your backup codes.')
    const ok = await submit(d, old, '/mfa/verify', { code: newCodes[0]! })
    expect(ok.body).toContain('You are signed in as <strong>Alice Example</strong>')
    expect((await d.navigate(url('/account/security'))).body).toContain('9 of 10 backup codes left.')
  }, 120_000)

  it('removes a factor once a fresh second factor is confirmed; tampered factor ids get a 404 page', async () => {
    const security = await c().navigate(url('/account/security'))
    const email = factorsOf(security.body).find((f) => f.label === 'Email')!
    const removed = await press(c(), `/account/security/factors/${email.id}/remove`)
    expect(removed.status).toBe(303)
    const after = await c().navigate(url(removed.headers.get('location')!))
    expect(noticeOf(after.body)).toBe('The second step was removed.')
    expect(factorsOf(after.body).map((f) => f.label)).toEqual(['Authenticator app'])

    for (const id of [email.id, 'not-a-factor', '%00', 'x'.repeat(200)]) {
      const res = await press(c(), `/account/security/factors/${id}/remove`)
      expect(res.status, id).toBe(404)
      expect(res.body).toContain('That second step does not exist, or it was already removed.')
    }
    // Sign-in no longer offers email codes.
    const e = new HttpBrowser(iam.issuer)
    const choices = await signIn(e, ALICE)
    expect(choices.body).toContain('Code from Authenticator app')
    expect(choices.body).not.toContain('Email a code')
  }, 60_000)

  it('answers bad requests with pages, never a server error', async () => {
    const bob = new HttpBrowser(iam.issuer)
    // Signed out: to sign-in, and back to the page afterwards.
    const out = await bob.request(url('/account/security'))
    expect(out.status).toBe(303)
    expect(out.headers.get('location')).toBe('/account/login?return=%2Faccount%2Fsecurity')
    expect((await signIn(bob, BOB, '/account/security')).url).toBe(url('/account/security'))
    // The account area's forms share one token (the security page has no form yet for Bob).
    const csrf = csrfOf((await bob.navigate(url('/account'))).body)

    // Forged or missing CSRF token.
    expect((await bob.request(url('/account/security/backup-codes'), { form: { csrf: 'forged' } })).status).toBe(403)
    expect((await bob.request(url('/account/security/totp'), { form: { code: '123456' } })).status).toBe(403)
    // Another person's factor: not found.
    const res = await bob.request(url(`/account/security/factors/${totpFactorId}/remove`), { form: { csrf } })
    expect(res.status).toBe(404)
    // A tampered enrolment.
    const tampered = await bob.request(url('/account/security/totp'), { form: { csrf, enrolment: 'v1.k1.abc.def', code: '123456' } })
    expect(tampered.status).toBe(400)
    expect(tampered.body).toContain('Setup expired')
    const tamperedEmail = await bob.request(url('/account/security/email/confirm'), { form: { csrf, enrolment: 'nonsense', code: '123456' } })
    expect(tamperedEmail.status).toBe(400)
    // Channels that do not exist.
    expect((await bob.request(url('/account/security/phone?kind=pigeon'))).status).toBe(404)
    expect((await bob.request(url('/account/security/phone'), { form: { csrf, kind: 'pigeon', phone: '+447700900999' } })).status).toBe(404)
    // Repeated fields.
    const repeated = await fetch(url('/account/security/phone'), {
      method: 'POST', redirect: 'manual',
      headers: { cookie: bob.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${encodeURIComponent(csrf)}&kind=sms&kind=whatsapp&phone=1&phone=2`,
    })
    expect(repeated.status).toBeLessThan(500)

    // Return paths are only ever this site's /account pages.
    for (const evil of ['https://evil.example/', '//evil.example/account', '/\\evil.example', '/account/../admin']) {
      const other = new HttpBrowser(iam.issuer)
      const landed = await signIn(other, BOB, `/account/login?return=${encodeURIComponent(evil)}`)
      expect(landed.url, evil).toBe(url('/account'))
    }
  }, 60_000)

  it('adds codes by text message to a validated E.164 number', async () => {
    const bob = new HttpBrowser(iam.issuer)
    await signIn(bob, BOB)
    const form = await bob.navigate(url('/account/security/phone?kind=sms'))
    expect(form.status).toBe(200)
    expect(form.body).toMatch(/<label for="phone">Mobile number<\/label>/)

    for (const bad of ['', '07700 900321', '+0 123', '+44 7700 900321 999999', 'call me']) {
      const res = await submit(bob, form, '/account/security/phone', { phone: bad })
      expect(res.status, bad).toBe(400)
      expect(alertOf(res.body)).toMatch(bad ? /international format/ : /Enter your mobile number/)
      expect(res.body).toMatch(/<input id="phone"[^>]*aria-describedby="phone-hint channel-error" aria-invalid="true"/)
    }

    // Vonage refuses: the person is told, and nothing is added.
    await vonage.fail('error')
    const refused = await submit(bob, form, '/account/security/phone', { phone: BOB_PHONE })
    expect(refused.status).toBe(502)
    expect(alertOf(refused.body)).toBe('We could not send a code by text message just now. Check the details and try again in a few minutes.')
    expect(refused.body).toContain(`value="${BOB_PHONE}"`)
    await vonage.fail('ok')

    const since = vonage.requests.length
    const codePage = await submit(bob, form, '/account/security/phone', { phone: '+44 (7700) 900-321' })
    expect(codePage.status).toBe(200)
    expect(codePage.body).toContain('Confirm your phone number')
    expect(codePage.body).toContain('by text message to •••••••••••21')
    const code = await vonage.codeFor(BOB_PHONE, since)
    const wrong = await submit(bob, codePage, '/account/security/phone/confirm', { code: code === '999999' ? '888888' : '999999' })
    expect(alertOf(wrong.body)).toBe('That code is not right. 4 attempts left.')
    const done = await submit(bob, wrong, '/account/security/phone/confirm', { code })
    expect(done.body).toContain('Save your backup codes')
    expect(backupCodesOf(done.body)).toHaveLength(10)
    const security = await bob.navigate(url('/account/security'))
    expect(factorsOf(security.body).map((f) => f.label)).toEqual(['Phone (SMS)'])
    expect(security.body).toContain('•••••••••••21')
  }, 60_000)

  it('records every enrolment, removal and renewal, successful or not, in the audit log', async () => {
    // Not one request ended in a server error.
    expect(iam.logs()).toContain('"route":"/account/security"')
    expect(iam.logs()).not.toMatch(/"status":500/)
    await iam.stop()
    const events = await iam.withDatabase(async (prisma) => {
      const alice = await prisma.user.findUniqueOrThrow({ where: { email: ALICE.email } })
      return prisma.auditEvent.findMany({ where: { userId: alice.id, clientId: 'iam-account' }, orderBy: { at: 'asc' } })
    })
    const seen = events.map((e) => `${e.type}:${e.outcome}:${(e.details as { method?: string; reason?: string } | null)?.method ?? ''}:${(e.details as { reason?: string } | null)?.reason ?? ''}`)
    expect(seen).toEqual(expect.arrayContaining([
      'mfa_enrol:failure:totp:invalid_code',
      'mfa_enrol:success:totp:',
      'backup_codes_generated:success::first_factor',
      'mfa_enrol:failure:email:step_up_required',
      'mfa_remove:failure:totp:step_up_required',
      'backup_codes_generated:failure::step_up_required',
      'mfa_challenge:success:email:',
      'mfa_enrol:failure:email:invalid',
      'mfa_enrol:success:email:',
      'backup_codes_generated:success::regenerated',
      'mfa_remove:success:email:',
    ]))
  }, 60_000)
})

// The account area's sign-in ends when the sign-in it came from ends. Two browsers (two cookie
// jars) are signed in to /account as the same person; the second one has an authenticator-app
// setup page open (its form and CSRF token). Then, in the first: "sign out everywhere", a password
// reset through the emailed link, a password change, or signing out of the account area. The
// second browser's next page is the sign-in, and its pending form (adding an authenticator app,
// the attack a stolen account cookie would run) is sent to sign in too: no factor is added. The
// same when an administrator ends the person's sessions through the admin API.
// The browser that changed the password stays signed in: it proved the current password, and its
// provider session is the one the change keeps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generate } from 'otplib'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, formsOf, type PageResponse } from '../support/browser.ts'
import { SERVICE_SECRET, createFixtures } from '../support/fixtures.ts'
import { adminApi, serviceToken } from '../support/admin.ts'
import { startMailCatcher, type MailCatcher } from '../support/smtp.ts'
import { createUser } from '../../src/identity/users.ts'
import { createClient } from '../../src/clients/registry.ts'
import { setClientAdminPermissions } from '../../src/admin/permissions.ts'

const person = (name: string) => ({ email: `${name}@example.test`, password: `${name} walks the long grey pier at dawn` })
const EVERYWHERE = person('sam')
const RESET = person('rita')
const CHANGE = person('pat')
const LOGOUT = person('lou')
const ENDED_BY_ADMIN = person('ada')
const NEW_PASSWORD = 'amber lanterns over the quiet harbour'

const factorsOf = (html: string) => [...html.matchAll(/action="\/account\/security\/factors\/([^/"]+)\/remove"/g)].map((m) => m[1]!)
const csrfOf = (html: string) => {
  const token = formsOf(html).find((f) => f.fields.csrf)?.fields.csrf
  if (!token) throw new Error(`no CSRF token on page:\n${html.slice(0, 1500)}`)
  return token
}

describe.each(STORAGE_MODES)('account sign-in ends with its session (%s)', (mode) => {
  let iam: IamInstance
  let mail: MailCatcher
  let adaId = ''
  const url = (path: string) => `${iam.issuer}${path}`

  beforeAll(async () => {
    mail = await startMailCatcher()
    iam = await createIam(mode, { env: { ...mail.env, RATE_LIMIT_RESET_IP: '1000/3600', RATE_LIMIT_SIGN_IN_IP: '1000/300' } })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      for (const who of [EVERYWHERE, RESET, CHANGE, LOGOUT]) await createUser(prisma, { ...who, emailVerified: true })
      adaId = (await createUser(prisma, { ...ENDED_BY_ADMIN, emailVerified: true })).id
      await createClient(prisma, { clientId: 'svc-sessions', name: 'Session automation', kind: 'service', secret: SERVICE_SECRET })
      await setClientAdminPermissions(prisma, 'svc-sessions', ['sessions:write'])
    })
    await iam.start()
  })
  afterAll(async () => {
    await iam?.close()
    await mail?.close()
  })

  async function submit(browser: HttpBrowser, page: PageResponse, suffix: string, fields: Record<string, string> = {}): Promise<PageResponse> {
    const form = formWithAction(page.body, suffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }

  /** A fresh browser signed in to /account with the password. */
  async function signedIn(who: { email: string; password: string }): Promise<HttpBrowser> {
    const browser = new HttpBrowser(iam.issuer)
    const login = await browser.navigate(url('/account'))
    expect(login.body).toContain('name="password"')
    const account = await submit(browser, login, '/login', { login: who.email, password: who.password })
    expect(account.status).toBe(200)
    expect(new URL(account.url).pathname).toBe('/account')
    expect(account.body).toContain(who.email)
    return browser
  }

  /** The authenticator-app setup page with its form (key, sealed enrolment, CSRF token). */
  async function pendingEnrolment(browser: HttpBrowser) {
    const setup = await browser.navigate(url('/account/security/totp'))
    expect(setup.status).toBe(200)
    const secret = /id="totp-secret">([^<]+)</.exec(setup.body)![1]!.replace(/\s/g, '')
    const form = formWithAction(setup.body, '/account/security/totp')
    expect(form.fields.csrf).toBeTruthy()
    return { secret, form }
  }

  function expectSentToSignIn(res: PageResponse) {
    expect([302, 303]).toContain(res.status)
    expect(new URL(res.headers.get('location')!, iam.issuer).pathname).toBe('/account/login')
  }

  /** What the stale browser is refused: its next page, and its pending form (no factor is added). */
  async function expectRefused(stale: HttpBrowser, pending: Awaited<ReturnType<typeof pendingEnrolment>>, who: { email: string; password: string }) {
    for (const path of ['/account', '/account/security', '/account/sessions', '/account/password', '/account/linked', '/account/apps', '/account/security/passkeys/new']) {
      expectSentToSignIn(await stale.request(url(path)))
    }
    const code = await generate({ secret: pending.secret })
    expectSentToSignIn(await stale.request(url('/account/security/totp'), { form: { ...pending.form.fields, code } }))
    // Also a POST that only takes something away (sessions) is not run for it.
    expectSentToSignIn(await stale.request(url('/account/sessions/end-others'), { form: { csrf: pending.form.fields.csrf! } }))
    // The owner, signing in afresh, finds no authenticator app added.
    const owner = await signedIn(who)
    expect(factorsOf((await owner.navigate(url('/account/security'))).body)).toEqual([])
  }

  it('"sign out everywhere" in one browser signs the other out of the account area', async () => {
    const owner = await signedIn(EVERYWHERE)
    const other = await signedIn(EVERYWHERE)
    const pending = await pendingEnrolment(other)

    const sessions = await owner.navigate(url('/account/sessions'))
    const done = await owner.navigate(url('/account/sessions/end-all'), { form: { csrf: csrfOf(sessions.body) } })
    expect(done.body).toContain('You were signed out everywhere')
    expectSentToSignIn(await owner.request(url('/account')))

    await expectRefused(other, pending, EVERYWHERE)
  }, 90_000)

  it('a password reset through the emailed link signs every browser out of the account area', async () => {
    const first = await signedIn(RESET)
    const second = await signedIn(RESET)
    const pending = await pendingEnrolment(second)

    const since = mail.messages.length
    const forgetful = new HttpBrowser(iam.issuer)
    const forgot = await forgetful.navigate(url('/self-service/forgot-password'))
    await submit(forgetful, forgot, '/self-service/forgot-password', { email: RESET.email })
    const link = /https?:\/\/\S+\/self-service\/reset-password\?token=[A-Za-z0-9_-]+/.exec((await mail.nextTo(RESET.email, { since })).text)![0]
    const form = await forgetful.navigate(link)
    const done = await submit(forgetful, form, '/self-service/reset-password', { password: NEW_PASSWORD, confirm: NEW_PASSWORD })
    expect(done.status).toBe(200)
    expect(done.body).toContain('Your password was changed')

    expectSentToSignIn(await first.request(url('/account')))
    await expectRefused(second, pending, { ...RESET, password: NEW_PASSWORD })
  }, 90_000)

  it('a password change from the account area signs the other browsers out of it; the browser that changed it stays', async () => {
    const changer = await signedIn(CHANGE)
    const other = await signedIn(CHANGE)
    const pending = await pendingEnrolment(other)

    const form = await changer.navigate(url('/account/password'))
    const changed = await submit(changer, form, '/account/password', { current: CHANGE.password, password: NEW_PASSWORD, confirm: NEW_PASSWORD })
    expect(changed.status).toBe(200)
    expect(changed.body).toContain('Your password was changed.')
    const still = await changer.request(url('/account'))
    expect(still.status).toBe(200)
    expect(still.body).toContain(CHANGE.email)

    await expectRefused(other, pending, { ...CHANGE, password: NEW_PASSWORD })
  }, 90_000)

  it('an administrator ending the person’s sessions (admin API) signs every browser out of the account area', async () => {
    const first = await signedIn(ENDED_BY_ADMIN)
    const second = await signedIn(ENDED_BY_ADMIN)
    const pending = await pendingEnrolment(second)
    const token = await serviceToken(iam.issuer, 'svc-sessions', SERVICE_SECRET, ['sessions:write'])
    const ended = await adminApi(iam.issuer)(token, 'DELETE', `/users/${adaId}/sessions`)
    expect(ended.status, ended.text).toBe(204)
    expectSentToSignIn(await first.request(url('/account')))
    await expectRefused(second, pending, ENDED_BY_ADMIN)
  }, 90_000)

  it('signing out of the account area ends that sign-in: a copy of its cookies taken before is refused', async () => {
    const browser = await signedIn(LOGOUT)
    const copy = new HttpBrowser(iam.issuer)
    const copied = browser.cookieHeader()
    const pending = await pendingEnrolment(browser)

    const account = await browser.navigate(url('/account'))
    const confirm = await submit(browser, account, '/account/logout')
    const end = formsOf(confirm.body)[0]!
    const signedOut = await browser.navigate(new URL(end.action, iam.issuer).href, { form: { ...end.fields, logout: 'yes' } })
    expect(signedOut.body).toContain('You are signed out')

    for (const path of ['/account', '/account/security']) {
      expectSentToSignIn(await copy.request(url(path), { headers: { cookie: copied } }))
    }
    const code = await generate({ secret: pending.secret })
    expectSentToSignIn(await copy.request(url('/account/security/totp'), { headers: { cookie: copied }, form: { ...pending.form.fields, code } }))
  }, 90_000)
})

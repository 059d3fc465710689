// The account area: a person opens the server's root, signs in through this same OP (as the
// first-party account client), sees who they are, and signs out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, formsOf } from '../support/browser.ts'
import { ALICE, ONE_TIME, createFixtures } from '../support/fixtures.ts'

describe.each(STORAGE_MODES)('account area (%s)', (mode) => {
  let iam: IamInstance

  beforeAll(async () => {
    iam = await createIam(mode)
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
  })
  afterAll(async () => { await iam?.close() })

  it('signs in from the root URL without a consent page, shows the person, and signs out', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const loginPage = await browser.navigate(`${iam.issuer}/`)
    expect(loginPage.body).toContain('to continue to <strong>Your account</strong>')
    const form = formWithAction(loginPage.body, '/login')
    const account = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: ALICE.username, password: ALICE.password } })
    expect(account.status).toBe(200)
    expect(account.body).toContain('You are signed in as <strong>Alice Example</strong>')
    expect(account.body).toContain(ALICE.email)
    expect(account.body).toMatch(/<dt>Roles<\/dt><dd>user<\/dd>/)

    const logout = formWithAction(account.body, '/account/logout')
    const confirm = await browser.navigate(`${iam.issuer}/account/logout`, { form: logout.fields })
    expect(confirm.body).toContain('Sign out?')
    const end = formsOf(confirm.body)[0]!
    const done = await browser.navigate(new URL(end.action, iam.issuer).href, { form: { ...end.fields, logout: 'yes' } })
    expect(done.body).toContain('You are signed out')
    // Signed out of the OP too: the account area asks for a password again.
    const again = await browser.navigate(`${iam.issuer}/account`)
    expect(again.body).toContain('name="password"')
  })

  it('refuses a sign-out without its CSRF token and a callback without its transaction', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const forged = await browser.request(`${iam.issuer}/account/logout`, { form: { csrf: 'forged' } })
    expect(forged.status).toBe(403)
    const callback = await browser.request(`${iam.issuer}/account/callback?code=abc&state=xyz`)
    expect(callback.status).toBe(400)
    expect(callback.body).toContain('Sign-in expired')
  })

  it('makes a person with a one-time password choose their own before continuing', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const loginPage = await browser.navigate(`${iam.issuer}/account`)
    const login = formWithAction(loginPage.body, '/login')
    let res = await browser.navigate(new URL(login.action, iam.issuer).href, { form: { ...login.fields, login: ONE_TIME.email, password: ONE_TIME.password } })
    expect(res.body).toContain('Choose a new password')
    const submit = async (password: string, confirm: string) => {
      const form = formWithAction(res.body, '/password')
      res = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, password, confirm } })
      return res
    }
    const alert = () => /role="alert"[^>]*>([^<]*)</.exec(res.body)?.[1]
    expect((await submit('short', 'short')).status).toBe(400)
    expect(alert()).toBe('Use at least 12 characters.')
    await submit('a brand new passphrase', 'a different passphrase')
    expect(alert()).toBe('The two passwords do not match.')
    expect(res.body).toMatch(/id="confirm-password"[^>]*aria-invalid="true"/)
    await submit(ONE_TIME.password, ONE_TIME.password)
    expect(alert()).toBe('Choose a password different from the one-time password.')
    await submit('a brand new passphrase', 'a brand new passphrase')
    // A confirmation first (Otto administers nothing: no console link), then Continue.
    expect(res.status).toBe(200)
    expect(res.body).toContain('<h1>Password changed</h1>')
    expect(res.body).not.toContain('admin console')
    const next = formWithAction(res.body, '/password/continue')
    res = await browser.navigate(new URL(next.action, iam.issuer).href, { form: next.fields })
    expect(res.status).toBe(200)
    expect(res.body).toContain('Your account')
    expect(res.body).toContain(ONE_TIME.email)

    // The new password works from now on, without the change step; the one-time one does not.
    const again = new HttpBrowser(iam.issuer)
    const page = await again.navigate(`${iam.issuer}/account`)
    const form = formWithAction(page.body, '/login')
    const old = await again.request(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: ONE_TIME.email, password: ONE_TIME.password } })
    expect(old.status).toBe(400)
    const ok = await again.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: ONE_TIME.username, password: 'a brand new passphrase' } })
    expect(ok.body).toContain('Your account')
  })
})

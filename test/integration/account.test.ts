// The account area: a person opens the server's root, signs in through this same OP (as the
// first-party account client), sees who they are, and signs out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, formsOf } from '../support/browser.ts'
import { ALICE, createFixtures } from '../support/fixtures.ts'

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
})

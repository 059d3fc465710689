// The pages a newcomer ends on after something other than a plain sign-in, in headless Chromium:
// the 404 page, the signed-out pages (the account area's, and the provider's after RP-initiated
// logout), "Cancel" on the account area's sign-in, and the confirmation after a forced password
// change. Each must lead somewhere (the signed-out and 404 pages to SITE_HOME_URL too) and pass
// axe-core; and the start log says where the console is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { createIam, type IamInstance } from '../support/iam.ts'
import { ALICE, ONE_TIME, createFixtures } from '../support/fixtures.ts'
import { launchChromium, openSession, type Session } from '../support/chromium.ts'
import { axeViolations } from '../support/axe.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { ADMIN_PERMISSIONS } from '../../src/admin/permissions.ts'

/** An administrator whose password an administrator set: must choose their own at first sign-in. */
const ADA = { email: 'ada@example.test', username: 'ada', password: 'one-time-password-456' }
/** SITE_HOME_URL: the signed-out and 404 pages link to it. */
const HOME = 'https://www.example.test/'

describe('the pages a newcomer ends on (Chromium, embedded)', () => {
  let iam: IamInstance
  let browser: Browser

  beforeAll(async () => {
    iam = await createIam('embedded', { env: { SITE_HOME_URL: HOME } })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      const admin = await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])
      const ada = await createUser(prisma, { ...ADA, passwordExpired: true, emailVerified: true })
      await assignRole(prisma, ada.id, admin.id)
    })
    await iam.start()
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await iam?.close()
  })

  const url = (path: string) => `${iam.issuer}${path}`

  /**
   * Runs `fn` in a fresh browser profile, and checks it met no console error, page error or CSP
   * violation (but `expected`: Chromium logs a document's own 404 status as a console error).
   */
  async function inSession(fn: (s: Session) => Promise<void>, expected: (problem: string) => boolean = () => false) {
    const session = await openSession(browser)
    try {
      await fn(session)
      expect(session.problems.filter((p) => !expected(p))).toEqual([])
    } finally {
      await session.context.close()
    }
  }

  async function expectAccessible(page: Page) {
    expect(await axeViolations(page), page.url()).toEqual([])
  }

  /** The link to the site's home page (SITE_HOME_URL). */
  async function expectHomeLink(page: Page) {
    expect(await page.getByRole('link', { name: 'Go to the home page' }).getAttribute('href')).toBe(HOME)
  }

  async function expectSignInPage(page: Page) {
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
  }

  /** From /account (signed out) through the sign-in page, with `who`'s password. */
  async function signInToAccount(page: Page, who: { email: string; password: string }) {
    await page.goto(url('/account'))
    await expectSignInPage(page)
    await page.getByLabel('Email or username', { exact: true }).fill(who.email)
    await page.getByLabel('Password', { exact: true }).fill(who.password)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  }

  it('answers an unknown address with a 404 page that leads to the account area, and passes axe', async () => {
    await inSession(async ({ page }) => {
      for (const path of ['/no-such-page', '/account/no-such-page', '/self-service/no-such-page']) {
        const res = await page.goto(url(path))
        expect(res?.status(), path).toBe(404)
        await page.getByRole('heading', { name: 'Page not found', level: 1 }).waitFor()
        expect(await page.title()).toMatch(/^Page not found · /)
        await expectHomeLink(page)
        await expectAccessible(page)
      }
      await page.getByRole('link', { name: 'Go to your account' }).click()
      await expectSignInPage(page)
    }, (problem) => /status of 404 .*\/no-such-page\)$/.test(problem))
    // Scripts and API clients that do not ask for HTML keep a plain 404.
    const plain = await fetch(url('/no-such-page'), { headers: { accept: 'application/json' } })
    expect(plain.status).toBe(404)
    expect(plain.headers.get('content-type')).not.toMatch(/html/)
  })

  it('signing out of the account area ends on a page that leads back in, and passes axe', async () => {
    await inSession(async ({ page }) => {
      await signInToAccount(page, ALICE)
      await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor()
      await page.getByRole('button', { name: 'Sign out', exact: true }).click()
      // The provider asks (RP-initiated logout with the account area's id_token_hint).
      await page.getByRole('heading', { name: 'Sign out?', level: 1 }).waitFor()
      await page.getByRole('button', { name: 'Sign out', exact: true }).click()
      await page.waitForURL((u) => u.pathname === '/account/signed-out')
      await page.getByRole('heading', { name: 'You are signed out', level: 1 }).waitFor()
      await expectHomeLink(page)
      await expectAccessible(page)
      await page.getByRole('link', { name: 'Sign in again' }).click()
      await expectSignInPage(page)
    })
  })

  it('RP-initiated logout without a return address ends on the provider\'s signed-out page, which leads back in and passes axe', async () => {
    await inSession(async ({ page }) => {
      await signInToAccount(page, ALICE)
      await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor()
      const discovery = await (await fetch(url('/.well-known/openid-configuration'))).json() as { end_session_endpoint: string }
      await page.goto(`${discovery.end_session_endpoint}?client_id=spa`)
      await page.getByRole('heading', { name: 'Sign out?', level: 1 }).waitFor()
      await page.getByRole('button', { name: 'Sign out', exact: true }).click()
      await page.getByRole('heading', { name: 'You are signed out', level: 1 }).waitFor()
      await page.getByText(/^You have signed out/).waitFor()
      await expectHomeLink(page)
      await expectAccessible(page)
      await page.getByRole('link', { name: 'Sign in again' }).click()
      await expectSignInPage(page)
      // Signed out indeed: the account area asks for the password again.
      await page.goto(url('/account'))
      await expectSignInPage(page)
    })
  })

  it('"Cancel" on the account area\'s sign-in lands on a plain page with a way to try again, not an error', async () => {
    await inSession(async ({ page }) => {
      await page.goto(url('/account/sessions'))
      await expectSignInPage(page)
      const [callback] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/account/callback'),
        page.getByRole('button', { name: /^Cancel and return to / }).click(),
      ])
      expect(callback.status()).toBe(200)
      expect(new URL(callback.url()).searchParams.get('error')).toBe('access_denied')
      await page.getByRole('heading', { name: 'Not signed in', level: 1 }).waitFor()
      await page.getByText('You did not sign in: the sign-in was cancelled.').waitFor()
      expect(await page.getByRole('alert').count()).toBe(0)
      await expectAccessible(page)
      // Trying again goes back to where the person was going.
      const again = page.getByRole('link', { name: 'Try again' })
      expect(await again.getAttribute('href')).toBe('/account/login?return=%2Faccount%2Fsessions')
      await again.click()
      await expectSignInPage(page)
      await page.getByLabel('Email or username', { exact: true }).fill(ALICE.email)
      await page.getByLabel('Password', { exact: true }).fill(ALICE.password)
      await page.getByRole('button', { name: 'Sign in', exact: true }).click()
      await page.waitForURL((u) => u.pathname === '/account/sessions')
    })
  })

  it('after a forced password change an administrator sees a confirmation with a link to the console, then continues', async () => {
    await inSession(async ({ page, context }) => {
      await signInToAccount(page, ADA)
      await page.getByRole('heading', { name: 'Choose a new password', level: 1 }).waitFor()
      // Continue before the change changes nothing: the interaction shows the form again.
      const uid = /\/interaction\/([^/]+)/.exec(page.url())![1]!
      const csrf = await page.locator('input[name="csrf"]').first().inputValue()
      const early = await context.request.post(url(`/interaction/${uid}/password/continue`), { form: { csrf }, maxRedirects: 0 })
      expect(early.status()).toBe(302)
      expect(new URL(early.headers().location!, iam.issuer).pathname).toBe(`/interaction/${uid}`)
      await page.reload()
      await page.getByRole('heading', { name: 'Choose a new password', level: 1 }).waitFor()

      await page.getByLabel('New password', { exact: true }).fill('ada chooses her own passphrase')
      await page.getByLabel('Type it again', { exact: true }).fill('ada chooses her own passphrase')
      await page.getByRole('button', { name: 'Save and continue' }).click()
      await page.getByRole('heading', { name: 'Password changed', level: 1 }).waitFor()
      await expect(page.getByRole('status').textContent()).resolves.toBe('Your new password is saved. Use it from now on.')
      const consoleLink = page.getByRole('link', { name: 'admin console' })
      expect(await consoleLink.getAttribute('href')).toBe('/admin')
      await expectAccessible(page)
      // A reload keeps the confirmation; it does not ask for the password again.
      await page.reload()
      await page.getByRole('heading', { name: 'Password changed', level: 1 }).waitFor()

      await page.getByRole('button', { name: /^Continue/ }).click()
      await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor()
    })
    // The new password is the one that works now.
    await inSession(async ({ page }) => {
      await signInToAccount(page, { email: ADA.email, password: 'ada chooses her own passphrase' })
      await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor()
    })
  })

  it('shows a person who administers nothing the confirmation without the console link', async () => {
    await inSession(async ({ page }) => {
      await signInToAccount(page, ONE_TIME)
      await page.getByRole('heading', { name: 'Choose a new password', level: 1 }).waitFor()
      await page.getByLabel('New password', { exact: true }).fill('otto chooses his own passphrase')
      await page.getByLabel('Type it again', { exact: true }).fill('otto chooses his own passphrase')
      await page.getByRole('button', { name: 'Save and continue' }).click()
      await page.getByRole('heading', { name: 'Password changed', level: 1 }).waitFor()
      expect(await page.getByRole('link', { name: 'admin console' }).count()).toBe(0)
      await page.getByRole('button', { name: /^Continue/ }).click()
      await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor()
    })
  })

  it('axe finds what is wrong on a page that is wrong (the check can fail)', async () => {
    await inSession(async ({ page }) => {
      await page.setContent('<!doctype html><html><title>t</title><body><img src="data:,"><input type="text"></body></html>')
      const found = (await axeViolations(page)).map((v) => v.id)
      expect(found).toEqual(expect.arrayContaining(['html-has-lang', 'image-alt', 'label']))
    })
  })

  it('logs where the admin console is when it starts', async () => {
    const listening = iam.logs().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg?: string; adminConsole?: string })
      .find((l) => l.msg?.startsWith('listening'))
    expect(listening?.adminConsole).toBe(url('/admin'))
    expect(listening?.msg).toContain(`admin console at ${url('/admin')}`)
    // And that is where the console answers.
    const res = await fetch(listening!.adminConsole!)
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('<title>Admin console</title>')
  })
})

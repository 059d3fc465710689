// A person signing in through the real login and consent pages in headless Chromium: the
// embedded server as a child process, and openid-client as the relying party (code + PKCE).
//
// The SPA's redirect_uri, http://localhost:5173/callback, is mapped to a small callback app of
// ours (see test/support/chromium.ts): the browser really lands there and page.url() is the response.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import type { Browser, BrowserContextOptions, Page } from 'playwright-core'
import { createIam, type IamInstance } from '../support/iam.ts'
import { ALICE, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { callbackOf, launchChromium, openSession, startCallbackApp, type CallbackApp, type Session } from '../support/chromium.ts'

const RESULTS = path.resolve(import.meta.dirname, '../../test-results')
const SAME_FAILURE = 'Wrong email, username or password. Try again or reset your password. After too many tries, sign-in pauses for at least 15 minutes.'

describe('signing in through the pages in Chromium (embedded)', () => {
  let iam: IamInstance
  let browser: Browser
  let spa: oidc.Configuration
  let aliceId: string
  let app: CallbackApp

  beforeAll(async () => {
    mkdirSync(RESULTS, { recursive: true })
    app = await startCallbackApp()
    iam = await createIam('embedded')
    aliceId = await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      return (await prisma.user.findUniqueOrThrow({ where: { email: ALICE.email } })).id
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] })
    browser = await launchChromium({ hostRules: [`MAP localhost:5173 127.0.0.1:${app.port}`] })
  })

  afterAll(async () => {
    await browser?.close()
    await iam?.close()
    await app?.close()
  })

  /** An authorization request as the SPA would make it: code flow, PKCE S256, state. */
  async function authorize(scope = 'openid profile email') {
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const url = oidc.buildAuthorizationUrl(spa, {
      // The consent page every time: without prompt=consent, Alice's first Allow is remembered.
      redirect_uri: SPA_REDIRECT, scope, state, prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    return { url: url.href, verifier, state }
  }

  /** A fresh browser profile (no cookies). */
  function open(options: BrowserContextOptions = {}): Promise<Session> {
    return openSession(browser, options)
  }

  async function loginPage(page: Page) {
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
    return {
      login: page.getByLabel('Email or username', { exact: true }),
      password: page.getByLabel('Password', { exact: true }),
      submit: page.getByRole('button', { name: 'Sign in', exact: true }),
    }
  }

  /** A new authorization request, opened in `page` as far as the login page. */
  async function toLoginPage(page: Page) {
    const req = await authorize()
    const first = await page.goto(req.url)
    expect(first?.ok()).toBe(true)
    return { req, form: await loginPage(page) }
  }

  async function consentPage(page: Page) {
    await page.getByRole('heading', { name: 'Allow access?', level: 1 }).waitFor()
  }

  /** The POST the next action sends to an /interaction/ page, and that action. */
  async function submitting(page: Page, suffix: string, action: () => Promise<void>) {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith(suffix)),
      action(),
    ])
    return response
  }

  /** The focused element: its id, a button's text, or its tag name (`body` when nothing is). */
  async function focusedId(page: Page): Promise<string | undefined> {
    return page.evaluate(() => {
      const el = document.activeElement
      if (!el) return undefined
      if (el.id) return el.id
      if (el.tagName === 'BUTTON') return el.textContent?.trim()
      return el.tagName.toLowerCase()
    })
  }

  async function redeem(callback: URL, req: { verifier: string; state: string }) {
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state })
    const claims = tokens.claims()!
    return { tokens, claims }
  }

  /** The person said no: back at the SPA with the OAuth error and the request's state, no code. */
  async function expectAccessDenied(callback: URL, req: { verifier: string; state: string }) {
    expect(callback.origin + callback.pathname).toBe(SPA_REDIRECT)
    expect(callback.searchParams.get('error')).toBe('access_denied')
    expect(callback.searchParams.get('state')).toBe(req.state)
    expect(callback.searchParams.get('code')).toBeNull()
    // openid-client turns it into the OAuth error.
    await expect(oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state }))
      .rejects.toMatchObject({ error: 'access_denied' })
  }

  it('signs a person in: login page, consent page, Allow, back to the app with a code', async () => {
    const { context, page, problems } = await open()
    try {
      const { req, form } = await toLoginPage(page)
      expect(await page.title()).toMatch(/^Sign in · /)
      await page.getByText('to continue to Test SPA').waitFor()
      await page.screenshot({ path: path.join(RESULTS, 'e2e-sign-in-login.png'), fullPage: true })

      await form.login.fill(ALICE.email)
      await form.password.fill(ALICE.password)
      const posted = await submitting(page, '/login', () => form.password.press('Enter'))
      expect(posted.status()).toBe(303)

      await consentPage(page)
      expect(await page.title()).toMatch(/^Allow access · /)
      await page.getByText('Test SPA is asking to:').waitFor()
      const items = await page.getByRole('list').getByRole('listitem').allInnerTexts()
      expect(items.map((s) => s.trim())).toEqual(expect.arrayContaining([
        'Know who you are when you sign in',
        'See your name and username',
        'See your email address',
      ]))
      expect(await page.getByText('See your email address', { exact: true }).isVisible()).toBe(true)
      await page.getByText(`Signed in as ${ALICE.email}.`).waitFor()
      await page.screenshot({ path: path.join(RESULTS, 'e2e-sign-in-consent.png'), fullPage: true })

      await page.getByRole('button', { name: 'Allow', exact: true }).click()
      const callback = await callbackOf(page)
      expect(callback.origin + callback.pathname).toBe(SPA_REDIRECT)
      expect(callback.searchParams.get('state')).toBe(req.state)
      expect(callback.searchParams.get('iss')).toBe(iam.issuer)
      expect(callback.searchParams.get('code')).toBeTruthy()

      const { tokens, claims } = await redeem(callback, req)
      expect(claims.sub).toBe(aliceId)
      expect(claims.aud).toBe('spa')
      expect(claims.amr).toEqual(['pwd'])
      const userinfo = await oidc.fetchUserInfo(spa, tokens.access_token, claims.sub)
      expect(userinfo.email).toBe(ALICE.email)
      expect(userinfo.email_verified).toBe(true)
      expect(userinfo.name).toBe('Alice Example')

      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('says the same thing for a wrong password and an unknown account, then lets the person sign in', async () => {
    const { context, page } = await open()
    try {
      const { req, form: firstForm } = await toLoginPage(page)
      let form = firstForm

      // An account that does not exist
      await form.login.fill('nobody@example.test')
      await form.password.fill('whatever it is')
      const unknown = await submitting(page, '/login', () => form.submit.click())
      form = await loginPage(page)
      const unknownAlert = page.getByRole('alert')
      await unknownAlert.waitFor()
      const unknownText = (await unknownAlert.innerText()).trim()
      expect(unknownText).toBe(SAME_FAILURE)

      // The right account with a wrong password
      await form.login.fill(ALICE.email)
      await form.password.fill('not the password')
      const wrong = await submitting(page, '/login', () => form.password.press('Enter'))
      form = await loginPage(page)
      const alert = page.getByRole('alert')
      await alert.waitFor()
      expect((await alert.innerText()).trim()).toBe(unknownText)
      // The same status too, so the response does not tell which part was wrong.
      expect(wrong.status()).toBe(unknown.status())
      expect(wrong.status()).toBeGreaterThanOrEqual(400)
      expect(wrong.status()).toBeLessThan(500)
      await page.screenshot({ path: path.join(RESULTS, 'e2e-sign-in-wrong-password.png'), fullPage: true })

      // What was typed is kept (except the password), the field is marked invalid and points at the
      // message, and focus is in the form ready for another try.
      expect(await form.login.inputValue()).toBe(ALICE.email)
      expect(await form.password.inputValue()).toBe('')
      expect(await form.login.getAttribute('aria-invalid')).toBe('true')
      const describedBy = await form.login.getAttribute('aria-describedby')
      expect(describedBy).toBeTruthy()
      expect(await page.locator(`[id="${describedBy}"]`).innerText()).toBe(unknownText)
      expect(['login', 'password']).toContain(await focusedId(page))

      // Typing straight away goes into the focused field: the password.
      await page.keyboard.type(ALICE.password)
      expect(await form.password.inputValue()).toBe(ALICE.password)
      const ok = await submitting(page, '/login', () => page.keyboard.press('Enter'))
      expect(ok.status()).toBe(303)
      await consentPage(page)
      await page.getByRole('button', { name: 'Allow', exact: true }).click()
      const { claims } = await redeem(await callbackOf(page), req)
      expect(claims.sub).toBe(aliceId)
      expect(claims.amr).toEqual(['pwd'])
    } finally {
      await context.close()
    }
  })

  it('has labelled fields, a sensible Tab order, a page language, and no console errors or CSP violations', async () => {
    const { context, page, problems } = await open()
    try {
      const { req, form } = await toLoginPage(page)

      expect(await page.locator('html').getAttribute('lang')).toBe('en')
      // The stylesheet loaded under the CSP (the card is white on the grey page).
      expect(await page.locator('main').evaluate((el) => getComputedStyle(el).backgroundColor)).toBe('rgb(255, 255, 255)')

      // Every visible input has an accessible name, found by the label a person reads.
      const inputs = page.locator('input:not([type=hidden])')
      expect(await inputs.count()).toBe(2)
      expect(await form.login.getAttribute('id')).toBe('login')
      expect(await form.password.getAttribute('id')).toBe('password')
      expect(await page.getByRole('textbox', { name: 'Email or username', exact: true }).count()).toBe(1)
      for (const input of await inputs.all()) {
        const named = await input.evaluate((el) => {
          const i = el as HTMLInputElement
          return (i.labels?.length ?? 0) > 0 || !!i.getAttribute('aria-label') || !!i.getAttribute('aria-labelledby')
        })
        expect(named, await input.evaluate((el) => el.outerHTML)).toBe(true)
      }
      // `webauthn`: the browser offers passkeys in the field's autofill too.
      expect(await form.login.getAttribute('autocomplete')).toBe('username webauthn')
      expect(await form.password.getAttribute('autocomplete')).toBe('current-password')
      expect(await form.password.getAttribute('type')).toBe('password')
      // Every button says what it does.
      expect(await page.getByRole('button').allInnerTexts()).toEqual(['Sign in', 'Sign in with a passkey', 'Cancel and return to Test SPA'])

      // Focus starts in the first field; Tab goes Email → Password → Sign in → passkey → Cancel.
      expect(await focusedId(page)).toBe('login')
      // From the top of the page (a click on the heading moves the starting point there), the
      // first Tab stop is the first field.
      await page.getByRole('heading', { name: 'Sign in', level: 1 }).click()
      expect(await focusedId(page)).toBe('body')
      await page.keyboard.press('Tab')
      expect(await focusedId(page)).toBe('login')
      await page.keyboard.press('Tab')
      expect(await focusedId(page)).toBe('password')
      await page.keyboard.press('Tab')
      expect(await focusedId(page)).toBe('Sign in')
      await page.keyboard.press('Tab')
      expect(await focusedId(page)).toBe('Sign in with a passkey')
      await page.keyboard.press('Tab')
      expect(await focusedId(page)).toBe('Cancel and return to Test SPA')
      // The focused control shows a visible focus ring (keyboard focus → :focus-visible).
      expect(await page.getByRole('button', { name: /^Cancel/ }).evaluate((el) => getComputedStyle(el).outlineStyle)).toBe('solid')

      // Sign in by keyboard only: back to the fields, type, Enter, then Allow with Enter.
      for (let i = 0; i < 4; i++) await page.keyboard.press('Shift+Tab')
      expect(await focusedId(page)).toBe('login')
      await page.keyboard.type(ALICE.username)
      await page.keyboard.press('Tab')
      await page.keyboard.type(ALICE.password)
      await submitting(page, '/login', () => page.keyboard.press('Enter'))
      await consentPage(page)
      expect(await page.locator('html').getAttribute('lang')).toBe('en')
      expect(await page.getByRole('button').allInnerTexts()).toEqual(['Allow', 'Deny'])
      // Tab from the top of the consent page reaches Allow first.
      await page.keyboard.press('Tab')
      expect(await focusedId(page)).toBe('Allow')
      await page.keyboard.press('Enter')
      const callback = await callbackOf(page)
      expect(callback.searchParams.get('code')).toBeTruthy()

      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('works without JavaScript', async () => {
    const { context, page, problems } = await open({ javaScriptEnabled: false })
    try {
      const { req, form } = await toLoginPage(page)
      await form.login.fill(ALICE.email)
      await form.password.fill(ALICE.password)
      await form.submit.click()
      await consentPage(page)
      await page.getByText('See your email address', { exact: true }).waitFor()
      await page.getByRole('button', { name: 'Allow', exact: true }).click()
      const callback = await callbackOf(page)
      expect(callback.searchParams.get('state')).toBe(req.state)
      const { claims } = await redeem(callback, req)
      expect(claims.sub).toBe(aliceId)
      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('returns to the app with access_denied when the person cancels on the login page', async () => {
    const { context, page, problems } = await open()
    try {
      const { req } = await toLoginPage(page)
      await page.getByRole('button', { name: 'Cancel and return to Test SPA', exact: true }).click()
      await expectAccessDenied(await callbackOf(page), req)
      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('returns to the app with access_denied when the person presses Deny on the consent page', async () => {
    const { context, page } = await open()
    try {
      const { req, form } = await toLoginPage(page)
      await form.login.fill(ALICE.email)
      await form.password.fill(ALICE.password)
      await form.submit.click()
      await consentPage(page)
      await page.getByRole('button', { name: 'Deny', exact: true }).click()
      await expectAccessDenied(await callbackOf(page), req)
    } finally {
      await context.close()
    }
  })
})

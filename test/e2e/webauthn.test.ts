// Passkeys and security keys as a second factor, in headless Chromium with a CDP virtual
// authenticator (CTAP2, USB, resident keys, user verification): a person registers a passkey in
// the account area, signs out, then signs in to an OIDC client that asks for MFA and answers with
// the passkey. Then the refusals: a stale, a forged, a replayed assertion, and the page without
// JavaScript.
//
// WebAuthn needs a secure context and a domain as relying party id: Chromium refuses an IP address
// ("This is an invalid domain"), so these servers use the issuer http://localhost:PORT (rp id
// 'localhost'; http://localhost counts as secure) while listening on 127.0.0.1.
// The SPA's redirect_uri (http://localhost:5173) is mapped to a small callback server of ours, as
// in sign-in.test.ts (test/support/chromium.ts).
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import type { Browser, BrowserContextOptions, CDPSession, Page } from 'playwright-core'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { ALICE, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { addVirtualAuthenticator, callbackOf, launchChromium, openSession, startCallbackApp, type CallbackApp, type Session } from '../support/chromium.ts'
import { authorizationRequest } from '../support/code-flow.ts'

const RESULTS = path.resolve(import.meta.dirname, '../../test-results')
const ACR_MFA = 'urn:iam:acr:mfa'
const PASSKEY_PAGE = '/account/security/passkeys/new'
const KEY_LABEL = 'Test key'

async function credentialsOf(cdp: CDPSession, authenticatorId: string) {
  return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials
}
type VirtualCredential = Awaited<ReturnType<typeof credentialsOf>>[number]

describe.each(STORAGE_MODES)('passkeys as a second factor in Chromium (%s)', (mode) => {
  let iam: IamInstance
  let browser: Browser
  let spa: oidc.Configuration
  let aliceId: string
  let app: CallbackApp
  /** The virtual authenticator's credentials after the first test (private keys included). */
  let credentials: VirtualCredential[] = []

  beforeAll(async () => {
    mkdirSync(RESULTS, { recursive: true })
    app = await startCallbackApp()
    iam = await createIam(mode, { issuerHost: 'localhost' })
    aliceId = await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      return (await prisma.user.findUniqueOrThrow({ where: { email: ALICE.email } })).id
    })
    await iam.start()
    expect(iam.issuer).toBe(`http://localhost:${iam.port}`)
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] })
    // localhost:PORT → the server (skips ::1, where nothing listens); :5173 → the callback app.
    browser = await launchChromium({ hostRules: [`MAP localhost:5173 127.0.0.1:${app.port}`, `MAP localhost:${iam.port} 127.0.0.1:${iam.port}`] })
  })

  afterAll(async () => {
    await browser?.close()
    await iam?.close()
    await app?.close()
  })

  function open(options: BrowserContextOptions = {}): Promise<Session> {
    return openSession(browser, options)
  }

  /** A CTAP2 USB authenticator with resident keys and user verification, answering at once. */
  const addAuthenticator = (page: Page) => addVirtualAuthenticator(page, 'usb')

  const authorize = (extra: Record<string, string> = {}) => authorizationRequest(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid profile email', ...extra })

  async function enterPassword(page: Page) {
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
    await page.getByLabel('Email or username', { exact: true }).fill(ALICE.email)
    await page.getByLabel('Password', { exact: true }).fill(ALICE.password)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  }

  /**
   * The page's deferred script has run: it runs before the document's load event. A click before
   * that (a slow CI machine) would submit the form plainly, as with JavaScript off.
   */
  async function scriptReady(page: Page) {
    await page.waitForLoadState('load')
  }

  /** From the login page of an MFA request to the passkey page. */
  async function toPasskeyStep(page: Page, url: string) {
    await page.goto(url)
    await enterPassword(page)
    await page.getByRole('heading', { name: 'Verify it’s you', level: 1 }).waitFor()
    await page.getByRole('button', { name: `Use ${KEY_LABEL}`, exact: true }).click()
    await page.getByRole('heading', { name: 'Use your security key or passkey', level: 1 }).waitFor()
    await scriptReady(page)
  }

  /**
   * Back to the app with a code: through the consent page at the first sign-in to the SPA; once
   * allowed, a later sign-in asking for no more goes straight back (consent is remembered).
   */
  async function allowAndRedeem(page: Page, req: { verifier: string; state: string }, consent: 'asked' | 'remembered' = 'asked') {
    if (consent === 'asked') {
      await page.getByRole('heading', { name: 'Allow access?', level: 1 }).waitFor()
      await page.getByRole('button', { name: 'Allow', exact: true }).click()
    }
    const callback = await callbackOf(page)
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state })
    return tokens.claims()!
  }

  it('registers a passkey in the account area, and signs in with it when a client asks for MFA', async () => {
    const { context, page, problems } = await open()
    try {
      const { cdp, authenticatorId } = await addAuthenticator(page)

      // Not signed in: the account area signs in through the OP (password only: no factor yet),
      // then comes back to the passkey page.
      await page.goto(`${iam.issuer}${PASSKEY_PAGE}`)
      await enterPassword(page)
      await page.waitForURL(`${iam.issuer}${PASSKEY_PAGE}`)
      await page.getByRole('heading', { name: 'Add a passkey or security key', level: 1 }).waitFor()
      expect(await page.locator('html').getAttribute('lang')).toBe('en')
      await page.screenshot({ path: path.join(RESULTS, `e2e-webauthn-register-${mode}.png`), fullPage: true })
      await scriptReady(page)

      // A registration whose clientDataJSON was altered on the way (another origin) is refused
      // with the page and a message, and nothing is stored.
      await page.route(`**${'/account/security/passkeys/verify'}`, async (route) => {
        const form = new URLSearchParams(route.request().postData() ?? '')
        const response = JSON.parse(form.get('response')!) as { response: { clientDataJSON: string } }
        const clientData = JSON.parse(Buffer.from(response.response.clientDataJSON, 'base64url').toString('utf8')) as Record<string, unknown>
        clientData.origin = 'http://evil.example'
        response.response.clientDataJSON = Buffer.from(JSON.stringify(clientData)).toString('base64url')
        form.set('response', JSON.stringify(response))
        await route.continue({ postData: form.toString() })
      }, { times: 1 })
      await page.getByLabel('Name', { exact: true }).fill('Forged key')
      const [refused] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/account/security/passkeys/verify')),
        page.getByRole('button', { name: 'Add passkey', exact: true }).click(),
      ])
      expect(refused.status()).toBe(400)
      await page.getByRole('alert').filter({ hasText: 'could not be verified' }).waitFor()
      expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('Forged key')
      await scriptReady(page)
      // The console shows the 400 of that form submission: expected here, not a page problem.
      problems.length = 0

      // The real registration: the first second factor, so the backup codes come with it.
      await page.getByLabel('Name', { exact: true }).fill(KEY_LABEL)
      await page.getByRole('button', { name: 'Add passkey', exact: true }).click()
      await page.getByRole('heading', { name: 'Save your backup codes', level: 1 }).waitFor()
      expect(await page.getByRole('list', { name: 'Backup codes' }).getByRole('listitem').count()).toBe(10)
      // (The refused attempt's resident key was replaced by this one: same account, same rp.)
      const registered = await credentialsOf(cdp, authenticatorId)
      expect(registered.map((c) => c.rpId)).toEqual(['localhost'])

      // The security overview lists it.
      await page.goto(`${iam.issuer}/account/security`)
      await page.getByText(KEY_LABEL, { exact: true }).waitFor()

      // Sign out of the account area and of the OP.
      await page.goto(`${iam.issuer}/account`)
      await page.getByRole('button', { name: 'Sign out', exact: true }).click()
      await page.getByRole('heading', { name: 'Sign out?', level: 1 }).waitFor()
      await page.getByRole('button', { name: 'Sign out', exact: true }).click()
      await page.getByRole('heading', { name: 'You are signed out', level: 1 }).waitFor()

      // A client asks for MFA: password, then the passkey.
      const req = await authorize({ acr_values: ACR_MFA })
      await toPasskeyStep(page, req.url)
      expect(await page.getByText('Confirm your sign-in to Test SPA').count()).toBe(1)
      expect(await page.getByText('This needs JavaScript').isVisible()).toBe(false)
      await page.screenshot({ path: path.join(RESULTS, `e2e-webauthn-sign-in-${mode}.png`), fullPage: true })
      const [verified] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/mfa/webauthn/verify')),
        page.getByRole('button', { name: 'Use security key or passkey', exact: true }).click(),
      ])
      expect(verified.status()).toBe(200)
      const claims = await allowAndRedeem(page, req)
      expect(claims.sub).toBe(aliceId)
      expect(claims.acr).toBe(ACR_MFA)
      expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'hwk', 'mfa']))

      expect(problems).toEqual([])
      credentials = await credentialsOf(cdp, authenticatorId)
    } finally {
      await context.close()
    }
  })

  it('refuses stale, forged and replayed assertions with a message, and still lets the person in', async () => {
    expect(credentials.length, 'the first test registers the passkey').toBeGreaterThan(0)
    const { context, page } = await open()
    try {
      // The same authenticator (its keys and counters) in a fresh profile.
      const { cdp, authenticatorId } = await addAuthenticator(page)
      for (const credential of credentials) await cdp.send('WebAuthn.addCredential', { authenticatorId, credential })

      const req = await authorize({ acr_values: ACR_MFA })
      await toPasskeyStep(page, req.url)
      // A second sign-in (another interaction) in another tab, waiting at the same step.
      const other = await context.newPage()
      await toPasskeyStep(other, (await authorize({ acr_values: ACR_MFA })).url)

      // In the page: an assertion whose signature was changed on the way is refused, the page says
      // so, and the button works again.
      await page.route('**/mfa/webauthn/verify', async (route) => {
        const body = JSON.parse(route.request().postData() ?? '{}') as { response: { response: { signature: string } } }
        const signature = Buffer.from(body.response.response.signature, 'base64url')
        signature[signature.length - 1]! ^= 0x01
        body.response.response.signature = signature.toString('base64url')
        await route.continue({ postData: JSON.stringify(body) })
      }, { times: 1 })
      const [forged] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/mfa/webauthn/verify')),
        page.getByRole('button', { name: 'Use security key or passkey', exact: true }).click(),
      ])
      expect(forged.status()).toBe(400)
      await page.getByRole('alert').filter({ hasText: 'Your security key or passkey could not be verified. Try again.' }).waitFor()
      await expect.poll(() => page.getByRole('button', { name: 'Use security key or passkey', exact: true }).isEnabled()).toBe(true)

      // By hand, with fetch: the script's endpoints with this page's CSRF token.
      const outcome = await page.evaluate(async () => {
        const form = document.querySelector('form[data-webauthn]') as HTMLFormElement
        const csrf = (form.elements.namedItem('csrf') as HTMLInputElement).value
        const optionsUrl = form.getAttribute('data-options')!
        const verifyUrl = form.getAttribute('action')!
        const post = async (url: string, body: Record<string, unknown>) => {
          const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ csrf, ...body }) })
          return { status: res.status, body: await res.json() as Record<string, string> }
        }
        const b64 = (s: string) => s.replace(/-/g, '+').replace(/_/g, '/')
        const b64url = (s: string) => btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
        const assertion = async () => {
          const options = (await post(optionsUrl, {})).body
          const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options as never) }) as PublicKeyCredential
          return credential.toJSON() as { response: { clientDataJSON: string } }
        }
        const first = await assertion()
        // New options replace the challenge the first assertion answers.
        const newer = (await post(optionsUrl, {})).body
        const stale = await post(verifyUrl, { response: first })
        // The first assertion, its clientDataJSON rewritten to carry the current challenge: the
        // signature no longer matches (and the challenge is used up by the attempt).
        const clientData = JSON.parse(atob(b64(first.response.clientDataJSON))) as Record<string, unknown>
        clientData.challenge = newer.challenge
        const rewritten = { ...first, response: { ...first.response, clientDataJSON: b64url(JSON.stringify(clientData)) } }
        const tampered = await post(verifyUrl, { response: rewritten })
        const again = await post(verifyUrl, { response: rewritten })
        const malformed = await post(verifyUrl, { response: { id: 'x' } })
        // A real assertion presented as another credential's (one that is not this person's).
        const relabelled = { ...await assertion(), id: 'bm90LWEtcmVnaXN0ZXJlZC1rZXk', rawId: 'bm90LWEtcmVnaXN0ZXJlZC1rZXk' }
        const foreign = await post(verifyUrl, { response: relabelled })
        // A good one, then the same one again.
        const good = await assertion()
        const ok = await post(verifyUrl, { response: good })
        const replayed = await post(verifyUrl, { response: good })
        return { stale, tampered, again, malformed, foreign, ok, replayed, good }
      })
      expect(outcome.stale).toEqual({ status: 400, body: { reason: 'challenge_unknown', error: 'This request is no longer valid: it was replaced by a newer one or has expired. Try again.' } })
      expect(outcome.tampered).toEqual({ status: 400, body: { reason: 'not_verified', error: 'Your security key or passkey could not be verified. Try again.' } })
      expect(outcome.again).toEqual({ status: 400, body: { reason: 'challenge_used', error: 'This answer from your security key or passkey was already used. Try again.' } })
      expect(outcome.malformed).toEqual({ status: 400, body: { reason: 'malformed', error: 'The answer from your security key or passkey was not understood. Try again.' } })
      expect(outcome.foreign).toEqual({ status: 400, body: { reason: 'unknown_credential', error: 'That security key or passkey is not registered to your account. Use another one, or another method.' } })
      expect(outcome.ok.status).toBe(200)
      expect(outcome.ok.body.redirect).toMatch(new RegExp(`^${iam.issuer}/auth/`))
      // This interaction is done with its second factor: a second submission is not taken again.
      expect(outcome.replayed.status).toBe(409)
      expect(outcome.replayed.body.error).toBe('This step is over. Reload the page to continue.')

      // The same assertion in the other sign-in (the password is known, the key is not at hand):
      // its challenge was used up.
      const replayedElsewhere = await other.evaluate(async (response) => {
        const form = document.querySelector('form[data-webauthn]') as HTMLFormElement
        const csrf = (form.elements.namedItem('csrf') as HTMLInputElement).value
        const res = await fetch(form.getAttribute('action')!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ csrf, response }) })
        return { status: res.status, body: await res.json() as Record<string, string> }
      }, outcome.good)
      expect(replayedElsewhere).toEqual({ status: 400, body: { reason: 'challenge_used', error: 'This answer from your security key or passkey was already used. Try again.' } })
      // Without the page's CSRF token: refused before anything is looked at.
      const noCsrf = await other.evaluate(async () => {
        const res = await fetch(document.querySelector('form[data-webauthn]')!.getAttribute('data-options')!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
        return res.status
      })
      expect(noCsrf).toBe(403)

      // The good assertion finished the first sign-in; the SPA was allowed in the test before.
      await page.goto(outcome.ok.body.redirect!)
      const claims = await allowAndRedeem(page, req, 'remembered')
      expect(claims.sub).toBe(aliceId)
      expect(claims.acr).toBe(ACR_MFA)
      expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'hwk', 'mfa']))
    } finally {
      await context.close()
    }
  })

  it('says that JavaScript is needed, and offers another method, when it is off', async () => {
    const { context, page, problems } = await open({ javaScriptEnabled: false })
    try {
      const req = await authorize({ acr_values: ACR_MFA })
      await toPasskeyStep(page, req.url)
      await page.screenshot({ path: path.join(RESULTS, `e2e-webauthn-no-js-${mode}.png`), fullPage: true })
      // (Playwright's text locators skip <noscript>; innerText is what is rendered.)
      expect(await page.locator('main').innerText()).toContain('This needs JavaScript. Turn JavaScript on and reload this page, or use another method.')
      await page.getByRole('button', { name: 'Use security key or passkey', exact: true }).click()
      await page.getByRole('alert').filter({ hasText: 'Signing in with a security key or passkey needs JavaScript.' }).waitFor()
      await page.getByRole('button', { name: 'Use another method', exact: true }).click()
      await page.getByRole('heading', { name: 'Verify it’s you', level: 1 }).waitFor()
      expect(await page.getByRole('button', { name: /^Use a backup code/ }).count()).toBe(1)
      problems.length = 0 // the 400 of the no-script submission is logged to the console
    } finally {
      await context.close()
    }
  })
})

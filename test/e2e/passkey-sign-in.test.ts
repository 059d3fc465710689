// Passwordless sign-in with a passkey, in headless Chromium with a CDP virtual authenticator
// (CTAP2, built in, resident keys, user verification): a passkey registered in the account area
// signs in alone from the login page, through the "Sign in with a passkey" button and through the
// login field's autofill (conditional mediation); with user verification it is the MFA acr, so a
// request asking for MFA needs no second step; an authenticator's passkey this server does not
// know is refused with a message. After a password sign-in on a device with a passkey built in,
// the offer to create one: accepted, it signs in alone next time; "Not now" is not asked again.
//
// As in webauthn.test.ts: the issuer is http://localhost:PORT (rp id 'localhost'), listening on
// 127.0.0.1, and the SPA's redirect_uri is mapped to a small callback server of ours.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import type { Browser, CDPSession, Page } from 'playwright-core'
import { createIam, type IamInstance } from '../support/iam.ts'
import { createUser } from '../../src/identity/users.ts'
import { ALICE, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { addVirtualAuthenticator, callbackOf, launchChromium, openSession, startCallbackApp, type CallbackApp } from '../support/chromium.ts'
import { authorizationRequest } from '../support/code-flow.ts'

const ACR_MFA = 'urn:iam:acr:mfa'
const PASSKEY_PAGE = '/account/security/passkeys/new'
const BUTTON = 'Sign in with a passkey'
const PIA = { email: 'pia@example.test', password: 'pia has a long passphrase' }
const NORA = { email: 'nora@example.test', password: 'nora has a long passphrase' }

async function credentialsOf(cdp: CDPSession, authenticatorId: string) {
  return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials
}
type VirtualCredential = Awaited<ReturnType<typeof credentialsOf>>[number]

describe('passwordless sign-in with a passkey in Chromium', () => {
  let iam: IamInstance
  let browser: Browser
  let spa: oidc.Configuration
  let aliceId: string
  let piaId: string
  let noraId: string
  let app: CallbackApp
  /** Alice's passkey, as the virtual authenticator holds it (private key included). */
  let credentials: VirtualCredential[] = []

  beforeAll(async () => {
    app = await startCallbackApp()
    iam = await createIam('embedded', { issuerHost: 'localhost' })
    aliceId = await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      piaId = (await createUser(prisma, { ...PIA, emailVerified: true })).id
      noraId = (await createUser(prisma, { ...NORA, emailVerified: true })).id
      return (await prisma.user.findUniqueOrThrow({ where: { email: ALICE.email } })).id
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] })
    browser = await launchChromium({ hostRules: [`MAP localhost:5173 127.0.0.1:${app.port}`, `MAP localhost:${iam.port} 127.0.0.1:${iam.port}`] })
  })

  afterAll(async () => {
    await browser?.close()
    await iam?.close()
    await app?.close()
  })

  /** A platform authenticator (a phone's or laptop's) with resident keys and user verification, answering at once. */
  const addAuthenticator = (page: Page) => addVirtualAuthenticator(page, 'internal', { automaticPresenceSimulation: true })

  const authorize = (extra: Record<string, string> = {}) => authorizationRequest(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid profile email', ...extra })

  async function redeem(page: Page, req: { verifier: string; state: string }) {
    const callback = await callbackOf(page)
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state })
    return tokens.claims()!
  }

  async function withoutAutofill(page: Page) {
    await page.addInitScript(() => {
      PublicKeyCredential.isConditionalMediationAvailable = async () => false
    })
  }

  /** The login page with its script run (the button shows only then). */
  async function loginPage(page: Page, url: string) {
    await page.goto(url)
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
    await page.waitForLoadState('load')
  }

  /**
   * A fresh browser profile whose authenticator holds Alice's passkey. A virtual authenticator
   * answers a conditional request (autofill) at once, so tests of the button turn autofill off as
   * a browser without it would be.
   */
  async function withAlicesPasskey(opts: { autofill?: boolean } = {}) {
    expect(credentials.length, 'the first test registers the passkey').toBeGreaterThan(0)
    const session = await openSession(browser)
    if (!opts.autofill) await withoutAutofill(session.page)
    const { cdp, authenticatorId } = await addAuthenticator(session.page)
    for (const credential of credentials) await cdp.send('WebAuthn.addCredential', { authenticatorId, credential })
    return { ...session, cdp, authenticatorId }
  }

  it('registers a passkey in the account area (a discoverable one), then signs in with it alone through the button', async () => {
    const { context, page } = await openSession(browser)
    try {
      const { cdp, authenticatorId } = await addAuthenticator(page)
      await page.goto(`${iam.issuer}${PASSKEY_PAGE}`)
      await page.getByLabel('Email or username', { exact: true }).fill(ALICE.email)
      await page.getByLabel('Password', { exact: true }).fill(ALICE.password)
      await page.getByRole('button', { name: 'Sign in', exact: true }).click()
      await page.waitForURL(`${iam.issuer}${PASSKEY_PAGE}`)
      await page.waitForLoadState('load')
      await page.getByLabel('Name', { exact: true }).fill('Laptop')
      await page.getByRole('button', { name: 'Add passkey', exact: true }).click()
      await page.getByRole('heading', { name: 'Save your backup codes', level: 1 }).waitFor()
      credentials = await credentialsOf(cdp, authenticatorId)
      expect(credentials.map((c) => [c.rpId, c.isResidentCredential])).toEqual([['localhost', true]])
    } finally {
      await context.close()
    }

    const { context: fresh, page: signIn, cdp: freshCdp, authenticatorId: freshId } = await withAlicesPasskey({ autofill: false })
    try {
      const req = await authorize()
      await loginPage(signIn, req.url)
      expect(await signIn.getByLabel('Email or username', { exact: true }).getAttribute('autocomplete')).toBe('username webauthn')
      await signIn.getByRole('button', { name: BUTTON, exact: true }).click()
      await signIn.getByRole('heading', { name: 'Allow access?', level: 1 }).waitFor()
      await signIn.getByRole('button', { name: 'Allow', exact: true }).click()
      const claims = await redeem(signIn, req)
      expect(claims.sub).toBe(aliceId)
      expect(claims.acr).toBe(ACR_MFA)
      expect(claims.amr).toEqual(['hwk', 'user'])
      // Its signature counter moved: later profiles start from this authenticator's state.
      credentials = await credentialsOf(freshCdp, freshId)
    } finally {
      await fresh.close()
    }
  })

  it('signs in through the login field’s autofill (conditional mediation)', async () => {
    const { context, page, cdp, authenticatorId } = await withAlicesPasskey({ autofill: true })
    try {
      const req = await authorize()
      // The page starts a conditional request; a person picks the passkey the browser offers in
      // the login field, which the virtual authenticator does by itself.
      const [answered] = await Promise.all([
        page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/passkey')),
        page.goto(req.url),
      ])
      expect(new URLSearchParams(answered.postData() ?? '').get('response')).toContain('"type":"public-key"')
      const claims = await redeem(page, req)
      expect(claims.sub).toBe(aliceId)
      expect(claims.amr).toEqual(['hwk', 'user'])
      credentials = await credentialsOf(cdp, authenticatorId)
    } finally {
      await context.close()
    }
  })

  it('satisfies a request for MFA with the passkey alone (no second step)', async () => {
    const { context, page, cdp, authenticatorId } = await withAlicesPasskey()
    try {
      const req = await authorize({ acr_values: ACR_MFA })
      await loginPage(page, req.url)
      await page.getByRole('button', { name: BUTTON, exact: true }).click()
      const claims = await redeem(page, req)
      expect(claims.acr).toBe(ACR_MFA)
      expect(claims.amr).toEqual(['hwk', 'user'])
      credentials = await credentialsOf(cdp, authenticatorId)
    } finally {
      await context.close()
    }
  })

  it('refuses a passkey this server does not know, with a message, and the password still works', async () => {
    const { context, page } = await openSession(browser)
    try {
      await withoutAutofill(page)
      const { cdp, authenticatorId } = await addAuthenticator(page)
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      await cdp.send('WebAuthn.addCredential', {
        authenticatorId,
        credential: {
          credentialId: randomBytes(16).toString('base64'), isResidentCredential: true, rpId: 'localhost',
          privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
          userHandle: Buffer.from(aliceId).toString('base64'), signCount: 1,
        },
      })
      const req = await authorize()
      await loginPage(page, req.url)
      const [refused] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/passkey')),
        page.getByRole('button', { name: BUTTON, exact: true }).click(),
      ])
      expect(refused.status()).toBe(400)
      await page.getByRole('alert').filter({ hasText: 'This passkey is not registered here.' }).waitFor()
      await page.getByLabel('Email or username', { exact: true }).fill(ALICE.email)
      await page.getByLabel('Password', { exact: true }).fill(ALICE.password)
      await page.getByRole('button', { name: 'Sign in', exact: true }).click()
      await page.getByRole('heading', { name: 'Verify it’s you', level: 1 }).waitFor()
    } finally {
      await context.close()
    }
  })

  async function enterPassword(page: Page, who: { email: string; password: string }) {
    await page.getByLabel('Email or username', { exact: true }).fill(who.email)
    await page.getByLabel('Password', { exact: true }).fill(who.password)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  }

  it('offers a passkey after a password sign-in; the one created signs in alone next time', async () => {
    const { context, page } = await openSession(browser)
    let created: VirtualCredential[]
    try {
      const { cdp, authenticatorId } = await addAuthenticator(page)
      const req = await authorize()
      await loginPage(page, req.url)
      await enterPassword(page, PIA)
      await page.getByRole('heading', { name: 'Sign in faster next time with a passkey', level: 1 }).waitFor()
      await page.waitForLoadState('load')
      await page.getByRole('button', { name: 'Create a passkey', exact: true }).click()
      // The first second factor comes with backup codes.
      await page.getByRole('heading', { name: 'Save your backup codes', level: 1 }).waitFor()
      expect(await page.getByRole('list', { name: 'Backup codes' }).getByRole('listitem').count()).toBe(10)
      await page.getByRole('button', { name: 'I have saved them — continue', exact: true }).click()
      await page.getByRole('heading', { name: 'Allow access?', level: 1 }).waitFor()
      await page.getByRole('button', { name: 'Allow', exact: true }).click()
      const claims = await redeem(page, req)
      expect(claims.acr).toBe(ACR_MFA)
      expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'hwk']))
      created = await credentialsOf(cdp, authenticatorId)
      expect(created.map((c) => c.isResidentCredential)).toEqual([true])
    } finally {
      await context.close()
    }

    const next = await openSession(browser)
    try {
      await withoutAutofill(next.page)
      const { cdp, authenticatorId } = await addAuthenticator(next.page)
      for (const credential of created) await cdp.send('WebAuthn.addCredential', { authenticatorId, credential })
      const req = await authorize()
      await loginPage(next.page, req.url)
      await next.page.getByRole('button', { name: BUTTON, exact: true }).click()
      const claims = await redeem(next.page, req)
      expect(claims.sub).toBe(piaId)
      expect(claims.amr).toEqual(['hwk', 'user'])
    } finally {
      await next.context.close()
    }
  })

  it('"Not now" goes on with the sign-in, and the offer is not made again', async () => {
    for (const attempt of ['first', 'again'] as const) {
      const { context, page } = await openSession(browser)
      try {
        await addAuthenticator(page)
        const req = await authorize()
        await loginPage(page, req.url)
        await enterPassword(page, NORA)
        if (attempt === 'first') {
          await page.getByRole('heading', { name: 'Sign in faster next time with a passkey', level: 1 }).waitFor()
          await page.getByRole('button', { name: 'Not now', exact: true }).click()
          await page.getByRole('heading', { name: 'Allow access?', level: 1 }).waitFor()
          await page.getByRole('button', { name: 'Allow', exact: true }).click()
        }
        // Again: straight on (consent is remembered), no offer on the way.
        const claims = await redeem(page, req)
        expect(claims.sub).toBe(noraId)
        expect(claims.amr).toEqual(['pwd'])
      } finally {
        await context.close()
      }
    }
  })

  it('lists, names and removes passkeys in the account area, signed in with the passkey alone', async () => {
    const { context, page } = await withAlicesPasskey()
    try {
      await page.goto(`${iam.issuer}/account/security/passkeys`)
      await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
      await page.waitForLoadState('load')
      await page.getByRole('button', { name: BUTTON, exact: true }).click()
      await page.getByRole('heading', { name: 'Your passkeys', level: 1 }).waitFor()
      expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('Laptop')
      await page.getByLabel('Name', { exact: true }).fill('Work laptop')
      await page.getByRole('button', { name: 'Save name', exact: true }).click()
      await page.getByRole('status').filter({ hasText: 'The passkey’s name was saved.' }).waitFor()
      expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('Work laptop')
      // The passkey was a second factor just now (UV): removing needs nothing more.
      await page.getByRole('button', { name: 'Remove Work laptop', exact: true }).click()
      await page.waitForURL(/\/account\/security\?done=removed$/)
      await page.goto(`${iam.issuer}/account/security/passkeys`)
      await page.getByText('You have no passkeys yet.', { exact: true }).waitFor()
    } finally {
      await context.close()
    }
  })
})

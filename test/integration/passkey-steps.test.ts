// The passwordless passkey routes and the passkey offer, driven without a browser's WebAuthn:
// out of state and out of order they change nothing; the sign-in challenge is bound to its
// interaction and used once; the login page works without JavaScript. (The ceremonies themselves,
// with a virtual authenticator: test/e2e/passkey-sign-in.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, formsOf, type PageResponse } from '../support/browser.ts'
import { alertOf, h1Of } from '../support/page-text.ts'
import { SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { createUser } from '../../src/identity/users.ts'
import { insertVerifiedFactor } from '../../src/queries/mfa-factors.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const QUINN = { email: 'quinn@example.test', password: 'quinn has a long passphrase' }
const EXPIRED = 'This passkey request has expired or was already used. Try again.'
const OFFER = 'Sign in faster next time with a passkey'
const RENA = { email: 'rena@example.test', password: 'rena has a long passphrase' }
let renasPasskey = ''

describe('passkey sign-in and offer: out of state, out of order', () => {
  let iam: IamInstance
  let spa: oidc.Configuration
  const url = (path: string) => `${iam.issuer}${path}`

  beforeAll(async () => {
    iam = await createIam('embedded')
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await createUser(prisma, { ...QUINN, emailVerified: true })
      const rena = await createUser(prisma, { ...RENA, emailVerified: true })
      renasPasskey = (await insertVerifiedFactor(prisma, { userId: rena.id, kind: 'webauthn', label: 'Rena’s phone', credentialId: 'cmVuYS1jcmVkZW50aWFs', publicKey: Buffer.alloc(77), signCount: 0 })).id
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  }, 120_000)
  afterAll(async () => {
    await iam?.close()
  })

  async function loginPage(browser: HttpBrowser) {
    const authUrl = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: SPA_REDIRECT, scope: 'openid', state: oidc.randomState(),
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    })
    const page = await browser.navigate(authUrl.href)
    expect(h1Of(page.body)).toBe('Sign in')
    const uid = /action="\/interaction\/([^/"]+)\/login"/.exec(page.body)![1]!
    const csrf = formsOf(page.body).find((f) => f.fields.csrf)!.fields.csrf!
    return { page, uid, csrf }
  }

  function submit(browser: HttpBrowser, page: PageResponse, suffix: string, fields: Record<string, string> = {}) {
    const form = formWithAction(page.body, suffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }

  it('the login page works without JavaScript: the passkey button is hidden until the script shows it', async () => {
    const { page } = await loginPage(new HttpBrowser(url('')))
    expect(page.body).toContain('<div id="passkey-signin" hidden>')
    expect(page.body).toContain('autocomplete="username webauthn"')
  })

  it('answers an assertion only for the challenge issued to this interaction, once', async () => {
    const browser = new HttpBrowser(url(''))
    const { uid, csrf } = await loginPage(browser)
    // No challenge issued yet.
    const early = await browser.request(url(`/interaction/${uid}/passkey`), { form: { csrf, response: '{}' } })
    expect(early.status).toBe(400)
    expect(alertOf(early.body)).toBe(EXPIRED)

    const options = await browser.request(url(`/interaction/${uid}/passkey/options`), { form: { csrf } })
    expect(options.status).toBe(200)
    const json = JSON.parse(options.body) as { challenge: string; allowCredentials?: unknown[]; rpId: string; userVerification: string }
    expect(json.challenge).toMatch(/^[A-Za-z0-9_-]{32,}$/)
    expect(json.allowCredentials ?? []).toEqual([])
    expect(json.userVerification).toBe('preferred')

    // Another interaction (another browser) cannot answer this one's challenge: its own has none.
    const other = new HttpBrowser(url(''))
    const elsewhere = await loginPage(other)
    const stranger = await other.request(url(`/interaction/${elsewhere.uid}/passkey`), { form: { csrf: elsewhere.csrf, response: '{}' } })
    expect(alertOf(stranger.body)).toBe(EXPIRED)

    // A bad answer uses the challenge up: the next answer finds none.
    const bad = await browser.request(url(`/interaction/${uid}/passkey`), { form: { csrf, response: '{"id":"x"}' } })
    expect(bad.status).toBe(400)
    expect(alertOf(bad.body)).toBe('Your passkey could not be verified. Try again, or sign in with your password.')
    expect(bad.body).toContain('data-autofill="off"')
    const again = await browser.request(url(`/interaction/${uid}/passkey`), { form: { csrf, response: '{"id":"x"}' } })
    expect(alertOf(again.body)).toBe(EXPIRED)
  })

  it('offers a passkey only when the login page says the device can make one; the offer’s routes run only at the offer', async () => {
    const browser = new HttpBrowser(url(''))
    const { page, uid, csrf } = await loginPage(browser)
    // Before any offer: its routes go back to the interaction and change nothing.
    for (const route of ['decline', 'continue', 'create']) {
      const early = await browser.request(url(`/interaction/${uid}/passkey-offer/${route}`), { form: { csrf } })
      expect(early.status, route).toBe(302)
      expect(early.headers.get('location')).toBe(`/interaction/${uid}`)
    }
    const earlyOptions = await browser.request(url(`/interaction/${uid}/passkey-offer/options`), { form: { csrf } })
    expect(earlyOptions.status).toBe(409)

    const offer = await submit(browser, page, '/login', { login: QUINN.email, password: QUINN.password, passkey_capable: '1' })
    expect(h1Of(offer.body)).toBe(OFFER)
    // At the offer, the passwordless routes do not apply.
    const passkeyOptions = await browser.request(url(`/interaction/${uid}/passkey/options`), { form: { csrf } })
    expect(passkeyOptions.status).toBe(409)
    // Continue before a passkey was made: back to the offer.
    const early = await browser.navigate(url(`/interaction/${uid}/passkey-offer/continue`), { form: { csrf } })
    expect(h1Of(early.body)).toBe(OFFER)
    // Without the script there is no answer to check: the page says so; "Not now" still works.
    const noScript = await submit(browser, offer, '/passkey-offer/create')
    expect(noScript.status).toBe(400)
    expect(alertOf(noScript.body)).toBe('Creating a passkey needs JavaScript. Turn JavaScript on and try again, or choose Not now.')
    const declined = await submit(browser, noScript, '/passkey-offer/decline')
    expect(h1Of(declined.body)).toBe('Allow access?')

    // Not asked again: the next password sign-in goes on.
    const next = new HttpBrowser(url(''))
    const second = await loginPage(next)
    const onward = await submit(next, second.page, '/login', { login: QUINN.email, password: QUINN.password, passkey_capable: '1' })
    expect(h1Of(onward.body)).toBe('Allow access?')
  })

  it('another person’s passkey cannot be renamed by id', async () => {
    const browser = new HttpBrowser(url(''))
    let page = await browser.navigate(url('/account/security/passkeys'))
    page = await submit(browser, page, '/login', { login: QUINN.email, password: QUINN.password })
    expect(h1Of(page.body)).toBe('Your passkeys')
    expect(page.body).toContain('You have no passkeys yet.')
    const account = await browser.navigate(url('/account'))
    const csrf = formsOf(account.body).find((f) => f.fields.csrf)!.fields.csrf!
    const renamed = await browser.request(url(`/account/security/passkeys/${renasPasskey}/rename`), { form: { csrf, label: 'Mine now' } })
    expect(renamed.status).toBe(404)
    expect(alertOf(renamed.body)).toBe('That passkey is no longer there.')
    const label = await iam.databaseNow(async (prisma) => (await prisma.mfaFactor.findUniqueOrThrow({ where: { id: renasPasskey } })).label)
    expect(label).toBe('Rena’s phone')
  })
})

// The passwordless passkey routes and the passkey offer, driven without a browser's WebAuthn:
// out of state and out of order they change nothing; the sign-in challenge is bound to its
// interaction and used once; the login page works without JavaScript. (The ceremonies themselves,
// with a virtual authenticator: test/e2e/passkey-sign-in.test.ts.)
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, formsOf, type PageResponse } from '../support/browser.ts'
import { alertOf, h1Of } from '../support/page-text.ts'
import { SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { createUser } from '../../src/identity/users.ts'
import { insertVerifiedFactor } from '../../src/queries/mfa-factors.ts'
import { addTotpFactor } from '../support/mfa-fixtures.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const QUINN = { email: 'quinn@example.test', password: 'quinn has a long passphrase' }
const EXPIRED = 'This passkey request has expired or was already used. Try again.'
const OFFER = 'Sign in faster next time with a passkey'
const RENA = { email: 'rena@example.test', password: 'rena has a long passphrase' }
let renasPasskey = ''
const PAT = { email: 'pat@example.test', password: 'pat has a long passphrase' }
const ACR_MFA = 'urn:iam:acr:mfa'

/**
 * A passkey held in this test, answering like an authenticator that does not verify the person
 * (UP set, UV not): Chromium's virtual authenticator will not release a discoverable credential
 * without UV, so the assertion is made here, byte for byte as WebAuthn §6.1 and §7.2 say.
 */
function softwarePasskey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = publicKey.export({ format: 'jwk' })
  const coordinate = (c: string | undefined) => Buffer.from(c!, 'base64url')
  // COSE_Key (RFC 9053): {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y} in CBOR.
  const cose = Buffer.concat([Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]), coordinate(jwk.x), Buffer.from([0x22, 0x58, 0x20]), coordinate(jwk.y)])
  const credentialId = randomBytes(16).toString('base64url')
  let counter = 0
  return {
    credentialId, cose,
    assert(challenge: string, origin: string, rpId: string, userId: string) {
      const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin, crossOrigin: false }))
      const count = Buffer.alloc(4)
      count.writeUInt32BE(++counter)
      const authenticatorData = Buffer.concat([createHash('sha256').update(rpId).digest(), Buffer.from([0x01 /* UP, not UV */]), count])
      const signature = sign('sha256', Buffer.concat([authenticatorData, createHash('sha256').update(clientDataJSON).digest()]), privateKey)
      return {
        id: credentialId, rawId: credentialId, type: 'public-key', clientExtensionResults: {}, authenticatorAttachment: 'platform',
        response: { clientDataJSON: clientDataJSON.toString('base64url'), authenticatorData: authenticatorData.toString('base64url'), signature: signature.toString('base64url'), userHandle: Buffer.from(userId).toString('base64url') },
      }
    },
  }
}
const patsKey = softwarePasskey()
let patId = ''
let patsKeyFactor = ''

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
      const pat = await createUser(prisma, { ...PAT, emailVerified: true })
      patId = pat.id
      patsKeyFactor = (await insertVerifiedFactor(prisma, { userId: pat.id, kind: 'webauthn', label: 'Pat’s key', credentialId: patsKey.credentialId, publicKey: patsKey.cose, signCount: 0 })).id
      await addTotpFactor(prisma, pat.id)
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  }, 120_000)
  afterAll(async () => {
    await iam?.close()
  })

  async function loginPage(browser: HttpBrowser, extra: Record<string, string> = {}) {
    const authUrl = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: SPA_REDIRECT, scope: 'openid', state: oidc.randomState(),
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256', ...extra,
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

  it('a passkey that did not verify the person is one factor: MFA then asks for another factor, never a passkey', async () => {
    const browser = new HttpBrowser(url(''))
    const { uid, csrf } = await loginPage(browser, { acr_values: ACR_MFA })
    const options = JSON.parse((await browser.request(url(`/interaction/${uid}/passkey/options`), { form: { csrf } })).body) as { challenge: string; rpId: string }
    const assertion = patsKey.assert(options.challenge, new URL(iam.issuer).origin, options.rpId, patId)
    const second = await browser.navigate(url(`/interaction/${uid}/passkey`), { form: { csrf, response: JSON.stringify(assertion) } })
    // Signed in with the key (no password asked), and on to the second step: the app, not the key.
    expect(h1Of(second.body)).not.toBe('Sign in')
    expect(h1Of(second.body)).toBe('Verify it’s you')
    const choices = [...second.body.matchAll(/name="method" value="[^"]*">([^<]*)</g)].map((m) => m[1])
    expect(choices).toEqual(['Code from Authenticator app'])
    // Naming the key's factor anyway is not taken: the choice shows again, without it.
    const forced = await submit(browser, second, '/mfa/select', { method: patsKeyFactor })
    expect(h1Of(forced.body)).toBe('Verify it’s you')
    expect([...forced.body.matchAll(/name="method" value="[^"]*">([^<]*)</g)].map((m) => m[1])).toEqual(['Code from Authenticator app'])
  })
})

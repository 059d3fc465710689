// Every POST of the interaction and account areas checks on the server that it applies now: what
// the person has, what the policy demands, which step is current. Here each is driven out of order
// or out of state with a real interaction and a valid CSRF token (read from the page, as an
// attacker in the person's browser would), in both storage modes, and must refuse with a page a
// person understands while storing nothing: no new factor, the same backup codes, no MFA token.
// The first cases are the attack of a person who knows only the password: enrol a new
// authenticator at the second-factor step although the account has one, and finish with the MFA
// acr — at a plain sign-in and at a step-up inside a session.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { generate } from 'otplib'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, formsOf, type PageResponse } from '../support/browser.ts'
import { alertOf, h1Of } from '../support/page-text.ts'
import { pageRoutes } from '../support/page-routes.ts'
import { SPA_REDIRECT, WEB_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import { addBackupCodes, addCodeFactor, addTotpFactor } from '../support/mfa-fixtures.ts'
import { startFakeEntra, type FakeEntra, type UpstreamUser } from '../support/fake-entra.ts'
import { createUser } from '../../src/identity/users.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'
import { addVerifiedFactor } from '../../src/mfa/factors.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const ACR_MFA = 'urn:iam:acr:mfa'
const PASSWORD = 'a long enough passphrase for these tests'
const PERIOD = 30

// What the second-factor step says when a POST does not apply to where the person is.
const ENROL_REFUSED = 'You already have a second step: confirm it’s you with it below. If you can no longer use any of them, ask your administrator to reset your second step.'
const NOT_NOW = 'That step does not apply now. Continue with the step below.'
const NOTHING_USABLE = 'None of your second steps can be used on this server right now, and you have no backup codes left. Ask your administrator to reset your second step.'

interface Person { email: string; password: string; id?: string; secret?: string; backupHashes?: string[]; factorIds?: string[] }
const person = (name: string): Person => ({ email: `${name}@example.test`, password: PASSWORD })

// One person per scenario: what a scenario does to factors must not change another's.
const VICTIM = person('victor') //      TOTP factor + backup codes: the plain sign-in attack
const STEPPER = person('stella') //     no factor at first; gets one (and backup codes) while signed in: the step-up attack
const SMS_ONLY = person('simon') //     an SMS factor on a server without SMS: has a factor, none usable
const OTHER = person('olga') //         TOTP factor: someone else's factor id
const REMOVED = person('ronan') //      TOTP factor removed in the middle of the step
const PLAIN = person('paula') //        TOTP factor, no backup codes: out-of-order steps
const RACER = person('rachel') //       no factor: two first-factor enrolments at once in the account area
const REPLAYER = person('reggie') //    TOTP factor: replays a used enrolment form
const PEOPLE = [VICTIM, STEPPER, SMS_ONLY, OTHER, REMOVED, PLAIN, RACER, REPLAYER]

const code = (secret: string, offset = 0) => generate({ secret, epoch: (Math.floor(Date.now() / 1000 / PERIOD) + offset) * PERIOD })
const csrfOf = (html: string) => {
  const token = formsOf(html).find((f) => f.fields.csrf)?.fields.csrf
  if (!token) throw new Error(`no CSRF token on page:\n${html.slice(0, 1500)}`)
  return token
}
/** The factor ids listed (with a Remove button) on the account's security page. */
const factorIdsOn = (html: string) => [...html.matchAll(/action="\/account\/security\/factors\/([^/"]+)\/remove"/g)].map((m) => m[1]!)
const uidOf = (html: string) => {
  const uid = /action="\/interaction\/([^/"]+)\//.exec(html)?.[1]
  if (!uid) throw new Error(`no interaction on page:\n${html.slice(0, 1500)}`)
  return uid
}

/** What a person has in the database: verified factors and unused backup codes. */
async function holdings(prisma: PrismaClient, who: Person) {
  const [factors, codes] = await Promise.all([
    prisma.mfaFactor.findMany({ where: { userId: who.id!, verified: true }, orderBy: { createdAt: 'asc' }, select: { id: true } }),
    prisma.backupCode.findMany({ where: { userId: who.id!, usedAt: null }, orderBy: { hash: 'asc' }, select: { hash: true } }),
  ])
  return { factorIds: factors.map((f) => f.id), backupHashes: codes.map((c) => c.hash) }
}

// Embedded, each look into the database restarts the server (PGlite is single-process): generous time.
describe.each(STORAGE_MODES)('step preconditions (%s)', { timeout: 240_000 }, (mode) => {
  let iam: IamInstance
  let fake: FakeEntra
  let spa: oidc.Configuration
  let web: oidc.Configuration
  const url = (path: string) => `${iam.issuer}${path}`

  beforeAll(async () => {
    // Microsoft Entra ID (played by a fake), for the sign-in that comes back from an upstream.
    fake = await startFakeEntra()
    iam = await createIam(mode, { env: fake.federationEnv() })
    fake.allowRp(iam.issuer)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      for (const p of PEOPLE) p.id = (await createUser(prisma, { email: p.email, password: p.password, emailVerified: true })).id
      for (const p of [VICTIM, OTHER, REMOVED, PLAIN, REPLAYER]) p.secret = await addTotpFactor(prisma, p.id!)
      await addBackupCodes(prisma, VICTIM.id!)
      await addCodeFactor(prisma, SMS_ONLY.id!, 'sms', '+447700900123')
      for (const p of PEOPLE) Object.assign(p, await holdings(prisma, p))
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
    web = await oidc.discovery(new URL(iam.issuer), 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
  }, 120_000)
  afterAll(async () => {
    await iam?.close()
    await fake?.close()
  })

  /** Direct database access now (embedded: the server stops meanwhile; sessions and interactions survive). */
  const db = <T>(fn: (prisma: PrismaClient) => Promise<T>) => iam.databaseNow(fn, { settleMs: 200 })

  // Checks of what stays true (nothing was stored): now on PostgreSQL; embedded, where each look
  // restarts the server, collected and run once at the end.
  const laterChecks: Array<{ label: string; check: (prisma: PrismaClient) => Promise<void> }> = []
  async function dbLater(label: string, check: (prisma: PrismaClient) => Promise<void>) {
    if (mode === 'postgres-redis') return db(check)
    laterChecks.push({ label, check })
  }

  /** Expects the people to hold exactly what they held at the start: same factors, same backup codes. */
  function expectUnchanged(...people: Person[]) {
    return dbLater(`unchanged: ${people.map((p) => p.email).join(', ')}`, async (prisma) => {
      for (const p of people) expect(await holdings(prisma, p), p.email).toEqual({ factorIds: p.factorIds, backupHashes: p.backupHashes })
    })
  }

  async function authorization(config: oidc.Configuration, params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const redirect = config === spa ? SPA_REDIRECT : WEB_REDIRECT
    const authUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirect, scope: 'openid', state, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    })
    return { url: authUrl.href, redeem: (callback: URL) => oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }) }
  }

  function submit(browser: HttpBrowser, page: PageResponse, suffix: string, fields: Record<string, string> = {}) {
    const form = formWithAction(page.body, suffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }

  /** A POST to the interaction's `path` with the page's CSRF token, not following redirects. */
  function postTo(browser: HttpBrowser, page: PageResponse, path: string, fields: Record<string, string> = {}) {
    return browser.request(url(`/interaction/${uidOf(page.body)}${path}`), { form: { csrf: csrfOf(page.body), ...fields } })
  }

  /** Authorizes at `config` and types the password: the page after it. */
  async function afterPassword(who: Person, config = spa, params: Record<string, string> = {}) {
    const browser = new HttpBrowser(iam.issuer)
    const req = await authorization(config, params)
    const login = await browser.navigate(req.url)
    const page = await submit(browser, login, '/login', { login: who.email, password: who.password })
    return { browser, req, page }
  }

  /**
   * After a refused (or accepted) enrolment POST, goes on as the attacker would: whatever page the
   * interaction shows, enrol an authenticator app of our own if it lets us, take the backup codes,
   * allow consent; then redeem whatever code reaches the client. Returns the token's acr, if any.
   */
  async function pressOn(browser: HttpBrowser, uid: string, redeem: (callback: URL) => Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers>): Promise<string | undefined> {
    let res = await browser.navigate(url(`/interaction/${uid}`))
    for (let step = 0; step < 6; step++) {
      if (new URL(res.url).origin !== iam.issuer) {
        const callback = new URL(res.url)
        if (!callback.searchParams.get('code')) return undefined
        return (await redeem(callback)).claims()?.acr as string | undefined
      }
      const actions = formsOf(res.body).map((f) => f.action)
      const secret = /id="totp-secret">([^<]+)</.exec(res.body)?.[1]?.replace(/\s+/g, '')
      if (secret && actions.some((a) => a.endsWith('/mfa/enrol/verify'))) res = await submit(browser, res, '/mfa/enrol/verify', { code: await code(secret) })
      else if (actions.some((a) => a.endsWith('/mfa/continue'))) res = await submit(browser, res, '/mfa/continue')
      else if (actions.some((a) => a.endsWith('/consent'))) res = await submit(browser, res, '/consent')
      else if (actions.some((a) => a.endsWith('/mfa/enrol'))) res = await submit(browser, res, '/mfa/enrol', { kind: 'totp' })
      else return undefined // a step the attacker cannot pass (the real second factor)
    }
    return undefined
  }

  describe('the second factor cannot be replaced by enrolling a new one', () => {
    it('plain sign-in: password only, then POST mfa/enrol and mfa/enrol/verify: refused, no MFA token, backup codes kept', async () => {
      const { browser, req, page } = await afterPassword(VICTIM)
      expect(h1Of(page.body)).toBe('Verify it’s you')
      const uid = uidOf(page.body)
      const enrol = await postTo(browser, page, '/mfa/enrol', { kind: 'totp' })
      const acr = await pressOn(browser, uid, req.redeem)
      expect(acr, 'a token with the MFA acr was issued on the password alone').toBeUndefined()
      expect(enrol.status).toBe(409)
      expect(h1Of(enrol.body)).toBe('Verify it’s you')
      expect(alertOf(enrol.body)).toBe(ENROL_REFUSED)
      // Straight to the confirmation with a code of our own: nothing is being enrolled.
      const confirm = await postTo(browser, page, '/mfa/enrol/verify', { code: '123456' })
      expect(confirm.status).toBe(409)
      expect(alertOf(confirm.body)).toBe(NOT_NOW)
      await expectUnchanged(VICTIM)
    })

    it('step-up inside a session: the provider’s mfa prompt refuses the enrolment the same way', async () => {
      const browser = new HttpBrowser(iam.issuer)
      // Signed in with the password while the account had no factor…
      const first = await authorization(spa)
      const signedIn = await pressOn(browser, uidOf((await submit(browser, await browser.navigate(first.url), '/login', { login: STEPPER.email, password: STEPPER.password })).body), first.redeem)
      expect(signedIn).toBe('urn:iam:acr:pwd')
      // … then the owner added an authenticator app (and got backup codes).
      await db(async (prisma) => {
        STEPPER.secret = await addTotpFactor(prisma, STEPPER.id!)
        await addBackupCodes(prisma, STEPPER.id!)
        Object.assign(STEPPER, await holdings(prisma, STEPPER))
      })
      // A client asks for MFA: the session's browser is at the step-up, without the password.
      const req = await authorization(web, { acr_values: ACR_MFA })
      const page = await browser.navigate(req.url)
      expect(h1Of(page.body)).toBe('Verify it’s you')
      expect(page.body).not.toContain('name="password"')
      const uid = uidOf(page.body)
      const enrol = await postTo(browser, page, '/mfa/enrol', { kind: 'totp' })
      const acr = await pressOn(browser, uid, req.redeem)
      expect(acr, 'a token with the MFA acr was issued at a step-up without the second factor').toBeUndefined()
      expect(enrol.status).toBe(409)
      expect(alertOf(enrol.body)).toBe(ENROL_REFUSED)
      await expectUnchanged(STEPPER)
    })

    it('after federation: an upstream sign-in to an account with a factor cannot enrol one either', async () => {
      const upstreamPerson: UpstreamUser = { oid: crypto.randomUUID(), email: 'fiona@contoso.com', name: 'Fiona Upstream' }
      const throughUpstream = async () => {
        fake.nextUser(upstreamPerson)
        const browser = new HttpBrowser(iam.issuer)
        const req = await authorization(spa)
        const leaving = await submit(browser, await browser.navigate(req.url), '/federation/entra')
        const back = await fake.followUpstream(leaving.url)
        return { browser, req, page: await browser.navigate(back.url.href, back.form ? { form: back.form } : {}) }
      }
      // The first sign-in makes the account (no factor: the upstream is all it has) …
      const first = await throughUpstream()
      expect(await pressOn(first.browser, uidOf(first.page.body), first.req.redeem)).toBe('urn:iam:acr:pwd')
      // … then the owner added an authenticator app, and backup codes.
      const fiona: Person = { email: upstreamPerson.email!, password: '' }
      await db(async (prisma) => {
        fiona.id = (await prisma.user.findUniqueOrThrow({ where: { email: fiona.email } })).id
        await addTotpFactor(prisma, fiona.id)
        await addBackupCodes(prisma, fiona.id)
        Object.assign(fiona, await holdings(prisma, fiona))
      })
      const { browser, req, page } = await throughUpstream()
      expect(h1Of(page.body)).toBe('Verify it’s you')
      const uid = uidOf(page.body)
      const enrol = await postTo(browser, page, '/mfa/enrol', { kind: 'totp' })
      const acr = await pressOn(browser, uid, req.redeem)
      expect(acr, 'a token with the MFA acr was issued after the upstream without the second factor').toBeUndefined()
      expect(enrol.status).toBe(409)
      expect(alertOf(enrol.body)).toBe(ENROL_REFUSED)
      await expectUnchanged(fiona)
    })

    it('a factor whose channel this server cannot use still counts: no enrolment; the page says to ask an administrator', async () => {
      const { browser, req, page } = await afterPassword(SMS_ONLY)
      expect(h1Of(page.body)).toBe('Verify it’s you')
      expect(alertOf(page.body)).toBe(NOTHING_USABLE)
      expect(formsOf(page.body).some((f) => f.action.endsWith('/mfa/enrol'))).toBe(false)
      const uid = uidOf(page.body)
      const enrol = await postTo(browser, page, '/mfa/enrol', { kind: 'totp' })
      expect(await pressOn(browser, uid, req.redeem)).toBeUndefined()
      expect(enrol.status).toBe(409)
      expect(alertOf(enrol.body)).toBe(ENROL_REFUSED)
      await expectUnchanged(SMS_ONLY)
    })
  })

  describe('second-factor steps out of order', () => {
    it('mfa/continue without an enrolment, mfa/verify before choosing, and mfa/resend with nothing to resend are refused', async () => {
      const { browser, req, page } = await afterPassword(PLAIN)
      const uid = uidOf(page.body)
      for (const [path, fields] of [['/mfa/continue', {}], ['/mfa/verify', { code: await code(PLAIN.secret!) }], ['/mfa/resend', {}], ['/mfa/enrol/verify', { code: '123456' }]] as const) {
        const res = await postTo(browser, page, path, fields)
        expect(res.status, path).toBe(409)
        expect(h1Of(res.body), path).toBe('Verify it’s you')
        expect(alertOf(res.body), path).toBe(NOT_NOW)
      }
      expect(await pressOn(browser, uid, req.redeem)).toBeUndefined()
    })

    it('mfa/select of a method the person does not have: another person’s factor, backup codes they do not have, a made-up id', async () => {
      const { browser, page } = await afterPassword(PLAIN)
      const otherFactor = OTHER.factorIds![0]!
      for (const method of [otherFactor, 'backup', 'nonexistent']) {
        const res = await postTo(browser, page, '/mfa/select', { method })
        expect(res.status, method).toBe(400)
        expect(alertOf(res.body), method).toBe('Choose one of the methods below.')
      }
      // And the other person's code for their own factor proves nothing here.
      const verify = await postTo(browser, page, '/mfa/verify', { code: await code(OTHER.secret!) })
      expect(verify.status).toBe(409)
    })

    it('mfa/verify after the chosen factor was removed: even its right code is refused', async () => {
      const { browser, page } = await afterPassword(REMOVED)
      const method = /name="method" value="([^"]+)"[^>]*>Code from/.exec(page.body)![1]!
      const codePage = await submit(browser, page, '/mfa/select', { method })
      expect(codePage.body).toContain('/mfa/verify')
      await db((prisma) => prisma.mfaFactor.deleteMany({ where: { userId: REMOVED.id! } }))
      const res = await postTo(browser, codePage, '/mfa/verify', { code: await code(REMOVED.secret!) })
      expect(res.status).toBe(409)
      expect(alertOf(res.body)).toBe(NOT_NOW)
      expect(res.headers.get('location')).toBeNull()
      // With nothing left, the password is all the account has: the step offers to set one up.
      expect(h1Of(res.body)).toBe('Set up a second step')
    })

    it('passkey endpoints without a chosen passkey and a started challenge answer that the step is over', async () => {
      const { browser, page } = await afterPassword(PLAIN)
      for (const path of ['/mfa/webauthn/options', '/mfa/webauthn/verify']) {
        // The script's JSON carries the page's CSRF token in its body.
        const res = await fetch(url(`/interaction/${uidOf(page.body)}${path}`), {
          method: 'POST', headers: { 'content-type': 'application/json', cookie: browser.cookieHeader() },
          body: JSON.stringify({ csrf: csrfOf(page.body), response: { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: {} } }),
        })
        expect(res.status, path).toBe(409)
        expect(await res.json(), path).toMatchObject({ error: 'This step is over. Reload the page to continue.' })
      }
    })
  })

  describe('other interaction steps out of state', () => {
    it('consent, password change, federation link, registration and e-mail resend outside their step change nothing', async () => {
      // At the login page: no one is signed in, there is nothing to consent to, link or change.
      const browser = new HttpBrowser(iam.issuer)
      const req = await authorization(spa)
      const login = await browser.navigate(req.url)
      for (const path of ['/consent', '/password', '/password/continue', '/verify-email/resend', '/federation/entra/link', '/mfa/select', '/mfa/enrol']) {
        const res = await postTo(browser, login, path, { password: 'Another-long-passphrase-1', confirm: 'Another-long-passphrase-1', method: 'backup', kind: 'totp' })
        expect([302, 303], path).toContain(res.status)
        const next = await browser.navigate(url(`/interaction/${uidOf(login.body)}`))
        expect(next.body, path).toContain('name="password"')
      }
      // At the second-factor step: the password form and registration are over.
      const { browser: b2, page } = await afterPassword(PLAIN)
      for (const path of ['/consent', '/password', '/password/continue', '/federation/entra/link', '/verify-email/resend', '/mfa/continue']) {
        const res = await postTo(b2, page, path, { password: 'Another-long-passphrase-1', confirm: 'Another-long-passphrase-1' })
        expect([302, 303, 409], path).toContain(res.status)
        expect(res.headers.get('location') ?? '', path).not.toMatch(/^http:\/\/localhost/)
      }
      expect(h1Of((await b2.navigate(url(`/interaction/${uidOf(page.body)}`))).body)).toBe('Verify it’s you')
      // Nothing any refused step above was tried with was stored for these people.
      await expectUnchanged(PLAIN, OTHER)
    })
  })

  describe('account area', () => {
    /** Signs in to /account with the password (and the TOTP when the person has one). */
    async function accountSignIn(who: Person): Promise<HttpBrowser> {
      const browser = new HttpBrowser(iam.issuer)
      let page = await browser.navigate(url('/account'))
      page = await submit(browser, page, '/login', { login: who.email, password: who.password })
      if (page.body.includes('/mfa/select')) {
        const method = /name="method" value="([^"]+)"[^>]*>Code from/.exec(page.body)![1]!
        page = await submit(browser, page, '/mfa/select', { method })
        page = await submit(browser, page, '/mfa/verify', { code: await code(who.secret!, 1) })
      }
      expect(page.body).toContain('Your account')
      return browser
    }

    const enrolmentForm = async (browser: HttpBrowser) => {
      const setup = await browser.navigate(url('/account/security/totp'))
      expect(setup.status).toBe(200)
      const form = formWithAction(setup.body, '/account/security/totp')
      const secret = /id="totp-secret">([^<]+)</.exec(setup.body)![1]!.replace(/\s/g, '')
      return { fields: form.fields, secret }
    }

    it('first-factor enrolments at once add one factor; the others then need a fresh second factor', async () => {
      const browser = await accountSignIn(RACER)
      // A passkey's registration without a started ceremony (no /options): nothing to answer.
      const before = await browser.navigate(url('/account'))
      const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: 'A'.repeat(43), origin: iam.issuer })).toString('base64url')
      const unstarted = await browser.request(url('/account/security/passkeys/verify'), {
        form: { csrf: csrfOf(before.body), response: JSON.stringify({ id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON, attestationObject: 'AAAA' } }) },
      })
      expect(unstarted.status).toBe(400)
      expect(alertOf(unstarted.body)).toBe('This request is no longer valid: it was replaced by a newer one or has expired. Try again.')
      // Several setup pages opened while the account had no factor, their codes typed, sent at once.
      const forms = []
      for (let i = 0; i < 5; i++) forms.push(await enrolmentForm(browser))
      const posts = await Promise.all(forms.map(async (f) => ({ ...f.fields, code: await code(f.secret) })))
      const answers = await Promise.all(posts.map((form) => browser.request(url('/account/security/totp'), { form })))
      const added = answers.filter((r) => r.status === 200 && h1Of(r.body) === 'Save your backup codes')
      expect(added).toHaveLength(1)
      RACER.secret = forms[answers.indexOf(added[0]!)]!.secret
      for (const refused of answers.filter((r) => r !== added[0])) {
        expect(refused.status).toBe(303)
        expect(refused.headers.get('location')).toMatch(/^\/account\/login\?stepup=1/)
      }

      // Now that there is a factor, the password-only session changes nothing without step-up.
      const security = await browser.navigate(url('/account/security'))
      const csrf = csrfOf(security.body)
      const listed = factorIdsOn(security.body)
      expect(listed).toHaveLength(1)
      const factorId = listed[0]!
      for (const path of [`/account/security/factors/${factorId}/remove`, '/account/security/backup-codes']) {
        const res = await browser.request(url(path), { form: { csrf } })
        expect(res.status, path).toBe(303)
        expect(res.headers.get('location'), path).toMatch(/^\/account\/login\?stepup=1/)
      }
      // A passkey's registration is judged only after the same check, whatever the response.
      const passkey = await browser.request(url('/account/security/passkeys/verify'), { form: { csrf, response: '{}' } })
      expect(passkey.status).toBe(303)
      expect(passkey.headers.get('location')).toMatch(/^\/account\/login\?stepup=1/)
      await dbLater('one factor for the racer', async (prisma) => expect((await holdings(prisma, RACER)).factorIds).toEqual([factorId]))
    })

    // The same race where it can happen for real: many connections to one PostgreSQL at once.
    it.runIf(mode === 'postgres-redis')('a factor stored as the first one is stored once, however many try at the same moment', async () => {
      await db(async (prisma) => {
        const user = await createUser(prisma, { email: 'ursula@example.test', password: PASSWORD, emailVerified: true })
        const tries = await Promise.all(Array.from({ length: 12 }, (_, i) =>
          addVerifiedFactor(prisma, { userId: user.id, kind: 'email', label: 'Email', destination: `u${i}@example.test` }, { asFirst: true })))
        expect(tries.filter(Boolean)).toHaveLength(1)
        expect(await prisma.mfaFactor.count({ where: { userId: user.id } })).toBe(1)
        // Allowed by a fresh second factor instead: stored without that condition.
        expect(await addVerifiedFactor(prisma, { userId: user.id, kind: 'email', label: 'Email', destination: 'again@example.test' }, { asFirst: false })).toBeTruthy()
        expect(await addVerifiedFactor(prisma, { userId: user.id, kind: 'email', label: 'Email', destination: 'third@example.test' }, { asFirst: true })).toBeNull()
      })
    })

    it('an enrolment form works once: replayed after use (and after the factor was removed) it is refused; another person cannot use it', async () => {
      const browser = await accountSignIn(REPLAYER)
      const form = await enrolmentForm(browser)
      const first = await browser.request(url('/account/security/totp'), { form: { ...form.fields, code: await code(form.secret) } })
      expect(first.status).toBe(200)
      const security = await browser.navigate(url('/account/security'))
      const added = factorIdsOn(security.body).filter((id) => !REPLAYER.factorIds!.includes(id))
      expect(added).toHaveLength(1)
      const removed = await browser.request(url(`/account/security/factors/${added[0]}/remove`), { form: { csrf: csrfOf(security.body) } })
      expect(removed.headers.get('location')).toBe('/account/security?done=removed')
      const replay = await browser.request(url('/account/security/totp'), { form: { ...form.fields, csrf: csrfOf(security.body), code: await code(form.secret, 1) } })
      expect(replay.status).toBe(400)
      expect(h1Of(replay.body)).toBe('Setup expired')
      // Someone else signed in (RACER, from the test above) posting this person's form: not theirs.
      const other = await accountSignIn(RACER)
      const page = await other.navigate(url('/account/security'))
      const res = await other.request(url('/account/security/totp'), { form: { ...form.fields, csrf: csrfOf(page.body), code: await code(form.secret) } })
      expect(res.status).toBe(400)
      expect(h1Of(res.body)).toBe('Setup expired')
      await dbLater('the replayed form added nothing', async (prisma) => expect((await holdings(prisma, REPLAYER)).factorIds).toEqual(REPLAYER.factorIds))
    })

    it('another person’s session or linked sign-in cannot be ended or removed by id', async () => {
      const owner = await accountSignIn(PLAIN)
      const ownerSessions = await owner.navigate(url('/account/sessions'))
      const ownerSession = /action="\/account\/sessions\/([^/"]+)\/end"/.exec(ownerSessions.body)?.[1]
      expect(ownerSession, ownerSessions.body.slice(0, 1500)).toBeTruthy()
      const stranger = await accountSignIn(OTHER)
      const csrf = csrfOf((await stranger.navigate(url('/account'))).body)
      const ended = await stranger.request(url(`/account/sessions/${ownerSession}/end`), { form: { csrf } })
      expect(ended.status).toBe(404)
      expect(h1Of(ended.body)).toBe('Session not found')
      const unlinked = await stranger.request(url('/account/linked/not-a-link-of-yours/remove'), { form: { csrf } })
      expect(unlinked.status).toBe(404)
      // The owner is still signed in there.
      expect((await owner.navigate(url('/account'))).body).toContain('Your account')
    })
  })

  it.runIf(mode === 'embedded')('stored nothing for anyone a refused step was tried with (the checks collected above)', async () => {
    await db(async (prisma) => {
      for (const { label, check } of laterChecks) {
        try {
          await check(prisma)
        } catch (err) {
          throw new Error(`${label}: ${(err as Error).message}`)
        }
      }
    })
  })

  it('every POST route of the interaction and account areas has its out-of-state case here or in the named suite', () => {
    const covered: Record<string, string> = {
      'POST /interaction/:uid/login': 'other interaction steps out of state',
      'POST /interaction/:uid/password': 'other interaction steps out of state',
      'POST /interaction/:uid/password/continue': 'other interaction steps out of state; before the change: newcomer-pages.test.ts',
      'POST /interaction/:uid/consent': 'other interaction steps out of state',
      'POST /interaction/:uid/abort': 'always applies: it ends the interaction with access_denied',
      'POST /interaction/:uid/register': 'other interaction steps out of state',
      'POST /interaction/:uid/verify-email/resend': 'other interaction steps out of state',
      'POST /interaction/:uid/federation/:id': 'federation.test.ts (login prompt only)',
      'POST /interaction/:uid/federation/:id/link': 'other interaction steps out of state',
      'POST /interaction/:uid/use-password': 'only marks the login page to show the password form',
      'POST /interaction/:uid/mfa/select': 'second-factor steps out of order',
      'POST /interaction/:uid/mfa/resend': 'second-factor steps out of order',
      'POST /interaction/:uid/mfa/another': 'only goes back to the choice of method',
      'POST /interaction/:uid/mfa/verify': 'second-factor steps out of order',
      'POST /interaction/:uid/mfa/enrol': 'the second factor cannot be replaced by enrolling a new one',
      'POST /interaction/:uid/mfa/enrol/verify': 'the second factor cannot be replaced by enrolling a new one',
      'POST /interaction/:uid/mfa/continue': 'second-factor steps out of order',
      'POST /interaction/:uid/mfa/webauthn/options': 'second-factor steps out of order',
      'POST /interaction/:uid/mfa/webauthn/verify': 'second-factor steps out of order',
      'POST /account/logout': 'always applies',
      'POST /account/security/totp': 'account area',
      'POST /account/security/email': 'account-security.test.ts (step-up before a further factor)',
      'POST /account/security/email/confirm': 'account-security.test.ts; the same sealed, single-use form as totp',
      'POST /account/security/phone': 'account-security.test.ts (step-up before a further factor)',
      'POST /account/security/phone/confirm': 'account-security.test.ts; the same sealed, single-use form as totp',
      'POST /account/security/factors/:id/remove': 'account area',
      'POST /account/security/backup-codes': 'account area',
      'POST /account/security/passkeys/options': 'account-security.test.ts (step-up before a further factor)',
      'POST /account/security/passkeys/verify': 'account area',
      'POST /account/security/passkeys/:id/rename': 'passkey-steps.test.ts (not another person’s)',
      'POST /interaction/:uid/passkey/options': 'passkey-steps.test.ts (409 at the offer)',
      'POST /interaction/:uid/passkey': 'passkey-steps.test.ts (only the challenge issued to this interaction, once)',
      'POST /interaction/:uid/passkey-offer/options': 'passkey-steps.test.ts (only at the offer)',
      'POST /interaction/:uid/passkey-offer/create': 'passkey-steps.test.ts (only at the offer)',
      'POST /interaction/:uid/passkey-offer/continue': 'passkey-steps.test.ts (only after the passkey was made)',
      'POST /interaction/:uid/passkey-offer/decline': 'passkey-steps.test.ts (only at the offer)',
      'POST /account/linked/:id/remove': 'account area (not another person’s); its step-up rule (src/account/linked.ts) has no test of its own',
      'POST /account/password': 'needs the current password',
      'POST /account/language': 'languages-account.test.ts (the person’s own, an unsupported value refused)',
      'POST /account/sessions/:id/end': 'account area (not another person’s)',
      'POST /account/sessions/end-others': 'account-session-revocation.test.ts (only the person’s own)',
      'POST /account/sessions/end-all': 'account-session-revocation.test.ts (only the person’s own)',
      'POST /account/apps/:clientId/revoke': 'consent-remembered.test.ts (only the person’s own consent)',
    }
    const posts = pageRoutes().filter((r) => r.method === 'POST' && /^\/(interaction|account)\b/.test(r.path)).map((r) => `POST ${r.path}`)
    expect(posts.filter((r) => !(r in covered)), 'POST routes without an out-of-state case').toEqual([])
  })
})

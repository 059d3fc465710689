// The MFA policy as people and relying parties meet it, in both storage modes: which facts make
// the second-factor step appear (and that it stays away without them), enrolment when a person has
// no factor, step-up inside an existing session, prompt=none, the TOTP time window and replay, and
// RFC 9470 step-up challenges from this server's own API. Pages are walked with HttpBrowser;
// openid-client 6 is the relying party. ID tokens and access tokens must tell the truth about
// how the person authenticated (acr, amr, auth_time).
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { decodeJwt, generateKeyPair, SignJWT } from 'jose'
import { generate, generateSecret } from 'otplib'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, formsOf, type PageResponse } from '../support/browser.ts'
import { sleep } from '../support/processes.ts'
import { ALICE, API, OPAQUE_API, SERVICE_SECRET, SPA_REDIRECT, WEB_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { createClient } from '../../src/clients/registry.ts'
import { createSecretBox, loadEncryptionKeys } from '../../src/security/encryption.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const ENCRYPTION_KEYS = `k1:${randomBytes(32).toString('base64')}`

const ACR_PWD = 'urn:iam:acr:pwd'
const ACR_MFA = 'urn:iam:acr:mfa'
const PASSWORD = 'a long enough passphrase for tests'

interface Person { login: string; password: string }
const person = (name: string): Person => ({ login: `${name}@example.test`, password: PASSWORD })

// One person per scenario: enrolling a factor changes what the policy decides for them later.
const TOTP_PERSON = person('tess') //   has a verified TOTP factor (seeded)
const WINDOW_PERSON = person('wanda') // has a verified TOTP factor (seeded): time-window tests
const AGE_PERSON = person('abe') //     has a verified TOTP factor (seeded): max_age tests
const ENROL_PERSON = person('enzo') //  no factor: enrols through the pages
const ROLE_PERSON = person('carol') //  no factor, member of a role that requires MFA
const STEP_PERSON = person('stu') //    no factor: signs in with a password, then steps up
const RFC_PERSON = person('rita') //    no factor: RFC 9470 round trip

const MFA_APP = { clientId: 'mfa-app', redirect: 'http://localhost:6001/callback' } // mfaPolicy required
const FRESH_APP = { clientId: 'fresh-app', redirect: 'http://localhost:6002/callback', maxAge: 2 } // step-up age 2 s
const LENIENT_APP = { clientId: 'lenient-app', redirect: 'http://localhost:6003/callback', maxAge: 3600 }

/** A TOTP authenticator: hands out codes, never one of a time step it already used. */
class Authenticator {
  private last: number | undefined
  readonly secret: string
  constructor(secret: string) { this.secret = secret }

  /** The code for the step `offset` steps from now (the server accepts -1, 0, +1). */
  codeAt(offset: number): Promise<string> {
    return generate({ secret: this.secret, epoch: (Math.floor(Date.now() / 1000 / 30) + offset) * 30 })
  }

  /** A code of a step the server has not seen yet: the earliest it still accepts, else wait. */
  async next(): Promise<string> {
    for (;;) {
      await stableWindow(3)
      const step = Math.floor(Date.now() / 1000 / 30)
      for (const s of [step - 1, step, step + 1]) {
        if (this.last === undefined || s > this.last) {
          this.last = s
          return generate({ secret: this.secret, epoch: s * 30 })
        }
      }
      await sleep((30 - (Date.now() / 1000) % 30 + 0.2) * 1000)
    }
  }
}

/** Waits until at least `seconds` remain in the current 30-second TOTP step. */
async function stableWindow(seconds: number) {
  const left = 30 - (Date.now() / 1000) % 30
  if (left < seconds) await sleep((left + 0.2) * 1000)
}

type PageKind = 'login' | 'consent' | 'mfa-choose' | 'mfa-code' | 'mfa-enrol' | 'mfa-enrol-totp' | 'mfa-backup-codes'

/** Which step of the interaction a page is, by the forms it offers. */
function pageKind(res: PageResponse): PageKind {
  const actions = formsOf(res.body).map((f) => f.action)
  const has = (suffix: string) => actions.some((a) => a.endsWith(suffix))
  if (has('/login')) return 'login'
  if (has('/consent')) return 'consent'
  if (has('/mfa/select')) return 'mfa-choose'
  if (has('/mfa/verify')) return 'mfa-code'
  if (has('/mfa/enrol/verify')) return 'mfa-enrol-totp'
  if (has('/mfa/enrol')) return 'mfa-enrol'
  if (has('/mfa/continue')) return 'mfa-backup-codes'
  throw new Error(`unexpected page (status ${res.status}) at ${res.url}:\n${res.body.slice(0, 2000)}`)
}

/** The text of the page's alert box, if it has one. */
const alertText = (html: string) => /role="alert"[^>]*>([\s\S]*?)<\/div>/.exec(html)?.[1]?.replace(/<[^>]+>/g, '').trim()

function submit(browser: HttpBrowser, res: PageResponse, suffix: string, fields: Record<string, string> = {}) {
  const form = formWithAction(res.body, suffix)
  return browser.navigate(new URL(form.action, browser.origin).href, { form: { ...form.fields, ...fields } })
}

/** On the choose-a-method page: the value of the authenticator-app option. */
function totpOption(html: string): string {
  const value = /<button[^>]*name="method" value="([^"]+)"[^>]*>Code from/.exec(html)?.[1]
  if (!value) throw new Error(`no authenticator option on page:\n${html.slice(0, 2000)}`)
  return value
}

interface Walk {
  /** The pages shown, in order. */
  seen: PageKind[]
  /** Where the browser was sent at the end (the client's redirect_uri). */
  callback?: URL
  /** The page the walk stopped at (with `stopAt`). */
  page?: PageResponse
  /** The authenticator set up on the enrolment page, if one was. */
  enrolled?: Authenticator
  backupCodes?: string[]
}

/**
 * Walks the pages like the person would until the browser leaves for the client: the password
 * (only with `as`), consent (Allow), the second factor with `totp`, or enrolment of a new
 * authenticator app (whose key is read from the page).
 */
async function walk(browser: HttpBrowser, start: string | PageResponse, opts: { as?: Person; totp?: Authenticator; stopAt?: PageKind } = {}): Promise<Walk> {
  let res = typeof start === 'string' ? await browser.navigate(start) : start
  const out: Walk = { seen: [] }
  for (let steps = 0; steps < 12; steps++) {
    if (new URL(res.url).origin !== browser.origin) return { ...out, callback: new URL(res.url) }
    const kind = pageKind(res)
    out.seen.push(kind)
    if (kind === opts.stopAt) return { ...out, page: res }
    switch (kind) {
      case 'login':
        if (!opts.as) throw new Error(`the password page was shown (after ${out.seen.join(', ')})`)
        res = await submit(browser, res, '/login', { login: opts.as.login, password: opts.as.password })
        break
      case 'consent':
        res = await submit(browser, res, '/consent')
        break
      case 'mfa-choose':
        res = await submit(browser, res, '/mfa/select', { method: totpOption(res.body) })
        break
      case 'mfa-code': {
        const totp = opts.totp ?? out.enrolled
        if (!totp) throw new Error('a code was asked for, but the walk has no authenticator')
        res = await submit(browser, res, '/mfa/verify', { code: await totp.next() })
        if (res.status === 400) throw new Error(`code refused: ${alertText(res.body)}`)
        break
      }
      case 'mfa-enrol':
        res = await submit(browser, res, '/mfa/enrol', { kind: 'totp' })
        break
      case 'mfa-enrol-totp': {
        const key = /id="totp-secret">([^<]+)</.exec(res.body)?.[1]?.replace(/\s+/g, '')
        if (!key) throw new Error('no key on the enrolment page')
        out.enrolled = new Authenticator(key)
        res = await submit(browser, res, '/mfa/enrol/verify', { code: await out.enrolled.next() })
        if (res.status !== 200 || pageKind(res) !== 'mfa-backup-codes') throw new Error(`enrolment refused: ${alertText(res.body)}`)
        out.backupCodes = [...res.body.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!)
        break
      }
      case 'mfa-backup-codes':
        res = await submit(browser, res, '/mfa/continue')
        break
    }
  }
  throw new Error(`the walk did not finish: ${out.seen.join(', ')}`)
}

async function seedTotpFactor(prisma: PrismaClient, box: ReturnType<typeof createSecretBox>, userId: string): Promise<string> {
  const secret = generateSecret()
  await prisma.mfaFactor.create({ data: { userId, kind: 'totp', label: 'Authenticator app', secret: box.seal(secret, `totp:${userId}`), verified: true } })
  return secret
}

describe.each(STORAGE_MODES)('MFA policy and step-up (%s)', (mode) => {
  let iam: IamInstance
  let spa: oidc.Configuration
  let web: oidc.Configuration
  let svc: oidc.Configuration
  let mfaApp: oidc.Configuration
  let freshApp: oidc.Configuration
  let lenientApp: oidc.Configuration
  let apiResource: string
  const secrets: Record<string, string> = {}

  beforeAll(async () => {
    iam = await createIam(mode, { env: { ENCRYPTION_KEYS } })
    apiResource = `${iam.issuer}/api`
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      const box = createSecretBox(await loadEncryptionKeys({ encryptionKeys: ENCRYPTION_KEYS, keysDir: '/nonexistent' }))
      for (const p of [TOTP_PERSON, WINDOW_PERSON, AGE_PERSON, ENROL_PERSON, ROLE_PERSON, STEP_PERSON, RFC_PERSON]) {
        const user = await createUser(prisma, { email: p.login, password: p.password, emailVerified: true })
        if ([TOTP_PERSON, WINDOW_PERSON, AGE_PERSON].includes(p)) secrets[p.login] = await seedTotpFactor(prisma, box, user.id)
        if (p === ROLE_PERSON) {
          const admins = await ensureRole(prisma, 'operators')
          await prisma.role.update({ where: { id: admins.id }, data: { mfaRequired: true } })
          await assignRole(prisma, user.id, admins.id)
        }
      }
      await createClient(prisma, { clientId: MFA_APP.clientId, name: 'MFA App', kind: 'spa', redirectUris: [MFA_APP.redirect], mfaPolicy: 'required' })
      await createClient(prisma, { clientId: FRESH_APP.clientId, name: 'Fresh App', kind: 'spa', redirectUris: [FRESH_APP.redirect], mfaMaxAge: FRESH_APP.maxAge })
      await createClient(prisma, { clientId: LENIENT_APP.clientId, name: 'Lenient App', kind: 'spa', redirectUris: [LENIENT_APP.redirect], mfaMaxAge: LENIENT_APP.maxAge })
    })
    await iam.start()
    const issuer = new URL(iam.issuer)
    spa = await oidc.discovery(issuer, 'spa', undefined, oidc.None(), insecure)
    web = await oidc.discovery(issuer, 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
    svc = await oidc.discovery(issuer, 'svc', SERVICE_SECRET, oidc.ClientSecretBasic(SERVICE_SECRET), insecure)
    mfaApp = await oidc.discovery(issuer, MFA_APP.clientId, undefined, oidc.None(), insecure)
    freshApp = await oidc.discovery(issuer, FRESH_APP.clientId, undefined, oidc.None(), insecure)
    lenientApp = await oidc.discovery(issuer, LENIENT_APP.clientId, undefined, oidc.None(), insecure)
  })

  afterAll(async () => {
    await iam?.close()
  })

  const redirectOf = (config: oidc.Configuration) => ({
    spa: SPA_REDIRECT, web: WEB_REDIRECT, [MFA_APP.clientId]: MFA_APP.redirect, [FRESH_APP.clientId]: FRESH_APP.redirect, [LENIENT_APP.clientId]: LENIENT_APP.redirect,
  })[config.clientMetadata().client_id]!

  /** An authorization request (code + PKCE) for `config`. */
  async function authorization(config: oidc.Configuration, params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectOf(config), scope: 'openid', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      ...params,
    })
    return {
      url: url.href,
      redeem: (callback: URL) => oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: verifier, expectedState: state, ...(params.max_age ? { maxAge: Number(params.max_age) } : {}),
      }),
      state,
    }
  }

  /** Authorizes in `browser`, walks the pages, redeems the code. */
  async function signIn(browser: HttpBrowser, config: oidc.Configuration, opts: { as?: Person; totp?: Authenticator; params?: Record<string, string> } = {}) {
    const req = await authorization(config, opts.params)
    const result = await walk(browser, req.url, opts)
    if (!result.callback) throw new Error('no callback')
    if (result.callback.searchParams.get('error')) throw new Error(`authorization failed: ${result.callback.searchParams.get('error')}: ${result.callback.searchParams.get('error_description')}`)
    const tokens = await req.redeem(result.callback)
    return { ...result, tokens, claims: tokens.claims()! }
  }

  /** Shows that the person reaches the second-factor step, then cancels there. */
  async function expectMfaStep(config: oidc.Configuration, who: Person, params: Record<string, string> = {}, step: PageKind = 'mfa-enrol') {
    const browser = new HttpBrowser(iam.issuer)
    const req = await authorization(config, params)
    const result = await walk(browser, req.url, { as: who, stopAt: step })
    expect(result.seen).toEqual(['login', step])
    // Cancelling there leaves no session: the client hears access_denied.
    const cancelled = await submit(browser, result.page!, '/abort')
    const callback = new URL(cancelled.url)
    expect(callback.searchParams.get('error')).toBe('access_denied')
    expect(callback.searchParams.get('state')).toBe(req.state)
  }

  /** Shows that the person signs in with the password alone; returns the ID token claims. */
  async function expectPasswordOnly(config: oidc.Configuration, who: Person, params: Record<string, string> = {}) {
    const result = await signIn(new HttpBrowser(iam.issuer), config, { as: who, params })
    expect(result.seen.filter((k) => k.startsWith('mfa'))).toEqual([])
    expect(result.claims.acr).toBe(ACR_PWD)
    expect(result.claims.amr).toEqual(['pwd'])
    return result.claims
  }

  const ALICE_PERSON: Person = { login: ALICE.email, password: ALICE.password }

  describe('what makes the second factor required', () => {
    it('a verified factor of the person: asked with any client; not asked of a person without one', async () => {
      const result = await signIn(new HttpBrowser(iam.issuer), spa, { as: TOTP_PERSON, totp: new Authenticator(secrets[TOTP_PERSON.login]!) })
      expect(result.seen).toEqual(['login', 'mfa-choose', 'mfa-code', 'consent'])
      expect(result.claims.acr).toBe(ACR_MFA)
      expect(result.claims.amr).toEqual(['pwd', 'otp', 'mfa'])
      expect(typeof result.claims.auth_time).toBe('number')
      await expectPasswordOnly(spa, ALICE_PERSON)
    })

    it('a client whose policy requires MFA: a person without a factor enrols an authenticator app and gets backup codes', async () => {
      // The same person at a client without the policy: password only.
      await expectPasswordOnly(spa, ENROL_PERSON)
      const result = await signIn(new HttpBrowser(iam.issuer), mfaApp, { as: ENROL_PERSON })
      expect(result.seen).toEqual(['login', 'mfa-enrol', 'mfa-enrol-totp', 'mfa-backup-codes', 'consent'])
      expect(result.backupCodes).toHaveLength(10)
      expect(new Set(result.backupCodes).size).toBe(10)
      expect(result.claims.acr).toBe(ACR_MFA)
      expect(result.claims.amr).toEqual(['pwd', 'otp', 'mfa'])
      // From now on the person has a factor: asked at every client, with a code, no enrolment
      // (and no consent page: the spa's was given at the first sign-in and is remembered).
      const again = await signIn(new HttpBrowser(iam.issuer), spa, { as: ENROL_PERSON, totp: result.enrolled! })
      expect(again.seen).toEqual(['login', 'mfa-choose', 'mfa-code'])
      expect(again.claims.amr).toEqual(['pwd', 'otp', 'mfa'])
    })

    it('a role that requires MFA; a role that does not, does not', async () => {
      await expectMfaStep(spa, ROLE_PERSON)
      // Alice's role ('user') does not require it.
      await expectPasswordOnly(spa, ALICE_PERSON)
    })

    it('acr_values with the MFA acr first; not when it is only a later preference', async () => {
      await expectMfaStep(spa, ALICE_PERSON, { acr_values: ACR_MFA })
      await expectPasswordOnly(spa, ALICE_PERSON, { acr_values: `${ACR_PWD} ${ACR_MFA}` })
    })

    it('an essential acr claim in the claims parameter; not a voluntary one', async () => {
      await expectMfaStep(spa, ALICE_PERSON, { claims: JSON.stringify({ id_token: { acr: { essential: true, value: ACR_MFA } } }) })
      await expectMfaStep(spa, ALICE_PERSON, { claims: JSON.stringify({ id_token: { acr: { essential: true, values: [ACR_MFA] } } }) })
      await expectPasswordOnly(spa, ALICE_PERSON, { claims: JSON.stringify({ id_token: { acr: { value: ACR_MFA } } }) })
    })

    it('max_age older than the last sign-in, or the client step-up age older than the last second factor, asks again', async () => {
      const browser = new HttpBrowser(iam.issuer)
      const totp = new Authenticator(secrets[AGE_PERSON.login]!)
      const first = await signIn(browser, spa, { as: AGE_PERSON, totp })
      expect(first.seen).toEqual(['login', 'mfa-choose', 'mfa-code', 'consent'])
      const t1 = first.claims.auth_time!

      // Within max_age: single sign-on, nothing asked, the same authentication.
      const within = await signIn(browser, spa, { params: { max_age: '3600' } })
      expect(within.seen).toEqual([])
      expect(within.claims.auth_time).toBe(t1)
      expect(within.claims.acr).toBe(ACR_MFA)

      // max_age exceeded: the person proves both factors again.
      await sleep(3200)
      const stale = await signIn(browser, spa, { as: AGE_PERSON, totp, params: { max_age: '2' } })
      expect(stale.seen).toEqual(['login', 'mfa-choose', 'mfa-code'])
      expect(stale.claims.auth_time).toBeGreaterThan(t1)
      expect(stale.claims.acr).toBe(ACR_MFA)
      expect(stale.claims.amr).toEqual(['pwd', 'otp', 'mfa'])
      const t2 = stale.claims.auth_time!

      // A client whose step-up age is long: nothing but its consent.
      const lenient = await signIn(browser, lenientApp)
      expect(lenient.seen).toEqual(['consent'])
      expect(lenient.claims.auth_time).toBe(t2)

      // A client whose step-up age (2 s) has passed: the second factor again, not the password.
      await sleep(3200)
      const fresh = await signIn(browser, freshApp, { totp })
      expect(fresh.seen).toEqual(['mfa-choose', 'mfa-code', 'consent'])
      expect(fresh.claims.auth_time).toBeGreaterThan(t2)
      expect(fresh.claims.acr).toBe(ACR_MFA)
      expect(fresh.claims.amr).toEqual(['pwd', 'otp', 'mfa'])
    })
  })

  it('steps up inside an existing session: the second factor without the password', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const first = await signIn(browser, spa, { as: STEP_PERSON })
    expect(first.seen).toEqual(['login', 'consent'])
    expect(first.claims.acr).toBe(ACR_PWD)
    expect(first.claims.amr).toEqual(['pwd'])

    // Another client of the same browser asks for MFA: no password page, straight to the factor.
    const stepped = await signIn(browser, web, { params: { acr_values: ACR_MFA } })
    expect(stepped.seen).toEqual(['mfa-enrol', 'mfa-enrol-totp', 'mfa-backup-codes', 'consent'])
    expect(stepped.claims.sub).toBe(first.claims.sub)
    expect(stepped.claims.acr).toBe(ACR_MFA)
    expect(stepped.claims.amr).toEqual(['pwd', 'otp', 'mfa'])
    expect(stepped.claims.auth_time).toBeGreaterThanOrEqual(first.claims.auth_time!)

    // The session is now a two-factor one: the first client gets that too, without asking.
    const after = await signIn(browser, spa)
    expect(after.seen).toEqual([])
    expect(after.claims.acr).toBe(ACR_MFA)
    expect(after.claims.amr).toEqual(['pwd', 'otp', 'mfa'])
  })

  it('answers prompt=none with interaction_required when a second factor is needed but missing', async () => {
    const browser = new HttpBrowser(iam.issuer)
    await signIn(browser, spa, { as: ALICE_PERSON })
    // Nothing more needed: a code, silently.
    const silent = await authorization(spa, { prompt: 'none' })
    const ok = await walk(browser, silent.url)
    expect(ok.seen).toEqual([])
    expect(ok.callback!.searchParams.get('code')).toBeTruthy()
    expect((await silent.redeem(ok.callback!)).claims()!.acr).toBe(ACR_PWD)

    for (const [config, params] of [[spa, { acr_values: ACR_MFA }], [mfaApp, {}]] as const) {
      const req = await authorization(config, { prompt: 'none', ...params })
      const res = await browser.navigate(req.url)
      const callback = new URL(res.url)
      expect(callback.origin + callback.pathname).toBe(redirectOf(config))
      expect(callback.searchParams.get('error')).toBe('interaction_required')
      expect(callback.searchParams.get('error_description')).toBe('a second factor is required')
      expect(callback.searchParams.get('state')).toBe(req.state)
      expect(callback.searchParams.get('code')).toBeNull()
    }
  })

  it('accepts a TOTP code of the previous time step, refuses one two steps back and any code used before', async () => {
    const totp = new Authenticator(secrets[WINDOW_PERSON.login]!)
    // Every code below is for a step relative to this one: stay inside it.
    await stableWindow(12)
    const [twoBack, previous, current] = await Promise.all([totp.codeAt(-2), totp.codeAt(-1), totp.codeAt(0)])

    async function toCodePage() {
      const browser = new HttpBrowser(iam.issuer)
      const req = await authorization(spa)
      const result = await walk(browser, req.url, { as: WINDOW_PERSON, stopAt: 'mfa-code' })
      expect(result.seen).toEqual(['login', 'mfa-choose', 'mfa-code'])
      return { browser, req, page: result.page! }
    }
    type CodePage = Awaited<ReturnType<typeof toCodePage>>
    async function enter(browser: HttpBrowser, page: PageResponse, code: string) {
      return submit(browser, page, '/mfa/verify', { code })
    }
    /** Enters a code that must be refused: 400, and the code page again with `message` in its alert. */
    async function refused(at: CodePage, page: PageResponse, code: string, message: RegExp) {
      const res = await enter(at.browser, page, code)
      expect(res.status).toBe(400)
      expect(alertText(res.body)).toMatch(message)
      return res
    }
    /**
     * Enters a code that must be accepted: no second-factor page follows, only the consent page
     * when `consent` is 'expected' (the first sign-in), none once it is 'remembered'. The ID token's claims.
     */
    async function accepted(at: CodePage, page: PageResponse, code: string, consent: 'expected' | 'remembered') {
      const result = await walk(at.browser, await enter(at.browser, page, code))
      expect(result.seen).toEqual(consent === 'expected' ? ['consent'] : [])
      return (await at.req.redeem(result.callback!)).claims()!
    }

    const one = await toCodePage()
    const tooOld = await refused(one, one.page, twoBack, /not right/)
    expect((await accepted(one, tooOld, previous, 'expected')).amr).toEqual(['pwd', 'otp', 'mfa'])

    const two = await toCodePage()
    const replayed = await refused(two, two.page, previous, /already used/)
    expect((await accepted(two, replayed, current, 'remembered')).acr).toBe(ACR_MFA)

    const three = await toCodePage()
    await refused(three, three.page, current, /already used/)
  })

  describe('RFC 9470 step-up at this server’s API', () => {
    const call = (path: string, token?: string) => fetch(`${iam.issuer}/api/demo/${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {})

    it('challenges a password-only token, and accepts the token of a re-authorization with the challenge’s parameters', async () => {
      const browser = new HttpBrowser(iam.issuer)
      const first = await signIn(browser, web, { as: RFC_PERSON, params: { scope: 'openid demo', resource: apiResource } })
      expect(first.seen).toEqual(['login', 'consent'])
      const at1 = decodeJwt(first.tokens.access_token)
      expect(at1).toMatchObject({ aud: apiResource, scope: 'demo', acr: ACR_PWD, amr: ['pwd'], auth_time: first.claims.auth_time })

      // Any valid token will do for the profile…
      const profile = await oidc.fetchProtectedResource(web, first.tokens.access_token, new URL(`${apiResource}/demo/profile`), 'GET')
      expect(profile.status).toBe(200)
      expect(await profile.json()).toMatchObject({ sub: first.claims.sub, client_id: 'web', acr: ACR_PWD, amr: ['pwd'] })

      // …not for the sensitive route: the RP gets the challenge.
      const raw = await call('sensitive', first.tokens.access_token)
      expect(raw.status).toBe(401)
      expect(raw.headers.get('www-authenticate')).toMatch(/^Bearer error="insufficient_user_authentication", error_description="[^"]+", acr_values="urn:iam:acr:mfa", max_age=300, resource_metadata="[^"]+"$/)
      const refused = await oidc.fetchProtectedResource(web, first.tokens.access_token, new URL(`${apiResource}/demo/sensitive`), 'GET').catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(oidc.WWWAuthenticateChallengeError)
      const [challenge] = (refused as oidc.WWWAuthenticateChallengeError).cause
      expect(challenge!.scheme).toBe('bearer')
      expect(challenge!.parameters.error).toBe('insufficient_user_authentication')
      const { acr_values: acrValues, max_age: maxAge } = challenge!.parameters
      expect(acrValues).toBe(ACR_MFA)
      expect(maxAge).toBe('300')

      // Meanwhile the person set up an authenticator app elsewhere (another browser, a client that requires MFA).
      const elsewhere = await signIn(new HttpBrowser(iam.issuer), mfaApp, { as: RFC_PERSON })
      expect(elsewhere.seen).toEqual(['login', 'mfa-enrol', 'mfa-enrol-totp', 'mfa-backup-codes', 'consent'])

      // The RP re-authorizes with the challenge's parameters in the same browser: the code, no password.
      const stepped = await signIn(browser, web, {
        totp: elsewhere.enrolled!,
        params: { scope: 'openid demo offline_access', prompt: 'consent', resource: apiResource, acr_values: acrValues!, max_age: maxAge! },
      })
      expect(stepped.seen).toEqual(['mfa-choose', 'mfa-code', 'consent'])
      expect(stepped.claims.acr).toBe(ACR_MFA)
      expect(stepped.claims.amr).toEqual(['pwd', 'otp', 'mfa'])
      const at2 = decodeJwt(stepped.tokens.access_token)
      expect(at2).toMatchObject({ aud: apiResource, acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'], auth_time: stepped.claims.auth_time })

      const sensitive = await oidc.fetchProtectedResource(web, stepped.tokens.access_token, new URL(`${apiResource}/demo/sensitive`), 'GET')
      expect(sensitive.status).toBe(200)
      expect(await sensitive.json()).toMatchObject({ sensitive: true, sub: first.claims.sub, acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'] })
      // The old token is still the old authentication.
      expect((await call('sensitive', first.tokens.access_token)).status).toBe(401)

      // A refreshed access token keeps the authentication it was granted with.
      expect(stepped.tokens.refresh_token).toBeTruthy()
      const refreshed = await oidc.refreshTokenGrant(web, stepped.tokens.refresh_token!, { resource: apiResource })
      expect(decodeJwt(refreshed.access_token)).toMatchObject({ aud: apiResource, acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'], auth_time: stepped.claims.auth_time })
      expect((await call('sensitive', refreshed.access_token)).status).toBe(200)
    })

    it('refuses missing, malformed, foreign and wrong-audience tokens', async () => {
      const none = await call('profile')
      expect(none.status).toBe(401)
      expect(none.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${iam.issuer}/.well-known/oauth-protected-resource/api"`)

      const invalid = async (token: string) => {
        const res = await call('profile', token)
        expect(res.status, token.slice(0, 40)).toBe(401)
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="[^"]+"$/)
      }
      await invalid('not-a-token')
      await invalid('a.b.c')
      // A token for another API (JWT and opaque), and one signed by someone else.
      await invalid((await oidc.clientCredentialsGrant(svc, { scope: 'read', resource: API })).access_token)
      await invalid((await oidc.clientCredentialsGrant(svc, { scope: 'read', resource: OPAQUE_API })).access_token)
      // (with the kid of the server's own ES256 key: the signature is what gives it away)
      const { keys } = await (await fetch(`${iam.issuer}/jwks`)).json() as { keys: Array<{ kid: string; alg: string }> }
      const { privateKey } = await generateKeyPair('ES256')
      const forged = await new SignJWT({ client_id: 'web', scope: 'demo', acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'], auth_time: Math.floor(Date.now() / 1000) })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: keys.find((k) => k.alg === 'ES256')!.kid })
        .setIssuer(iam.issuer).setAudience(apiResource).setSubject('someone').setIssuedAt().setExpirationTime('5m').setJti('forged')
        .sign(privateKey)
      await invalid(forged)

      // A service's own token for this API: fine for the profile, but no person stands behind it.
      const service = await oidc.clientCredentialsGrant(svc, { scope: 'demo', resource: apiResource })
      expect(decodeJwt(service.access_token).acr).toBeUndefined()
      const profile = await call('profile', service.access_token)
      expect(profile.status).toBe(200)
      expect(await profile.json()).toMatchObject({ sub: 'svc', client_id: 'svc', scope: 'demo' })
      const sensitive = await call('sensitive', service.access_token)
      expect(sensitive.status).toBe(401)
      expect(sensitive.headers.get('www-authenticate')).toMatch(/error="insufficient_user_authentication"/)

      // The API answers JSON for what it does not have.
      const post = await fetch(`${iam.issuer}/api/demo/profile`, { method: 'POST', headers: { authorization: `Bearer ${service.access_token}` } })
      expect(post.status).toBe(405)
      const missing = await call('nothing-here', service.access_token)
      expect(missing.status).toBe(404)
      expect(await missing.json()).toEqual({ error: 'not_found' })
    })
  })

  it('logged no server errors', async () => {
    await sleep(150) // log lines arrive asynchronously
    const errors = iam.logs().split('\n').filter((line) => /"status":5\d\d/.test(line) || /"level":(50|60)/.test(line))
    expect(errors).toEqual([])
  })
})

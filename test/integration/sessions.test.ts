// Sessions and devices in /account, in both storage modes, through the real pages and a real
// relying party (openid-client, confidential client `web` with offline_access): each browser is an
// HttpBrowser with its own User-Agent. Signing a session out (one, all others, everywhere, the
// oldest beyond MAX_SESSIONS_PER_USER, or the others after a password change) must make the
// refresh tokens given in it fail at the token endpoint, and the browser must sign in again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { decodeJwt, type JWTPayload } from 'jose'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { startBackchannelReceiver, type BackchannelReceiver } from '../support/backchannel-receiver.ts'
import { alertOf } from '../support/page-text.ts'
import { HttpBrowser, formWithAction, formsOf, signIn, type PageResponse } from '../support/browser.ts'
import { WEB_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import { createUser } from '../../src/identity/users.ts'
import { Redis } from 'ioredis'

const insecure = { execute: [oidc.allowInsecureRequests] }

const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'
const CHROME_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'
const firefox = (major: number) => `Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:${major}.0) Gecko/20100101 Firefox/${major}.0`

// One person per scenario, so the scenarios do not end each other's sessions.
const person = (name: string) => ({ email: `${name}@example.test`, password: `${name} has a long and unusual passphrase` })
const LISTER = person('lister')
const EVERYWHERE = person('everywhere')
const CROWD = person('crowd')
const CHANGER = person('changer')
const GUESSER = person('guesser')
const FORGOTTEN = person('forgotten')
const NEW_PASSWORD = 'fresh meadow lantern orbit 42'

/** A browser with its own User-Agent on every request. */
class Device extends HttpBrowser {
  readonly userAgent: string

  constructor(origin: string, userAgent: string) {
    super(origin)
    this.userAgent = userAgent
  }

  override request(url: string, init: Parameters<HttpBrowser['request']>[1] = {}): Promise<PageResponse> {
    return super.request(url, { ...init, headers: { 'user-agent': this.userAgent, ...init.headers } })
  }
}

const noticeOf = (html: string) => /role="status"[^>]*>([^<]*)</.exec(html)?.[1]?.trim()
/** The sessions listed on /account/sessions: device label, whether it is this one, and the sign-out action. */
const sessionsOf = (html: string) =>
  [...html.matchAll(/<li>\s*<p><strong>([^<]+)<\/strong>( <span class="tag">This device<\/span>)?<\/p>\s*<p class="muted">([^<]*)<time[\s\S]*?action="(\/account\/sessions\/[^"]+\/end)"/g)]
    .map((m) => ({ device: m[1]!, current: Boolean(m[2]), facts: m[3]!, action: m[4]! }))

describe.each(STORAGE_MODES)('sessions and devices (%s)', (mode) => {
  let iam: IamInstance
  let web: oidc.Configuration
  const url = (path: string) => `${iam.issuer}${path}`

  // The web app's back-channel logout endpoint (oidc-flows.test.ts verifies the tokens' signature
  // and claims; here only who and which session they name).
  let rp: BackchannelReceiver | undefined
  const logoutTokens = (): JWTPayload[] => rp?.tokens.map((t) => decodeJwt(t)) ?? []

  beforeAll(async () => {
    rp = await startBackchannelReceiver()
    // Every device here is 127.0.0.1: the per-IP sign-in limit is not what this file tests.
    iam = await createIam(mode, { env: { RATE_LIMIT_SIGN_IN_IP: '1000/300' } })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma, { backchannelLogoutUri: rp!.uri })
      for (const who of [LISTER, EVERYWHERE, CROWD, CHANGER, GUESSER, FORGOTTEN]) await createUser(prisma, { ...who, emailVerified: true })
    })
    await iam.start()
    web = await oidc.discovery(new URL(iam.issuer), 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
  })
  afterAll(async () => {
    await iam?.close()
    rp?.close()
  })

  function authorizationRequest(params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    return oidc.calculatePKCECodeChallenge(verifier).then((challenge) => ({
      verifier, state,
      url: oidc.buildAuthorizationUrl(web, {
        redirect_uri: WEB_REDIRECT, scope: 'openid offline_access', prompt: 'consent', state,
        code_challenge: challenge, code_challenge_method: 'S256', ...params,
      }).href,
    }))
  }

  /** The app signs the person in on this device (signing in at the OP if needed) and gets tokens, a refresh token among them. */
  async function appSignIn(device: Device, who: { email: string; password: string }) {
    const req = await authorizationRequest()
    const callback = await signIn(device, req.url, { login: who.email, password: who.password })
    const tokens = await oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state })
    expect(tokens.refresh_token).toBeTruthy()
    return tokens
  }

  /** Whether the device is still signed in at the OP: prompt=none answers with a code, or login_required. */
  async function signedInAtOp(device: Device): Promise<boolean> {
    const req = await authorizationRequest({ prompt: 'none', scope: 'openid' })
    const res = await device.navigate(req.url)
    const back = new URL(res.url)
    expect(back.origin + back.pathname).toBe(WEB_REDIRECT)
    if (back.searchParams.get('code')) return true
    expect(back.searchParams.get('error')).toBe('login_required')
    return false
  }

  async function refreshWorks(refreshToken: string): Promise<boolean> {
    try {
      const fresh = await oidc.refreshTokenGrant(web, refreshToken)
      expect(fresh.access_token).toBeTruthy()
      return true
    } catch (err) {
      expect(err).toMatchObject({ error: 'invalid_grant' })
      return false
    }
  }

  /** Opens /account/sessions in a device already signed in at the OP (the account area signs in through it). */
  async function sessionsPage(device: Device): Promise<PageResponse> {
    const page = await device.navigate(url('/account/sessions'))
    expect(page.status).toBe(200)
    expect(page.body).toContain('Where you are signed in')
    return page
  }

  async function press(device: Device, page: PageResponse, action: string): Promise<PageResponse> {
    const form = formWithAction(page.body, action)
    return device.request(url(form.action), { form: form.fields })
  }

  it('lists each browser the person signed in with: browser, system, IP address and times, this device marked', async () => {
    const laptop = new Device(iam.issuer, FIREFOX_WINDOWS)
    const phone = new Device(iam.issuer, SAFARI_IPHONE)
    await appSignIn(laptop, LISTER)
    await appSignIn(phone, LISTER)

    const account = await laptop.navigate(url('/account'))
    expect(account.body).toContain('href="/account/sessions"')
    expect(account.body).toContain('href="/account/password"')
    const listed = sessionsOf((await sessionsPage(laptop)).body)
    expect(listed.map((s) => [s.device, s.current])).toEqual([
      ['Firefox 128 on Windows 10', true],
      ['Safari 17 on iOS 17.5', false],
    ])
    for (const s of listed) expect(s.facts).toContain('IP address 127.0.0.1.')

    // From the phone, the phone is this device.
    const fromPhone = sessionsOf((await sessionsPage(phone)).body)
    expect(fromPhone.find((s) => s.current)?.device).toBe('Safari 17 on iOS 17.5')
  }, 60_000)

  it('signs one session out: its refresh token is refused and it must sign in again; the other session keeps working', async () => {
    const laptop = new Device(iam.issuer, CHROME_LINUX)
    const phone = new Device(iam.issuer, SAFARI_IPHONE)
    const laptopTokens = await appSignIn(laptop, LISTER)
    const phoneTokens = await appSignIn(phone, LISTER)

    const page = await sessionsPage(laptop)
    const phones = sessionsOf(page.body).filter((s) => s.device === 'Safari 17 on iOS 17.5')
    expect(phones.length).toBeGreaterThan(0)
    for (const phoneSession of phones) {
      const res = await press(laptop, await sessionsPage(laptop), phoneSession.action)
      expect(res.status).toBe(303)
      expect(res.headers.get('location')).toBe('/account/sessions?done=ended')
    }
    const after = await laptop.navigate(url('/account/sessions?done=ended'))
    expect(noticeOf(after.body)).toBe('That session was signed out. Applications it signed in to must ask you to sign in again.')
    expect(sessionsOf(after.body).map((s) => s.device)).not.toContain('Safari 17 on iOS 17.5')

    expect(await refreshWorks(phoneTokens.refresh_token!)).toBe(false)
    expect(await signedInAtOp(phone)).toBe(false)
    expect(await refreshWorks(laptopTokens.refresh_token!)).toBe(true)
    expect(await signedInAtOp(laptop)).toBe(true)

    // Signing out a session that has already ended: a plain page, not an error.
    const again = await press(laptop, page, phones[0]!.action)
    expect(again.status).toBe(404)
    expect(again.body).toContain('That session has already ended')
  }, 60_000)

  it('signs out everywhere: every session ends and every refresh token fails, offline ones from signed-out browsers too', async () => {
    const laptop = new Device(iam.issuer, FIREFOX_WINDOWS)
    const phone = new Device(iam.issuer, SAFARI_IPHONE)
    const kiosk = new Device(iam.issuer, CHROME_LINUX)
    const laptopTokens = await appSignIn(laptop, EVERYWHERE)
    const phoneTokens = await appSignIn(phone, EVERYWHERE)
    const kioskTokens = await appSignIn(kiosk, EVERYWHERE)

    // The kiosk signs out at the OP (RP-initiated logout). Offline access outlives that, as the
    // protocol says: its refresh token still works, and its session is no longer listed.
    const confirm = await kiosk.navigate(oidc.buildEndSessionUrl(web, { id_token_hint: kioskTokens.id_token!, post_logout_redirect_uri: 'http://localhost:8080/signed-out' }).href)
    const logout = formsOf(confirm.body)[0]!
    await kiosk.navigate(new URL(logout.action, iam.issuer).href, { form: { ...logout.fields, logout: 'yes' } })
    expect(await signedInAtOp(kiosk)).toBe(false)
    expect(await refreshWorks(kioskTokens.refresh_token!)).toBe(true)

    const page = await sessionsPage(laptop)
    expect(sessionsOf(page.body).map((s) => s.device).sort()).toEqual(['Firefox 128 on Windows 10', 'Safari 17 on iOS 17.5'])
    const heardBefore = logoutTokens().length
    const res = await press(laptop, page, '/account/sessions/end-all')
    expect(res.status).toBe(303)
    // The web app hears of both sessions ending, by the sids it knows from their ID tokens.
    const sub = decodeJwt(laptopTokens.id_token!).sub
    for (let tries = 0; tries < 50 && logoutTokens().length < heardBefore + 2; tries++) await new Promise((r) => setTimeout(r, 100))
    const heard = logoutTokens().slice(heardBefore).filter((t) => t.sub === sub)
    expect(heard.map((t) => t.sid).sort()).toEqual([decodeJwt(laptopTokens.id_token!).sid, decodeJwt(phoneTokens.id_token!).sid].sort())
    const signedOut = await laptop.navigate(url(res.headers.get('location')!))
    expect(signedOut.body).toContain('You were signed out everywhere')

    expect(await refreshWorks(laptopTokens.refresh_token!)).toBe(false)
    expect(await refreshWorks(phoneTokens.refresh_token!)).toBe(false)
    expect(await refreshWorks(kioskTokens.refresh_token!)).toBe(false)
    expect(await signedInAtOp(laptop)).toBe(false)
    expect(await signedInAtOp(phone)).toBe(false)
    // The account area signed out too: it sends the person to sign in.
    const account = await laptop.navigate(url('/account'))
    expect(account.body).toContain('name="password"')
  }, 60_000)

  it('keeps at most 5 sessions: the 6th sign-in ends the oldest, whose refresh token then fails', async () => {
    const devices = [120, 121, 122, 123, 124, 125].map((major) => new Device(iam.issuer, firefox(major)))
    const tokens = []
    for (const device of devices) tokens.push(await appSignIn(device, CROWD))

    expect(await signedInAtOp(devices[0]!)).toBe(false)
    expect(await refreshWorks(tokens[0]!.refresh_token!)).toBe(false)
    for (const [i, device] of devices.entries()) if (i > 0) expect(await signedInAtOp(device)).toBe(true)
    expect(await refreshWorks(tokens[1]!.refresh_token!)).toBe(true)

    const listed = sessionsOf((await sessionsPage(devices[5]!)).body)
    expect(listed.map((s) => s.device).sort()).toEqual(['Firefox 121', 'Firefox 122', 'Firefox 123', 'Firefox 124', 'Firefox 125'].map((b) => `${b} on Windows 10`))
  }, 90_000)

  it('a session the store no longer holds (it expired) is not listed, and its row is marked ended as expired', async () => {
    const laptop = new Device(iam.issuer, FIREFOX_WINDOWS)
    const phone = new Device(iam.issuer, SAFARI_IPHONE)
    await appSignIn(laptop, FORGOTTEN)
    await appSignIn(phone, FORGOTTEN)
    const rowOf = (prisma: Parameters<Parameters<IamInstance['databaseNow']>[0]>[0], browser: string) =>
      prisma.userSession.findFirstOrThrow({ where: { user: { email: FORGOTTEN.email }, browser } })
    // What the store does when a session's lifetime is over: the session is gone.
    const gone = await iam.databaseNow(async (prisma) => {
      const { sessionId } = await rowOf(prisma, 'Firefox 128')
      if (iam.redis) {
        const redis = new Redis(iam.redis.url)
        try { return await redis.del(`oidc:Session:{${sessionId}}`) } finally { redis.disconnect() }
      }
      return (await prisma.oidcArtifact.deleteMany({ where: { model: 'Session', id: sessionId } })).count
    })
    expect(gone).toBe(1)
    expect(await signedInAtOp(laptop)).toBe(false)

    const listed = sessionsOf((await sessionsPage(phone)).body)
    expect(listed.map((s) => [s.device, s.current])).toEqual([['Safari 17 on iOS 17.5', true]])
    const laptopRow = await iam.databaseNow((prisma) => rowOf(prisma, 'Firefox 128'), { settleMs: 200 })
    expect(laptopRow.endReason).toBe('expired')
    expect(laptopRow.endedAt).toBeInstanceOf(Date)
  }, 60_000)

  it('changes the password with the current one: refuses a wrong one, then signs out the other sessions and keeps this one', async () => {
    const laptop = new Device(iam.issuer, FIREFOX_WINDOWS)
    const phone = new Device(iam.issuer, SAFARI_IPHONE)
    const laptopTokens = await appSignIn(laptop, CHANGER)
    const phoneTokens = await appSignIn(phone, CHANGER)

    const form = await laptop.navigate(url('/account/password'))
    expect(form.status).toBe(200)
    expect(form.body).toContain('Change your password')
    const submit = (fields: Record<string, string>) => laptop.request(url('/account/password'), { form: { ...formWithAction(form.body, '/account/password').fields, ...fields } })

    const wrong = await submit({ current: 'not my password at all', password: NEW_PASSWORD, confirm: NEW_PASSWORD })
    expect(wrong.status).toBe(400)
    expect(alertOf(wrong.body)).toBe('Your current password is not right. Type it again.')
    const mismatch = await submit({ current: CHANGER.password, password: NEW_PASSWORD, confirm: `${NEW_PASSWORD}!` })
    expect(mismatch.status).toBe(400)
    expect(alertOf(mismatch.body)).toBe('The two new passwords are not the same. Type them again.')
    const common = await submit({ current: CHANGER.password, password: 'password1234', confirm: 'password1234' })
    expect(common.status).toBe(400)
    expect(alertOf(common.body)).toMatch(/common/)
    // Nothing changed so far.
    expect(await refreshWorks(phoneTokens.refresh_token!)).toBe(true)

    const done = await submit({ current: CHANGER.password, password: NEW_PASSWORD, confirm: NEW_PASSWORD })
    expect(done.status).toBe(303)
    const confirmed = await laptop.navigate(url(done.headers.get('location')!))
    expect(noticeOf(confirmed.body)).toBe('Your password was changed. You were signed out everywhere else: sign in there with the new password.')

    // The other browser is out, with what its apps held; this one stays in, with its app's tokens.
    expect(await refreshWorks(phoneTokens.refresh_token!)).toBe(false)
    expect(await signedInAtOp(phone)).toBe(false)
    expect(await signedInAtOp(laptop)).toBe(true)
    expect(await refreshWorks(laptopTokens.refresh_token!)).toBe(true)
    expect((await laptop.navigate(url('/account'))).body).toContain('Your account')

    // The old password no longer signs in; the new one does.
    const login = await phone.navigate((await authorizationRequest()).url)
    const oldTry = await phone.navigate(url(formWithAction(login.body, '/login').action), { form: { ...formWithAction(login.body, '/login').fields, login: CHANGER.email, password: CHANGER.password } })
    expect(oldTry.body).toContain('name="password"')
    expect(alertOf(oldTry.body)).toBeTruthy()
    const fresh = new Device(iam.issuer, CHROME_LINUX)
    await appSignIn(fresh, { email: CHANGER.email, password: NEW_PASSWORD })
  }, 60_000)

  it('counts wrong current passwords like failed sign-ins: after 5 the account is locked and the form says when to try again', async () => {
    const laptop = new Device(iam.issuer, FIREFOX_WINDOWS)
    await appSignIn(laptop, GUESSER)
    const form = await laptop.navigate(url('/account/password'))
    const submit = (current: string) => laptop.request(url('/account/password'), { form: { ...formWithAction(form.body, '/account/password').fields, current, password: NEW_PASSWORD, confirm: NEW_PASSWORD } })
    for (let i = 0; i < 5; i++) expect((await submit(`wrong guess number ${i}`)).status).toBe(400)
    // Locked now: even the right password is refused, with the wait.
    const locked = await submit(GUESSER.password)
    expect(locked.status).toBe(429)
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(alertOf(locked.body)).toMatch(/^Too many wrong passwords were entered for this account\. Please wait, and try again in \d+ minutes?\.$/)
  }, 60_000)

  it('audits every session end and password change', async () => {
    expect(iam.logs()).not.toMatch(/"status":500/)
    expect(iam.logs()).not.toContain('recording the session failed')
    await iam.stop()
    const audit = await iam.withDatabase(async (prisma) => {
      const users = await prisma.user.findMany({ where: { email: { in: [LISTER, EVERYWHERE, CROWD, CHANGER, GUESSER].map((p) => p.email) } } })
      const idOf = (email: string) => users.find((u) => u.email === email)!.id
      const events = async (email: string) => (await prisma.auditEvent.findMany({ where: { userId: idOf(email) }, orderBy: { at: 'asc' } }))
        .map((e) => `${e.type}:${e.outcome}:${(e.details as { reason?: string } | null)?.reason ?? ''}`)
      return {
        lister: await events(LISTER.email),
        everywhere: await events(EVERYWHERE.email),
        crowd: await events(CROWD.email),
        changer: await events(CHANGER.email),
        guesser: await events(GUESSER.email),
        changerSessions: await prisma.userSession.findMany({ where: { userId: idOf(CHANGER.email) }, orderBy: { createdAt: 'asc' } }),
      }
    })
    expect(audit.lister).toEqual(expect.arrayContaining(['session_ended:success:signed_out', 'session_ended:failure:not_found']))
    expect(audit.everywhere).toEqual(expect.arrayContaining([
      'session_ended:success:signed_out', // the kiosk's logout, and this browser
      'session_ended:success:signed_out_elsewhere',
      'sessions_revoked:success:signed_out_elsewhere',
    ]))
    expect(audit.crowd.filter((e) => e === 'session_ended:success:evicted')).toHaveLength(1)
    expect(audit.changer).toEqual(expect.arrayContaining([
      'password_change:failure:wrong_current_password',
      'password_change:failure:policy',
      'session_ended:success:password_changed',
      'password_change:success:',
    ]))
    expect(audit.guesser.filter((e) => e === 'password_change:failure:wrong_current_password')).toHaveLength(5)
    expect(audit.guesser).toEqual(expect.arrayContaining(['account_locked:failure:', 'password_change:failure:locked']))
    expect(audit.changerSessions.map((s) => [s.browser, s.os, s.endReason])).toEqual([
      ['Firefox 128', 'Windows 10', null],
      ['Safari 17', 'iOS 17.5', 'password_changed'],
      ['Chrome 126', 'Linux', null],
    ])
  }, 60_000)
})

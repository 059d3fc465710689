// Password reset by email, in both storage modes, through the real pages with mail read from a
// real SMTP server: the answer to "send me a link" is the same for every address; a link sets a
// new password (policy-checked on the page), once, within 15 minutes; the reset ends every session
// and grant of the account (an existing refresh token fails at the token endpoint), clears a
// lockout and verifies the address; a mail server that refuses or is down leaves no usable link;
// and each event leaves an audit row. The clock the links read is moved through CLOCK_OFFSET_FILE.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { createMovableClock } from '../support/movable-clock.ts'
import { alertOf, h1Of } from '../support/page-text.ts'
import { HttpBrowser, formWithAction, signIn, type PageResponse } from '../support/browser.ts'
import { DISABLED, WEB_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import { startMailCatcher, type MailCatcher } from '../support/smtp.ts'
import { sleep } from '../support/processes.ts'
import { createUser } from '../../src/identity/users.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const MINUTE = 60_000

const RITA = { email: 'rita@example.test', password: 'rita hums while the kettle boils' }
const RITA_NEW = 'copper kites above the salt marsh'
/** Not verified yet, and about to be locked out by someone guessing. */
const UMA = { email: 'uma@example.test', password: 'uma counts swallows in late june' }
const UMA_NEW = 'violet trams climb the sleepy hill'
/** Signs in through an upstream only: no password, so no reset link. */
const FRED = { email: 'fred@example.test' }
const NOBODY = 'nobody@example.test'

const resetLinkIn = (text: string) => {
  const found = /https?:\/\/\S+\/self-service\/reset-password\?token=[A-Za-z0-9_-]+/.exec(text)?.[0]
  if (!found) throw new Error(`no reset link in:\n${text}`)
  return found
}

describe.each(STORAGE_MODES)('password reset (%s)', (mode) => {
  let iam: IamInstance
  let mail: MailCatcher
  let web: oidc.Configuration
  const clock = createMovableClock()
  const url = (p: string) => `${iam.issuer}${p}`

  beforeAll(async () => {
    mail = await startMailCatcher()
    iam = await createIam(mode, {
      env: {
        ...mail.env, ...clock.env,
        // Everyone here is 127.0.0.1, and Rita asks often: the limits are not what this file tests.
        RATE_LIMIT_RESET_IP: '1000/3600', RATE_LIMIT_RESET_ACCOUNT: '1000/3600', RATE_LIMIT_SIGN_IN_IP: '1000/300',
      },
    })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await createUser(prisma, { ...RITA, emailVerified: true })
      await createUser(prisma, { ...UMA, emailVerified: false })
      await createUser(prisma, { ...FRED, emailVerified: true })
    })
    await iam.start()
    web = await oidc.discovery(new URL(iam.issuer), 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
  })
  afterAll(async () => {
    await iam?.close()
    await mail?.close()
  })

  const moveClock = (ms: number) => clock.advance(ms)

  /** Database access now; embedded, work the server does after answering (the reset mail) finishes first. */
  const dbNow = <T>(fn: (prisma: PrismaClient) => Promise<T>) => iam.databaseNow(fn, { settleMs: 1000 })

  async function authorizationRequest(params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const href = oidc.buildAuthorizationUrl(web, {
      redirect_uri: WEB_REDIRECT, scope: 'openid offline_access', prompt: 'consent', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    }).href
    return { verifier, state, href }
  }

  function submit(browser: HttpBrowser, page: PageResponse, suffix: string, fields: Record<string, string> = {}) {
    const form = formWithAction(page.body, suffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }

  /** Asks for a reset link for `email` from the standalone form, in a browser of its own. */
  async function askForLink(email: string, browser = new HttpBrowser(iam.issuer)): Promise<PageResponse> {
    const form = await browser.navigate(url('/self-service/forgot-password'))
    expect(form.status).toBe(200)
    return submit(browser, form, '/self-service/forgot-password', { email })
  }

  async function refreshWorks(refreshToken: string): Promise<boolean> {
    try {
      await oidc.refreshTokenGrant(web, refreshToken)
      return true
    } catch (err) {
      expect(err).toMatchObject({ error: 'invalid_grant' })
      return false
    }
  }

  it('the login page links to the reset form, which leads back to that sign-in; a malformed address is refused on the page', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const login = await browser.navigate((await authorizationRequest()).href)
    const uid = /\/interaction\/([^/"]+)\/login"/.exec(login.body)![1]!
    expect(login.body).toContain(`<a href="/self-service/forgot-password?interaction=${uid}">Forgot your password?</a>`)
    const form = await browser.navigate(url(`/self-service/forgot-password?interaction=${uid}`))
    expect(h1Of(form.body)).toBe('Reset your password')
    expect(form.body).toContain(`href="/interaction/${uid}">Back to sign in</a>`)
    const bad = await submit(browser, form, '/self-service/forgot-password', { email: 'not an address' })
    expect(bad.status).toBe(400)
    expect(alertOf(bad.body)).toBe('Enter a valid email address, like name@example.com.')
    expect(bad.body).toContain(`name="interaction" value="${uid}"`)
  })

  it('answers every address the same way (status, headers, page); only an account with a password gets mail', async () => {
    const since = mail.messages.length
    const answers: Record<string, PageResponse> = {}
    for (const email of [RITA.email, NOBODY, DISABLED.email, FRED.email]) answers[email] = await askForLink(email)

    const headers = (res: PageResponse) => Object.fromEntries(['content-type', 'cache-control', 'content-security-policy', 'x-frame-options', 'referrer-policy', 'set-cookie', 'retry-after']
      .map((h) => [h, res.headers.get(h)?.replace(/'nonce-[^']+'/, "'nonce-N'") ?? null]))
    const body = (res: PageResponse) => res.body.replace(/name="csrf" value="[^"]*"/g, 'name="csrf" value=""')
    const known = answers[RITA.email]!
    expect(known.status).toBe(200)
    expect(h1Of(known.body)).toBe('Check your email')
    expect(known.body).toContain('If an account exists for the address you entered, we have sent it a link to choose a new password. The link works once, for 15 minutes.')
    for (const email of [NOBODY, DISABLED.email, FRED.email]) {
      expect(answers[email]!.status, email).toBe(known.status)
      expect(headers(answers[email]!), email).toEqual(headers(known))
      expect(body(answers[email]!), email).toBe(body(known))
    }

    const message = await mail.nextTo(RITA.email, { since })
    expect(message.subject).toBe('Choose a new password for Identity')
    expect(message.text).toContain('expires in 15 minutes')
    resetLinkIn(message.text)
    await sleep(500)
    const others = mail.messages.slice(since).filter((m) => !m.to.includes(RITA.email))
    expect(others).toEqual([])
  })

  it('a link sets a new password (policy-checked), once; every session and refresh token of the account ends', async () => {
    // The app already holds a refresh token, and this browser a session at the OP.
    const device = new HttpBrowser(iam.issuer)
    const req = await authorizationRequest()
    const callback = await signIn(device, req.href, { login: RITA.email, password: RITA.password })
    const tokens = await oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state })
    expect(await refreshWorks(tokens.refresh_token!)).toBe(true)

    // Another browser, at a login page, forgot the password.
    const browser = new HttpBrowser(iam.issuer)
    const app = await authorizationRequest()
    const login = await browser.navigate(app.href)
    const uid = /\/interaction\/([^/"]+)\/login"/.exec(login.body)![1]!
    const since = mail.messages.length
    const forgot = await browser.navigate(url(`/self-service/forgot-password?interaction=${uid}`))
    const sent = await submit(browser, forgot, '/self-service/forgot-password', { email: RITA.email })
    expect(sent.body).toContain(`href="/interaction/${uid}">Back to sign in</a>`)
    const link = resetLinkIn((await mail.nextTo(RITA.email, { since })).text)

    const form = await browser.navigate(link)
    expect(form.status).toBe(200)
    expect(h1Of(form.body)).toBe('Choose a new password')
    expect(form.body).toContain('Use at least 12 characters. A few unrelated words make a strong, memorable passphrase. Common passwords are refused.')
    const listed = await submit(browser, form, '/self-service/reset-password', { password: 'qwertyuiop123', confirm: 'qwertyuiop123' })
    expect(listed.status).toBe(400)
    expect(alertOf(listed.body)).toBe('This password is on a list of common or leaked passwords, so attackers try it first. Choose another: a few unrelated words make a strong passphrase.')
    const mine = await submit(browser, listed, '/self-service/reset-password', { password: RITA.email, confirm: RITA.email })
    expect(alertOf(mine.body)).toBe('Do not use your email address, username or name as your password. Choose something others cannot guess.')
    const mismatch = await submit(browser, mine, '/self-service/reset-password', { password: RITA_NEW, confirm: `${RITA_NEW}.` })
    expect(alertOf(mismatch.body)).toBe('The two passwords do not match.')
    const long = await submit(browser, mismatch, '/self-service/reset-password', { password: 'x'.repeat(1025), confirm: 'x'.repeat(1025) })
    expect(long.status).toBe(400)
    expect(alertOf(long.body)).toBe('Use at most 1024 characters.')
    // None of that used the link up.
    expect((await browser.navigate(link)).status).toBe(200)

    const done = await submit(browser, long, '/self-service/reset-password', { password: RITA_NEW, confirm: RITA_NEW })
    expect(done.status).toBe(200)
    expect(h1Of(done.body)).toBe('Your password was changed')
    expect(done.body).toContain(`href="/interaction/${uid}">Continue to sign in</a>`)

    // The refresh token is dead, and the browser that was signed in must sign in again.
    expect(await refreshWorks(tokens.refresh_token!)).toBe(false)
    const silent = await device.navigate((await authorizationRequest({ prompt: 'none', scope: 'openid' })).href)
    expect(new URL(silent.url).searchParams.get('error')).toBe('login_required')

    // Back at the sign-in: the old password fails, the new one works.
    const again = await browser.navigate(url(`/interaction/${uid}`))
    const old = await submit(browser, again, '/login', { login: RITA.email, password: RITA.password })
    expect(old.status).toBe(400)
    let res = await submit(browser, old, '/login', { login: RITA.email, password: RITA_NEW })
    if (/\/consent"/.test(res.body)) res = await submit(browser, res, '/consent')
    const back = new URL(res.url)
    expect(back.origin + back.pathname).toBe(WEB_REDIRECT)
    expect((await oidc.authorizationCodeGrant(web, back, { pkceCodeVerifier: app.verifier, expectedState: app.state })).refresh_token).toBeTruthy()

    const reused = await new HttpBrowser(iam.issuer).navigate(link)
    expect(reused.status).toBe(410)
    expect(alertOf(reused.body)).toBe('This link has already been used. Each link works once. Ask for a new link to choose your password; it works for 15 minutes.')
    expect(reused.body).toContain('href="/self-service/forgot-password">Get a new link</a>')
  }, 60_000)

  it('a reset clears a lockout and verifies the address: the account signs in straight away', async () => {
    const browser = new HttpBrowser(iam.issuer)
    let page = await browser.navigate((await authorizationRequest()).href)
    for (let i = 0; i < 5; i++) page = await submit(browser, page, '/login', { login: UMA.email, password: `a wrong guess number ${i}` })
    // Locked now: even the right password is refused.
    expect((await submit(browser, page, '/login', { login: UMA.email, password: UMA.password })).status).toBe(400)

    const since = mail.messages.length
    await askForLink(UMA.email)
    const link = resetLinkIn((await mail.nextTo(UMA.email, { since })).text)
    const form = await browser.navigate(link)
    const done = await submit(browser, form, '/self-service/reset-password', { password: UMA_NEW, confirm: UMA_NEW })
    expect(done.status).toBe(200)
    // No interaction was remembered for this reset: back to the account area.
    expect(done.body).toContain('href="/account">Sign in to your account</a>')

    const req = await authorizationRequest()
    const callback = await signIn(new HttpBrowser(iam.issuer), req.href, { login: UMA.email, password: UMA_NEW })
    expect(callback.searchParams.get('code')).toBeTruthy()
  }, 60_000)

  it('two uses of one link at the same moment: exactly one sets its password', async () => {
    const since = mail.messages.length
    await askForLink(UMA.email)
    const link = resetLinkIn((await mail.nextTo(UMA.email, { since })).text)
    const [a, b] = [new HttpBrowser(iam.issuer), new HttpBrowser(iam.issuer)]
    const [formA, formB] = [await a.navigate(link), await b.navigate(link)]
    const candidates = ['amber gulls circle the stone pier', 'silver foxes nap under old oaks']
    const results = await Promise.all([
      submit(a, formA, '/self-service/reset-password', { password: candidates[0]!, confirm: candidates[0]! }),
      submit(b, formB, '/self-service/reset-password', { password: candidates[1]!, confirm: candidates[1]! }),
    ])
    expect(results.map((r) => r.status).sort()).toEqual([200, 410])
    const winner = candidates[results.findIndex((r) => r.status === 200)]!
    const loser = candidates.find((c) => c !== winner)!
    const req = await authorizationRequest()
    const browser = new HttpBrowser(iam.issuer)
    const page = await browser.navigate(req.href)
    expect((await submit(browser, page, '/login', { login: UMA.email, password: loser })).status).toBe(400)
    const callback = await signIn(browser, req.href, { login: UMA.email, password: winner })
    expect(callback.searchParams.get('code')).toBeTruthy()
  }, 60_000)

  it('an expired link, a replaced link and a mangled one each get a clear page with a way to a new link', async () => {
    const since = mail.messages.length
    await askForLink(RITA.email)
    const first = resetLinkIn((await mail.nextTo(RITA.email, { since })).text)
    const since2 = mail.messages.length
    await askForLink(RITA.email)
    const second = resetLinkIn((await mail.nextTo(RITA.email, { since: since2 })).text)

    const browser = new HttpBrowser(iam.issuer)
    // The newer link voids the older once it has been sent (moments after the mail is accepted).
    await expect.poll(async () => (await browser.navigate(first)).status, { timeout: 5000 }).toBe(404)
    const replaced = await browser.navigate(first)
    expect(alertOf(replaced.body)).toMatch(/^This link is not valid\. It may have been copied incompletely, or replaced by a newer link we sent you\./)
    expect(replaced.body).toContain('href="/self-service/forgot-password"')

    const form = await browser.navigate(second)
    expect(form.status).toBe(200)
    moveClock(16 * MINUTE)
    const expired = await browser.navigate(second)
    expect(expired.status).toBe(410)
    expect(h1Of(expired.body)).toBe('Link expired')
    expect(alertOf(expired.body)).toBe('This link has expired. Ask for a new link to choose your password; it works for 15 minutes.')
    expect(expired.body).toContain('href="/self-service/forgot-password">Get a new link</a>')
    // A form left open past the expiry is refused the same way, and the password stays.
    const late = await submit(browser, form, '/self-service/reset-password', { password: 'a password that never lands', confirm: 'a password that never lands' })
    expect(late.status).toBe(410)

    for (const bad of ['/self-service/reset-password', '/self-service/reset-password?token=abc', `/self-service/reset-password?token=${'A'.repeat(43)}`]) {
      const res = await browser.navigate(url(bad))
      expect(res.status, bad).toBe(404)
      expect(h1Of(res.body), bad).toBe('Link not usable')
    }
  }, 60_000)

  it('when the mail server refuses the message, the answer is the same and no usable link is left behind', async () => {
    const before = await dbNow((prisma) => prisma.accountToken.count({ where: { email: RITA.email, purpose: 'reset_password', usedAt: null } }))
    mail.refuse(true)
    try {
      const res = await askForLink(RITA.email)
      expect(res.status).toBe(200)
      expect(h1Of(res.body)).toBe('Check your email')
      // The send happens after the answer; give it time to fail.
      await sleep(1000)
    } finally {
      mail.refuse(false)
    }
    const after = await dbNow((prisma) => prisma.accountToken.count({ where: { email: RITA.email, purpose: 'reset_password', usedAt: null } }))
    // The failed link was deleted; the one already delivered is untouched.
    expect(after).toBe(before)
  }, 60_000)

  it('when the mail server is down, every address gets the same clear page, and nothing is stored', async () => {
    const count = () => dbNow((prisma) => prisma.accountToken.count({ where: { purpose: 'reset_password' } }))
    const before = await count()
    await mail.close()
    const known = await askForLink(RITA.email)
    const unknown = await askForLink(NOBODY)
    for (const res of [known, unknown]) {
      expect(res.status).toBe(503)
      expect(h1Of(res.body)).toBe('We cannot send email right now')
      expect(alertOf(res.body)).toBe('Our mail server is not answering, so we cannot send you a link. Nothing was changed. Please try again in a few minutes.')
      expect(res.body).toContain('href="/self-service/forgot-password">Try again</a>')
    }
    const normal = (res: PageResponse) => res.body.replace(/name="csrf" value="[^"]*"/g, '')
    expect(normal(known)).toBe(normal(unknown))
    expect(await count()).toBe(before)
  }, 60_000)

  it('wrote an audit row for each request, reset and refusal, with no secret in them', async () => {
    const { rows, ids } = await dbNow(async (prisma) => ({
      rows: await prisma.auditEvent.findMany({ where: { type: { in: ['password_reset_requested', 'password_reset', 'sessions_revoked', 'session_ended'] } }, orderBy: { at: 'asc' } }),
      ids: Object.fromEntries((await prisma.user.findMany({ where: { email: { in: [RITA.email, UMA.email, DISABLED.email, FRED.email] } } })).map((u) => [u.email, u.id])),
    }))
    const events = rows.map((r) => ({ type: r.type, outcome: r.outcome, userId: r.userId, reason: (r.details as { reason?: string } | null)?.reason }))
    expect(events).toEqual(expect.arrayContaining([
      { type: 'password_reset_requested', outcome: 'failure', userId: null, reason: 'invalid_form' },
      { type: 'password_reset_requested', outcome: 'success', userId: ids[RITA.email], reason: undefined },
      { type: 'password_reset_requested', outcome: 'failure', userId: null, reason: 'no_account' },
      { type: 'password_reset_requested', outcome: 'failure', userId: ids[DISABLED.email], reason: 'disabled' },
      { type: 'password_reset_requested', outcome: 'failure', userId: ids[FRED.email], reason: 'no_password' },
      { type: 'password_reset', outcome: 'failure', userId: ids[RITA.email], reason: 'password_policy' },
      { type: 'password_reset', outcome: 'failure', userId: ids[RITA.email], reason: 'password_mismatch' },
      { type: 'password_reset', outcome: 'success', userId: ids[RITA.email], reason: undefined },
      { type: 'sessions_revoked', outcome: 'success', userId: ids[RITA.email], reason: 'password_reset' },
      { type: 'session_ended', outcome: 'success', userId: ids[RITA.email], reason: 'password_reset' },
      { type: 'password_reset', outcome: 'failure', userId: ids[RITA.email], reason: 'link_used' },
      { type: 'password_reset', outcome: 'success', userId: ids[UMA.email], reason: undefined },
      { type: 'password_reset', outcome: 'failure', userId: null, reason: 'link_unknown' },
      { type: 'password_reset', outcome: 'failure', userId: ids[RITA.email], reason: 'link_expired' },
      { type: 'password_reset_requested', outcome: 'failure', userId: ids[RITA.email], reason: 'mail_failed' },
      { type: 'password_reset_requested', outcome: 'failure', userId: null, reason: 'mail_unavailable' },
    ]))
    const revoked = rows.find((r) => r.type === 'sessions_revoked' && r.userId === ids[RITA.email])
    expect(revoked?.details).toMatchObject({ reason: 'password_reset', sessions: 1 })
    expect((revoked?.details as { grants: number }).grants).toBeGreaterThanOrEqual(1)
    const text = JSON.stringify(rows)
    for (const secret of [RITA_NEW, UMA_NEW, 'qwertyuiop123']) expect(text).not.toContain(secret)

    const state = await dbNow((prisma) => prisma.user.findUnique({ where: { email: UMA.email } }))
    expect(state).toMatchObject({ emailVerified: true, failedLogins: 0, lockedUntil: null, passwordExpired: false })
    expect(state?.passwordChangedAt).toBeInstanceOf(Date)
  }, 120_000)
})

describe('password reset requests are rate-limited (embedded)', () => {
  it('the 4th request for one address within the hour gets 429 with Retry-After, known or not, and the same page', async () => {
    const mail = await startMailCatcher()
    // The defaults per account (3 an hour); the per-IP one is wider here (every request is 127.0.0.1).
    const iam = await createIam('embedded', { env: { ...mail.env, RATE_LIMIT_RESET_ACCOUNT: '3/3600', RATE_LIMIT_RESET_IP: '100/3600' } })
    try {
      await iam.withDatabase(async (prisma) => {
        await createFixtures(prisma)
        await createUser(prisma, { ...RITA, emailVerified: true })
      })
      await iam.start()
      const ask = async (email: string) => {
        const browser = new HttpBrowser(iam.issuer)
        const form = formWithAction((await browser.navigate(`${iam.issuer}/self-service/forgot-password`)).body, '/self-service/forgot-password')
        return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, email } })
      }
      for (const email of [RITA.email, NOBODY]) {
        for (let i = 0; i < 3; i++) expect((await ask(email)).status, `${email} #${i + 1}`).toBe(200)
      }
      const known = await ask(RITA.email)
      const unknown = await ask(NOBODY)
      for (const res of [known, unknown]) {
        expect(res.status).toBe(429)
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(3000)
        expect(alertOf(res.body)).toMatch(/^Too many reset links were asked for\. Please wait, and try again in (\d+ minutes|1 hour)\.$/)
      }
      const normal = (res: PageResponse) => res.body.replace(/name="csrf" value="[^"]*"/g, '').replace(RITA.email, 'EMAIL').replace(NOBODY, 'EMAIL')
      expect(normal(known)).toBe(normal(unknown))
      // Only the three allowed requests for Rita sent mail.
      await sleep(500)
      expect(mail.messages.filter((m) => m.to.includes(RITA.email))).toHaveLength(3)
    } finally {
      await iam.close()
      await mail.close()
    }
  }, 120_000)
})

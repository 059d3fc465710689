// Creating an account, in both storage modes, through the real pages with mail read from a real
// SMTP server: open registration with an email link (held at sign-in until the address is
// confirmed), invitations made with `iam user invite`, tenants closed to registration, expired and
// reused links, a registration of an address that already has an account, a mail server that
// refuses, and the audit rows of each. The clock the links read is moved through CLOCK_OFFSET_FILE.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { createMovableClock } from '../support/movable-clock.ts'
import { alertOf, h1Of } from '../support/page-text.ts'
import { HttpBrowser, formWithAction, formsOf, type PageResponse } from '../support/browser.ts'
import { ALICE, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { startMailCatcher, type MailCatcher } from '../support/smtp.ts'
import { createClient } from '../../src/clients/registry.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const root = path.resolve(import.meta.dirname, '../..')
const HOUR = 3600_000

const NINA = { email: 'nina@example.test', name: 'Nina New', password: 'nine lanterns drift over quiet harbours' }
const OSCAR = { email: 'oscar@example.test', password: 'oscar keeps bees behind the old mill' }
const IVY = { email: 'ivy@example.test', name: 'Ivy Invited', password: 'ivy paints blue herons every sunday' }
const PAUL = { email: 'paul@example.test', password: 'paul waits for the late ferry home' }

const noticeOf = (html: string) => /role="status"[^>]*>([^<]*)</.exec(html)?.[1]?.trim()
const linkIn = (text: string, pathname: string) => {
  const found = new RegExp(`https?://[^\\s]+${pathname.replace(/\//g, '\\/')}\\?token=[A-Za-z0-9_-]+`).exec(text)?.[0]
  if (!found) throw new Error(`no ${pathname} link in:\n${text}`)
  return found
}

describe.each(STORAGE_MODES)('registration (%s)', (mode) => {
  let iam: IamInstance
  let mail: MailCatcher
  let spa: oidc.Configuration
  const clock = createMovableClock()
  const url = (p: string) => `${iam.issuer}${p}`

  beforeAll(async () => {
    mail = await startMailCatcher()
    iam = await createIam(mode, {
      env: {
        ...mail.env, REGISTRATION_MODE: 'open', ...clock.env,
        // Everyone here is 127.0.0.1: the per-IP limits are not what this file tests.
        RATE_LIMIT_REGISTRATION_IP: '1000/3600', RATE_LIMIT_SIGN_IN_IP: '1000/300', RATE_LIMIT_CODE_SEND_IP: '1000/3600',
      },
    })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      const closed = await prisma.tenant.create({ data: { slug: 'closed-co', name: 'Closed Co', registrationMode: 'closed' } })
      const invite = await prisma.tenant.create({ data: { slug: 'invite-co', name: 'Invite Co', registrationMode: 'invite' } })
      await createClient(prisma, { clientId: 'closed-app', name: 'Closed App', kind: 'spa', tenantId: closed.id, redirectUris: [SPA_REDIRECT] })
      await createClient(prisma, { clientId: 'invite-app', name: 'Invite App', kind: 'spa', tenantId: invite.id, redirectUris: [SPA_REDIRECT] })
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  })
  afterAll(async () => {
    await iam?.close()
    await mail?.close()
  })

  const moveClock = (ms: number) => clock.advance(ms)

  const dbNow = <T>(fn: (prisma: PrismaClient) => Promise<T>) => iam.databaseNow(fn)

  /** Runs the command line (`iam …`) against this server's database. */
  async function cli(args: string[]): Promise<{ code: number; out: string }> {
    const run = () => new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['src/main.ts', ...args], { cwd: root, env: { ...process.env, ...iam.env } })
      let out = ''
      child.stdout.on('data', (d: Buffer) => { out += d })
      child.stderr.on('data', (d: Buffer) => { out += d })
      child.on('exit', (code) => resolve({ code: code ?? -1, out }))
    })
    if (mode === 'postgres-redis') return run()
    await iam.stop()
    try {
      return await run()
    } finally {
      await iam.start()
    }
  }

  /** A fresh browser at the login page of `clientId`; with the PKCE verifier to redeem the code. */
  async function loginPage(clientId = 'spa') {
    const browser = new HttpBrowser(iam.issuer)
    const verifier = oidc.randomPKCECodeVerifier()
    const client = clientId === 'spa' ? spa : await oidc.discovery(new URL(iam.issuer), clientId, undefined, oidc.None(), insecure)
    const authorize = oidc.buildAuthorizationUrl(client, { redirect_uri: SPA_REDIRECT, scope: 'openid email', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const page = await browser.navigate(authorize.href)
    expect(page.body).toContain('<h1>Sign in</h1>')
    return { browser, page, verifier, client, uid: /\/interaction\/([^/"]+)\/login"/.exec(page.body)![1]! }
  }

  function submit(browser: HttpBrowser, page: PageResponse, suffix: string, fields: Record<string, string> = {}) {
    const form = formWithAction(page.body, suffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }

  async function signInHere(browser: HttpBrowser, page: PageResponse, who: { email: string; password: string }) {
    return submit(browser, page, '/login', { login: who.email, password: who.password })
  }

  /** Redeems the code the app got (pressing Allow on consent if asked): what userinfo says of the person. */
  async function redeem(browser: HttpBrowser, res: PageResponse, client: oidc.Configuration, verifier: string) {
    if (new URL(res.url).origin === iam.issuer && /\/consent"/.test(res.body)) res = await submit(browser, res, '/consent')
    const callback = new URL(res.url)
    expect(callback.origin + callback.pathname).toBe(SPA_REDIRECT)
    const tokens = await oidc.authorizationCodeGrant(client, callback, { pkceCodeVerifier: verifier })
    return oidc.fetchUserInfo(client, tokens.access_token, tokens.claims()!.sub)
  }

  it('open registration: a listed password is refused on the page, then the account is made and a link mailed', async () => {
    const { browser, page, uid } = await loginPage()
    expect(page.body).toContain(`href="/interaction/${uid}/register"`)
    expect(page.body).toContain(`href="/self-service/forgot-password?interaction=${uid}"`)

    const form = await browser.navigate(url(`/interaction/${uid}/register`))
    expect(form.status).toBe(200)
    expect(h1Of(form.body)).toBe('Create an account')
    expect(form.body).toContain('Use at least 12 characters. A few unrelated words make a strong, memorable passphrase. Common passwords are refused.')

    const listed = await submit(browser, form, '/register', { email: NINA.email, name: NINA.name, password: 'password1234', confirm: 'password1234' })
    expect(listed.status).toBe(400)
    expect(alertOf(listed.body)).toBe('This password is on a list of common or leaked passwords, so attackers try it first. Choose another: a few unrelated words make a strong passphrase.')
    expect(listed.body).toMatch(/id="new-password"[^>]*aria-invalid="true"/)
    // What was typed stays, except the passwords.
    expect(listed.body).toContain(`value="${NINA.email}"`)
    expect(listed.body).not.toContain('password1234')

    const short = await submit(browser, listed, '/register', { email: NINA.email, password: 'too short', confirm: 'too short' })
    expect(alertOf(short.body)).toBe('Use at least 12 characters.')
    const mismatch = await submit(browser, short, '/register', { email: NINA.email, password: NINA.password, confirm: `${NINA.password}!` })
    expect(alertOf(mismatch.body)).toBe('The two passwords do not match.')
    expect(await dbNow((prisma) => prisma.user.count({ where: { email: NINA.email } }))).toBe(0)

    const since = mail.messages.length
    const page2 = await browser.navigate(url(`/interaction/${uid}/register`))
    const done = await submit(browser, page2, '/register', { email: NINA.email, name: NINA.name, password: NINA.password, confirm: NINA.password })
    expect(done.status).toBe(200)
    expect(h1Of(done.body)).toBe('Check your email')
    expect(done.body).toContain(`We sent an email to ${NINA.email}.`)
    expect(done.body).toContain(`href="/interaction/${uid}"`)
    const message = await mail.nextTo(NINA.email, { since })
    expect(message.subject).toBe('Confirm your email address for Identity')
    expect(message.text).toContain('expires in 24 hours')
    linkIn(message.text, '/self-service/verify-email')
  }, 60_000)

  let ninaFirstLink = ''
  it('holds the unverified account at sign-in (only with the right password), and sends a new link on request, throttled', async () => {
    ninaFirstLink = linkIn((await mail.nextTo(NINA.email)).text, '/self-service/verify-email')
    const { browser, page } = await loginPage()
    // A wrong password says what it says for anyone: nothing about the account's state.
    const wrong = await signInHere(browser, page, { email: NINA.email, password: 'not the password at all' })
    expect(wrong.status).toBe(400)
    expect(wrong.body).not.toContain('Confirm your email')

    const held = await signInHere(browser, wrong, NINA)
    expect(held.status).toBe(403)
    expect(h1Of(held.body)).toBe('Confirm your email address first')
    expect(held.body).toContain('n•••@example.test')

    // The registration mail went out a moment ago: a new one only after a minute.
    const throttled = await submit(browser, held, '/verify-email/resend')
    expect(throttled.status).toBe(429)
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(alertOf(throttled.body)).toMatch(/^We sent you a link a moment ago: look for that one first\. Please wait, and try again in (\d+ seconds|1 minute)\.$/)

    moveClock(61_000)
    const since = mail.messages.length
    const resent = await submit(browser, throttled, '/verify-email/resend')
    expect(resent.status).toBe(200)
    expect(noticeOf(resent.body)).toBe('We sent a new link to n•••@example.test. It works for 24 hours; earlier links no longer do.')
    const second = linkIn((await mail.nextTo(NINA.email, { since })).text, '/self-service/verify-email')
    expect(second).not.toBe(ninaFirstLink)

    // The first link was replaced by the new one.
    const replaced = await new HttpBrowser(iam.issuer).navigate(ninaFirstLink)
    expect(replaced.status).toBe(404)
    expect(alertOf(replaced.body)).toMatch(/^This link is not valid\. It may have been copied incompletely, or replaced by a newer link we sent you\. Sign in with your email and password: we will offer to send you a new link\.$/)
    expect(replaced.body).toContain('href="/account"')
  }, 60_000)

  it('verifies the address with the link (a GET only shows the button), once; then the sign-in goes through', async () => {
    const link = linkIn((await mail.nextTo(NINA.email)).text, '/self-service/verify-email')
    const browser = new HttpBrowser(iam.issuer)
    // A mail scanner's GET does not use the link up.
    for (let i = 0; i < 2; i++) {
      const shown = await browser.navigate(link)
      expect(shown.status).toBe(200)
      expect(h1Of(shown.body)).toBe('Confirm your email address')
      expect(shown.body).toContain(NINA.email)
    }
    const shown = await browser.navigate(link)
    const verified = await submit(browser, shown, '/self-service/verify-email')
    expect(verified.status).toBe(200)
    expect(h1Of(verified.body)).toBe('Your email address is confirmed')

    const again = await submit(browser, shown, '/self-service/verify-email')
    expect(again.status).toBe(410)
    expect(alertOf(again.body)).toBe('This link has already been used. Each link works once. If you confirmed your address with it, you can simply sign in.')
    expect((await browser.navigate(link)).status).toBe(410)

    const { browser: app, page, verifier, client } = await loginPage()
    const claims = await redeem(app, await signInHere(app, page, NINA), client, verifier)
    expect(claims.email).toBe(NINA.email)
    expect(claims.email_verified).toBe(true)
  }, 60_000)

  it('an expired verification link says so and how to get a new one; the new one works', async () => {
    const { browser, page, uid } = await loginPage()
    const form = await browser.navigate(url(`/interaction/${uid}/register`))
    const since = mail.messages.length
    await submit(browser, form, '/register', { email: OSCAR.email, password: OSCAR.password, confirm: OSCAR.password })
    const link = linkIn((await mail.nextTo(OSCAR.email, { since })).text, '/self-service/verify-email')

    moveClock(25 * HOUR)
    const reader = new HttpBrowser(iam.issuer)
    const expired = await reader.navigate(link)
    expect(expired.status).toBe(410)
    expect(h1Of(expired.body)).toBe('Link expired')
    expect(alertOf(expired.body)).toBe('This link has expired. Sign in with your email and password: we will offer to send you a new link.')
    expect(expired.body).toContain('href="/account"')
    // Posting it anyway (a page left open) is refused the same way.
    const csrf = formsOf((await reader.navigate(url('/self-service/forgot-password'))).body)[0]!.fields.csrf!
    const posted = await reader.navigate(url('/self-service/verify-email'), { form: { csrf, token: new URL(link).searchParams.get('token')! } })
    expect(posted.status).toBe(410)

    const fresh = await loginPage()
    const held = await signInHere(fresh.browser, fresh.page, OSCAR)
    expect(h1Of(held.body)).toBe('Confirm your email address first')
    const resendSince = mail.messages.length
    expect((await submit(fresh.browser, held, '/verify-email/resend')).status).toBe(200)
    const newLink = linkIn((await mail.nextTo(OSCAR.email, { since: resendSince })).text, '/self-service/verify-email')
    const shown = await reader.navigate(newLink)
    expect((await submit(reader, shown, '/self-service/verify-email')).status).toBe(200)
  }, 60_000)

  it('registering an address that already has an account answers the same, and mails its owner instead', async () => {
    const newcomer = await loginPage()
    const newForm = await newcomer.browser.navigate(url(`/interaction/${newcomer.uid}/register`))
    const fresh = await submit(newcomer.browser, newForm, '/register', { email: PAUL.email, password: PAUL.password, confirm: PAUL.password })

    const taker = await loginPage()
    const takeForm = await taker.browser.navigate(url(`/interaction/${taker.uid}/register`))
    const since = mail.messages.length
    const taken = await submit(taker.browser, takeForm, '/register', { email: ALICE.email, password: 'someone else entirely typed this', confirm: 'someone else entirely typed this' })

    expect(taken.status).toBe(fresh.status)
    const normalise = (page: PageResponse, email: string, uid: string) => page.body
      .replaceAll(email, 'EMAIL').replaceAll(uid, 'UID').replace(/name="csrf" value="[^"]*"/g, 'name="csrf" value=""')
    expect(normalise(taken, ALICE.email, taker.uid)).toBe(normalise(fresh, PAUL.email, newcomer.uid))

    const notice = await mail.nextTo(ALICE.email, { since })
    expect(notice.subject).toBe('Someone tried to sign up for Identity with your address')
    expect(notice.text).toContain(url('/self-service/forgot-password'))
    expect(notice.text).not.toMatch(/token=/)
    // Alice's account is untouched: her password still works.
    const { browser, page, verifier, client } = await loginPage()
    expect((await redeem(browser, await signInHere(browser, page, ALICE), client, verifier)).email).toBe(ALICE.email)
  }, 60_000)

  it('a closed tenant offers no registration, and its routes refuse with a clear page', async () => {
    const { browser, page, uid } = await loginPage('closed-app')
    expect(page.body).not.toContain('/register"')
    expect(page.body).not.toContain('Create an account')
    const get = await browser.navigate(url(`/interaction/${uid}/register`))
    expect(get.status).toBe(403)
    expect(h1Of(get.body)).toBe('Registration is closed')
    expect(get.body).toContain(`href="/interaction/${uid}"`)
    const csrf = formWithAction(page.body, '/login').fields.csrf!
    const post = await browser.navigate(url(`/interaction/${uid}/register`), { form: { csrf, email: 'sneaky@example.test', password: PAUL.password, confirm: PAUL.password } })
    expect(post.status).toBe(403)
    expect(await dbNow((prisma) => prisma.user.count({ where: { email: 'sneaky@example.test' } }))).toBe(0)
  }, 60_000)

  let invitation = ''
  it('an invitation-only tenant: no self-registration; `iam user invite` prints a link that creates a verified account', async () => {
    const { browser, page, uid } = await loginPage('invite-app')
    expect(page.body).not.toContain('Create an account')
    const refused = await browser.navigate(url(`/interaction/${uid}/register`))
    expect(refused.status).toBe(403)
    expect(alertOf(refused.body)).toMatch(/^Accounts here are created by invitation only\./)

    const closed = await cli(['user', 'invite', 'nobody@example.test', '--tenant', 'closed-co'])
    expect(closed.code).toBe(2)
    expect(closed.out).toContain('registration is closed for this tenant')

    const made = await cli(['user', 'invite', IVY.email, '--tenant', 'invite-co'])
    expect(made.code, made.out).toBe(0)
    invitation = linkIn(made.out, '/self-service/invitation')

    const invited = new HttpBrowser(iam.issuer)
    const form = await invited.navigate(invitation)
    expect(form.status).toBe(200)
    expect(form.body).toContain(`You were invited to create an account for <strong>${IVY.email}</strong>`)
    expect(form.body).not.toContain('name="email"')

    const weak = await submit(invited, form, '/self-service/invitation', { name: IVY.name, password: 'aaaaaaaaaaaaaaaa', confirm: 'aaaaaaaaaaaaaaaa' })
    expect(weak.status).toBe(400)
    expect(alertOf(weak.body)).toMatch(/^Repeated characters like "aaa" are easy to guess\./)
    const ready = await submit(invited, weak, '/self-service/invitation', { name: IVY.name, password: IVY.password, confirm: IVY.password })
    expect(ready.status).toBe(200)
    expect(h1Of(ready.body)).toBe('Your account is ready')

    // The link proved the address: no hold, straight into the application.
    const app = await loginPage('invite-app')
    const claims = await redeem(app.browser, await signInHere(app.browser, app.page, IVY), app.client, app.verifier)
    expect(claims.email).toBe(IVY.email)
    expect(claims.email_verified).toBe(true)
    const user = await dbNow((prisma) => prisma.user.findUnique({ where: { email: IVY.email }, include: { tenant: true } }))
    expect(user?.tenant.slug).toBe('invite-co')
    expect(user?.displayName).toBe(IVY.name)

    const reused = await new HttpBrowser(iam.issuer).navigate(invitation)
    expect(reused.status).toBe(410)
    expect(alertOf(reused.body)).toBe('This link has already been used. Each link works once. Ask the person who invited you to send a new invitation.')
  }, 120_000)

  it('when the mail server refuses, registration says so and keeps nothing', async () => {
    const { browser, uid } = await loginPage()
    const form = await browser.navigate(url(`/interaction/${uid}/register`))
    mail.refuse(true)
    try {
      const failed = await submit(browser, form, '/register', { email: 'quinn@example.test', password: 'quinn sails north past the lighthouse', confirm: 'quinn sails north past the lighthouse' })
      expect(failed.status).toBe(503)
      expect(h1Of(failed.body)).toBe('We could not send the email')
      expect(alertOf(failed.body)).toContain('Nothing was saved. Please try again in a few minutes.')
      expect(failed.body).toContain(`href="/interaction/${uid}/register"`)
    } finally {
      mail.refuse(false)
    }
    const left = await dbNow(async (prisma) => ({
      users: await prisma.user.count({ where: { email: 'quinn@example.test' } }),
      links: await prisma.accountToken.count({ where: { email: 'quinn@example.test' } }),
    }))
    expect(left).toEqual({ users: 0, links: 0 })
  }, 60_000)

  it('wrote an audit row for each event and refusal', async () => {
    const { rows, users } = await dbNow(async (prisma) => ({
      rows: await prisma.auditEvent.findMany({
        where: { type: { in: ['registration', 'email_verified', 'email_verification_sent', 'login', 'invitation_created'] } },
        orderBy: { at: 'asc' },
      }),
      users: await prisma.user.findMany({ where: { email: { in: [NINA.email, OSCAR.email, IVY.email, ALICE.email] } } }),
    }))
    const idOf = (email: string) => users.find((u) => u.email === email)!.id
    const events = rows.map((r) => ({ type: r.type, outcome: r.outcome, userId: r.userId, clientId: r.clientId, reason: (r.details as { reason?: string } | null)?.reason, method: (r.details as { method?: string } | null)?.method }))

    expect(events).toEqual(expect.arrayContaining([
      expect.objectContaining({ type: 'registration', outcome: 'failure', clientId: 'spa', reason: 'password_policy' }),
      expect.objectContaining({ type: 'registration', outcome: 'failure', clientId: 'spa', reason: 'password_mismatch' }),
      expect.objectContaining({ type: 'registration', outcome: 'success', userId: idOf(NINA.email), clientId: 'spa', method: 'open' }),
      expect.objectContaining({ type: 'email_verification_sent', outcome: 'success', userId: idOf(NINA.email), reason: 'registration' }),
      expect.objectContaining({ type: 'login', outcome: 'failure', userId: idOf(NINA.email), reason: 'email_unverified' }),
      expect.objectContaining({ type: 'email_verification_sent', outcome: 'failure', userId: idOf(NINA.email), reason: 'throttled' }),
      expect.objectContaining({ type: 'email_verification_sent', outcome: 'success', userId: idOf(NINA.email), reason: 'resend' }),
      expect.objectContaining({ type: 'email_verified', outcome: 'failure', reason: 'link_unknown' }),
      expect.objectContaining({ type: 'email_verified', outcome: 'success', userId: idOf(NINA.email) }),
      expect.objectContaining({ type: 'email_verified', outcome: 'failure', userId: idOf(NINA.email), reason: 'link_used' }),
      expect.objectContaining({ type: 'email_verified', outcome: 'failure', userId: idOf(OSCAR.email), reason: 'link_expired' }),
      expect.objectContaining({ type: 'email_verified', outcome: 'success', userId: idOf(OSCAR.email) }),
      expect.objectContaining({ type: 'registration', outcome: 'failure', userId: idOf(ALICE.email), reason: 'email_taken' }),
      expect.objectContaining({ type: 'registration', outcome: 'failure', clientId: 'closed-app', reason: 'mode_closed' }),
      expect.objectContaining({ type: 'registration', outcome: 'failure', clientId: 'invite-app', reason: 'mode_invite' }),
      expect.objectContaining({ type: 'invitation_created', outcome: 'success' }),
      expect.objectContaining({ type: 'registration', outcome: 'failure', reason: 'password_policy', method: 'invite' }),
      expect.objectContaining({ type: 'registration', outcome: 'success', userId: idOf(IVY.email), method: 'invite' }),
      expect.objectContaining({ type: 'registration', outcome: 'failure', reason: 'link_used', method: undefined }),
      expect.objectContaining({ type: 'registration', outcome: 'failure', reason: 'mail_failed', clientId: 'spa' }),
    ]))
    // Nothing secret in the audit trail: no passwords, no link tokens.
    const text = JSON.stringify(rows)
    for (const secret of [NINA.password, OSCAR.password, IVY.password, 'password1234', new URL(ninaFirstLink).searchParams.get('token')!, new URL(invitation).searchParams.get('token')!]) {
      expect(text).not.toContain(secret)
    }
  }, 120_000)
})

describe('registration settings (embedded)', () => {
  it('with REQUIRE_VERIFIED_EMAIL=false a new account signs in right away; its link still verifies it', async () => {
    const mail = await startMailCatcher()
    const iam = await createIam('embedded', { env: { ...mail.env, REGISTRATION_MODE: 'open', REQUIRE_VERIFIED_EMAIL: 'false' } })
    try {
      await iam.withDatabase((prisma) => createFixtures(prisma))
      await iam.start()
      const spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
      const browser = new HttpBrowser(iam.issuer)
      const verifier = oidc.randomPKCECodeVerifier()
      const authorize = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid email', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
      const login = await browser.navigate(authorize.href)
      const uid = /\/interaction\/([^/"]+)\/login"/.exec(login.body)![1]!
      const form = await browser.navigate(`${iam.issuer}/interaction/${uid}/register`)
      const f = formWithAction(form.body, '/register')
      let done = await browser.navigate(new URL(f.action, iam.issuer).href, { form: { ...f.fields, email: PAUL.email, password: PAUL.password, confirm: PAUL.password } })
      expect(done.body).toContain('/consent"')
      const consent = formWithAction(done.body, '/consent')
      done = await browser.navigate(new URL(consent.action, iam.issuer).href, { form: consent.fields })
      const callback = new URL(done.url)
      expect(callback.origin + callback.pathname).toBe(SPA_REDIRECT)
      const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier })
      const claims = await oidc.fetchUserInfo(spa, tokens.access_token, tokens.claims()!.sub)
      expect(claims.email).toBe(PAUL.email)
      expect(claims.email_verified).toBe(false)
      // The mail went out all the same, and verifies the address.
      const link = linkIn((await mail.nextTo(PAUL.email)).text, '/self-service/verify-email')
      const shown = await browser.navigate(link)
      const v = formWithAction(shown.body, '/self-service/verify-email')
      expect((await browser.navigate(new URL(v.action, iam.issuer).href, { form: v.fields })).status).toBe(200)
    } finally {
      await iam.close()
      await mail.close()
    }
  }, 120_000)

  it('without SMTP: no registration or reset links, and their pages say they are not available', async () => {
    const iam = await createIam('embedded', { env: { REGISTRATION_MODE: 'open' } })
    try {
      await iam.withDatabase((prisma) => createFixtures(prisma))
      await iam.start()
      const spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
      const browser = new HttpBrowser(iam.issuer)
      const authorize = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' })
      const login = await browser.navigate(authorize.href)
      expect(login.body).toContain('<h1>Sign in</h1>')
      expect(login.body).not.toContain('Create an account')
      expect(login.body).not.toContain('Forgot your password?')
      const uid = /\/interaction\/([^/"]+)\/login"/.exec(login.body)![1]!
      const register = await browser.navigate(`${iam.issuer}/interaction/${uid}/register`)
      expect(register.status).toBe(404)
      expect(h1Of(register.body)).toBe('Registration is not available')
      const forgot = await browser.navigate(`${iam.issuer}/self-service/forgot-password`)
      expect(forgot.status).toBe(404)
      expect(h1Of(forgot.body)).toBe('Password reset is not available')
      expect(forgot.body).toContain('href="/account"')
    } finally {
      await iam.close()
    }
  }, 120_000)
})

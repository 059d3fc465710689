// Brute-force lockout through the real sign-in page: five wrong passwords from one address lock
// that address out of the account for fifteen minutes, while the owner elsewhere still signs in;
// twenty from anywhere lock the account everywhere, longer each time. A locked account looks
// exactly like a wrong password or an unknown account, the lock ends when (moved) time passes or
// when an operator unlocks it, and every step is audited. Addresses come from X-Forwarded-For
// (TRUST_PROXY=true); requests without one come from 127.0.0.1. Time moves through
// CLOCK_OFFSET_FILE: nothing here waits. A browser that signed in to an account before (its
// device cookie) is held by neither the account-wide lock nor the per-account rate limit.
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { createMovableClock } from '../support/movable-clock.ts'
import { HttpBrowser, formWithAction, type PageResponse } from '../support/browser.ts'
import { SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { createUser } from '../../src/identity/users.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'

const run = promisify(execFile)
const root = path.resolve(import.meta.dirname, '../..')
const insecure = { execute: [oidc.allowInsecureRequests] }
const MINUTE = 60_000

// One person per test, so the tests do not share failure counts.
const LENA = { email: 'lena@example.test', username: 'lena', password: 'lena has a long passphrase' }
const WENDY = { email: 'wendy@example.test', password: 'wendy has a long passphrase' }
const ULLA = { email: 'ulla@example.test', password: 'ulla has a long passphrase' }
const CONRAD = { email: 'conrad@example.test', password: 'conrad has a long passphrase' }
const OWEN = { email: 'owen@example.test', username: 'owen', password: 'owen has a long passphrase' }
const DORA = { email: 'dora-dist@example.test', password: 'dora has a long passphrase' }
const IRIS = { email: 'iris@example.test', password: 'iris has a long passphrase' }
const PIA = { email: 'pia@example.test', password: 'pia has a long passphrase' }
const KAI = { email: 'kai@example.test', password: 'kai has a long passphrase' }
/** Sign-in attempts per typed account within ten minutes (real time): roomy for the tests that count to a lock. */
const ACCOUNT_LIMIT = 50
const SAME_REFUSAL = 'Wrong email, username or password. Try again or reset your password. After too many tries, sign-in pauses for at least 15 minutes.'

describe.each(STORAGE_MODES)('brute-force lockout (%s)', (mode) => {
  let iam: IamInstance
  let spa: oidc.Configuration
  const clock = createMovableClock()
  const startedAt = new Date()

  beforeAll(async () => {
    // A server away from UTC: lock times are stored in UTC and must be read back as UTC (the
    // embedded database's raw reads once took them for local time: a 15-minute lock lasted 5 h 15).
    iam = await createIam(mode, { env: { ...clock.env, TZ: 'America/New_York', TRUST_PROXY: 'true', RATE_LIMIT_SIGN_IN_ACCOUNT: `${ACCOUNT_LIMIT}/600` } })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      for (const person of [LENA, WENDY, ULLA, CONRAD, OWEN, DORA, IRIS, PIA, KAI]) await createUser(prisma, { ...person, emailVerified: true })
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  })
  afterAll(async () => {
    await iam?.close()
  })

  let moved = 0
  const advance = (ms: number) => { moved += ms; clock.advance(ms) }
  /** The server's time: ours, moved as far as the tests moved it. */
  const serverNow = () => Date.now() + moved

  /** A fresh browser (or `browser`, asked to sign in again) at the login page of a new authorization request. */
  async function loginPage(again?: HttpBrowser) {
    const browser = again ?? new HttpBrowser(iam.issuer)
    const url = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: SPA_REDIRECT, scope: 'openid', ...(again ? { prompt: 'login' } : {}),
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    })
    const page = await browser.navigate(url.href)
    expect(page.body).toContain('name="password"')
    return { browser, page }
  }

  /** Posts the login form of `page` (the same interaction every time), from `from` when given. */
  async function attempt(browser: HttpBrowser, page: PageResponse, login: string, password: string, from?: string) {
    const form = formWithAction(page.body, '/login')
    if (!from) return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login, password } })
    const res = await browser.request(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login, password }, headers: { 'x-forwarded-for': from } })
    // Followed on (without the header: the next steps do not count attempts) as navigate would.
    const location = res.headers.get('location')
    return location ? browser.navigate(new URL(location, iam.issuer).href) : res
  }

  const alert = (page: PageResponse) => /role="alert"[^>]*>([^<]*)</.exec(page.body)?.[1]
  const signedIn = (res: PageResponse) => new URL(res.url).origin + new URL(res.url).pathname === SPA_REDIRECT || /\/consent"/.test(res.body)
  /** The page without what differs per request or per typed login: CSRF token, script nonce, the login echoed back. */
  const normalised = (page: PageResponse) => page.body
    .replace(/name="csrf" value="[^"]*"/g, 'name="csrf" value=""')
    .replace(/ nonce="[^"]*"/g, '')
    .replace(/(id="login"[^>]*value=")[^"]*"/, '$1"')

  async function failTimes(login: string, times: number, from?: string) {
    const { browser, page } = await loginPage()
    let last = page
    for (let i = 0; i < times; i++) {
      last = await attempt(browser, page, login, 'not the password at all', from)
      expect(last.status).toBe(400)
      expect(alert(last)).toBe(SAME_REFUSAL)
    }
    return last
  }

  /** Direct database access (embedded: only while the server is stopped, so it restarts after). */
  async function withDb<T>(fn: (prisma: PrismaClient) => Promise<T>): Promise<T> {
    if (mode === 'embedded') await iam.stop()
    try {
      return await iam.withDatabase(fn)
    } finally {
      if (mode === 'embedded') await iam.start()
    }
  }

  it('locks after five failures: the right password is then refused exactly like a wrong one or an unknown account', async () => {
    await failTimes(LENA.email, 5)

    const { browser, page } = await loginPage()
    const right = await attempt(browser, page, LENA.email, LENA.password)
    const wrong = await attempt(browser, page, LENA.email, 'still not the password')
    const byUsername = await attempt(browser, page, LENA.username, LENA.password)
    const unknown = await attempt(browser, page, 'nobody-here@example.test', 'whatever password')
    for (const res of [right, wrong, byUsername, unknown]) {
      expect(res.status).toBe(400)
      expect(alert(res)).toBe(SAME_REFUSAL)
      expect(normalised(res)).toBe(normalised(unknown))
    }
  })

  it('opens the account again once the lock has run out (15 minutes on the server clock)', async () => {
    const { browser, page } = await loginPage()
    advance(14 * MINUTE)
    expect(alert(await attempt(browser, page, LENA.email, LENA.password))).toBe(SAME_REFUSAL)
    advance(MINUTE + 1_000)
    const res = await attempt(browser, page, LENA.email, LENA.password)
    expect(signedIn(res)).toBe(true)
  })

  it('counts failures within a 10-minute window only: four, then four more after the window, do not lock', async () => {
    await failTimes(WENDY.email, 4)
    advance(11 * MINUTE)
    await failTimes(WENDY.email, 4)
    const { browser, page } = await loginPage()
    expect(signedIn(await attempt(browser, page, WENDY.email, WENDY.password))).toBe(true)
    // The success cleared the count: four more failures still do not lock.
    await failTimes(WENDY.email, 4)
    const again = await loginPage()
    expect(signedIn(await attempt(again.browser, again.page, WENDY.email, WENDY.password))).toBe(true)
  })

  it('does not under-count failures that arrive at the same time', async () => {
    const { browser, page } = await loginPage()
    const results = await Promise.all(Array.from({ length: 5 }, () => attempt(browser, page, CONRAD.email, 'a wrong guess')))
    expect(results.map((r) => r.status)).toEqual([400, 400, 400, 400, 400])
    expect(alert(await attempt(browser, page, CONRAD.email, CONRAD.password))).toBe(SAME_REFUSAL)
    // The address is locked out of the account (not the account everywhere: see below).
    const locks = await withDb(async (prisma) => {
      const user = await prisma.user.findUniqueOrThrow({ where: { email: CONRAD.email } })
      return prisma.signInFailure.findMany({ where: { account: `u:${user.id}`, lockedUntil: { not: null } } })
    })
    expect(locks.map((l) => l.source)).toEqual(['127.0.0.1'])
  })

  it('a stranger failing from one address locks only that address out: the owner elsewhere signs in', async () => {
    const stranger = '203.0.113.7'
    await failTimes(OWEN.email, 5, stranger)
    // Locked for the stranger, even with the right password, and by username too.
    const fromStranger = await loginPage()
    expect(alert(await attempt(fromStranger.browser, fromStranger.page, OWEN.email, OWEN.password, stranger))).toBe(SAME_REFUSAL)
    expect(alert(await attempt(fromStranger.browser, fromStranger.page, OWEN.username, OWEN.password, stranger))).toBe(SAME_REFUSAL)
    // The owner, at home, is not locked out, and the stranger's hammering on goes nowhere.
    await failTimes(OWEN.email, 10, stranger)
    const atHome = await loginPage()
    expect(signedIn(await attempt(atHome.browser, atHome.page, OWEN.email, OWEN.password, '198.51.100.20'))).toBe(true)
    // The owner's success does not lift the stranger's lock.
    const again = await loginPage()
    expect(alert(await attempt(again.browser, again.page, OWEN.email, OWEN.password, stranger))).toBe(SAME_REFUSAL)
  })

  it('counts an IPv6 /64 as one address: a host cannot take a fresh allowance from each of its addresses', async () => {
    for (const host of ['a', 'b', 'c', 'd', 'e']) await failTimes(IRIS.email, 1, `2001:db8:7:1::${host}`)
    const sameBlock = await loginPage()
    expect(alert(await attempt(sameBlock.browser, sameBlock.page, IRIS.email, IRIS.password, '2001:db8:7:1:ffff::1'))).toBe(SAME_REFUSAL)
    const elsewhere = await loginPage()
    expect(signedIn(await attempt(elsewhere.browser, elsewhere.page, IRIS.email, IRIS.password, '2001:db8:7:2::1'))).toBe(true)
  })

  it('locks the account everywhere after twenty failures spread over addresses, longer at each further lock', async () => {
    // Four addresses, five failures each: each address is locked out, and the account is locked.
    for (const n of [1, 2, 3, 4]) await failTimes(DORA.email, 5, `192.0.2.${n}`)
    const owner = await loginPage()
    expect(alert(await attempt(owner.browser, owner.page, DORA.email, DORA.password, '198.51.100.30'))).toBe(SAME_REFUSAL)
    const user = await withDb((prisma) => prisma.user.findUniqueOrThrow({ where: { email: DORA.email } }))
    expect(user.lockedUntil!.getTime() - serverNow()).toBeGreaterThan(14 * MINUTE)
    expect(user.lockedUntil!.getTime() - serverNow()).toBeLessThanOrEqual(15 * MINUTE + 5_000)
    advance(15 * MINUTE + 1_000)
    // The second account-wide lock lasts twice as long.
    for (const n of [5, 6, 7, 8]) await failTimes(DORA.email, 5, `192.0.2.${n}`)
    const relocked = await withDb((prisma) => prisma.user.findUniqueOrThrow({ where: { email: DORA.email } }))
    expect(relocked.lockedUntil!.getTime() - serverNow()).toBeGreaterThan(29 * MINUTE)
    advance(30 * MINUTE + 1_000)
    const later = await loginPage()
    expect(signedIn(await attempt(later.browser, later.page, DORA.email, DORA.password, '198.51.100.30'))).toBe(true)
  }, 180_000) // forty-two password checks and, embedded, two server restarts

  it('lets the owner\'s known browser in past a stranger\'s account-wide lock and spent rate limit; no other browser', async () => {
    const home = '198.51.100.50'
    // The owner signs in once: her browser is a known device of her account from then on.
    const owner = await loginPage()
    expect(signedIn(await attempt(owner.browser, owner.page, PIA.email, PIA.password, home))).toBe(true)
    // Someone else signs in to their own account in another browser.
    const other = await loginPage()
    expect(signedIn(await attempt(other.browser, other.page, KAI.email, KAI.password, home))).toBe(true)

    // A stranger, from four addresses: twenty failures lock the account everywhere, and more spend
    // the account's rate limit.
    for (const n of [1, 2, 3, 4]) await failTimes(PIA.email, 5, `192.0.2.${20 + n}`)
    const stranger = await loginPage()
    for (let i = 4 * 5; i < ACCOUNT_LIMIT; i++) expect((await attempt(stranger.browser, stranger.page, PIA.email, 'a wrong guess', '192.0.2.30')).status).toBe(400)
    expect((await attempt(stranger.browser, stranger.page, PIA.email, 'a wrong guess', '192.0.2.30')).status).toBe(429)

    // A browser that never signed in to her account is refused, at home too, with the right password.
    const fresh = await loginPage()
    expect((await attempt(fresh.browser, fresh.page, PIA.email, PIA.password, home)).status).toBe(429)
    // Her own browser signs in.
    const back = await loginPage(owner.browser)
    expect(signedIn(await attempt(back.browser, back.page, PIA.email, PIA.password, home))).toBe(true)
    // The other person's browser: its device cookie names their account, not hers.
    const otherAgain = await loginPage(other.browser)
    expect((await attempt(otherAgain.browser, otherAgain.page, PIA.email, PIA.password, home)).status).toBe(429)
    // Her cookie's value under the other cookie's signature is not hers.
    const cookieOf = (browser: HttpBrowser, name: string) => new RegExp(`(?:^|; )${name.replace(/\./g, '\\.')}=([^;]*)`).exec(browser.cookieHeader())?.[1]
    expect(cookieOf(owner.browser, 'iam.device')).toBeDefined()
    const forger = await loginPage()
    const form = formWithAction(forger.page.body, '/login')
    const forged = await fetch(new URL(form.action, iam.issuer), {
      method: 'POST', redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': home,
        cookie: `${forger.browser.cookieHeader()}; iam.device=${cookieOf(owner.browser, 'iam.device')}; iam.device.sig=${cookieOf(other.browser, 'iam.device.sig')}`,
      },
      body: new URLSearchParams({ ...form.fields, login: PIA.email, password: PIA.password }),
    })
    expect(forged.status).toBe(429)

    // Five wrong passwords from her browser lock that device out of the account: it is refused like any
    // other browser until the lock runs out.
    const typos = await loginPage(owner.browser)
    for (let i = 0; i < 5; i++) {
      const res = await attempt(typos.browser, typos.page, PIA.email, 'a typo in the passphrase', home)
      expect(res.status).toBe(400)
      expect(alert(res)).toBe(SAME_REFUSAL)
    }
    const lockedOut = await loginPage(owner.browser)
    expect((await attempt(lockedOut.browser, lockedOut.page, PIA.email, PIA.password, home)).status).toBe(429)
    advance(15 * MINUTE + 1_000)
    const later = await loginPage(owner.browser)
    expect(signedIn(await attempt(later.browser, later.page, PIA.email, PIA.password, home))).toBe(true)

    // The account-wide lock and the device's own lock were audited, each with its scope.
    const locks = await withDb(async (prisma) => {
      const user = await prisma.user.findUniqueOrThrow({ where: { email: PIA.email } })
      return prisma.auditEvent.findMany({ where: { userId: user.id, type: 'account_locked' }, orderBy: { at: 'asc' } })
    })
    expect(locks.map((l) => (l.details as { scope: string }).scope).sort()).toEqual(['account', 'address', 'address', 'address', 'address', 'device'])
  }, 180_000) // some seventy password checks

  it('`user unlock` ends a lock at once', async () => {
    await failTimes(ULLA.email, 5)
    const locked = await loginPage()
    expect(alert(await attempt(locked.browser, locked.page, ULLA.email, ULLA.password))).toBe(SAME_REFUSAL)

    // The embedded database belongs to one process at a time: the server pauses meanwhile.
    if (mode === 'embedded') await iam.stop()
    const cli = (login: string) => run(process.execPath, ['src/main.ts', 'user', 'unlock', login], { cwd: root, env: { ...process.env, ...iam.env } })
    const { stdout } = await cli('ULLA@example.test')
    expect(stdout.trim()).toBe('user ulla@example.test unlocked')
    await expect(cli('nobody-here@example.test')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('no user nobody-here@example.test') })
    if (mode === 'embedded') await iam.start()

    const { browser, page } = await loginPage()
    expect(signedIn(await attempt(browser, page, ULLA.email, ULLA.password))).toBe(true)
  })

  it('audits the lock, each refusal while locked (reason locked) and the unlock', async () => {
    const events = await withDb(async (prisma) => {
      const ids = Object.fromEntries(await Promise.all([LENA, ULLA, CONRAD, OWEN].map(async (p) => [p.email, (await prisma.user.findUniqueOrThrow({ where: { email: p.email } })).id] as const)))
      const rows = await prisma.auditEvent.findMany({ where: { at: { gte: startedAt }, type: { in: ['account_locked', 'account_unlocked', 'login'] } }, orderBy: { at: 'asc' } })
      return { ids, rows }
    })
    const of = (email: string, type: string) => events.rows.filter((r) => r.userId === events.ids[email] && r.type === type)

    // Locked once each, by the fifth failure, with when it ends.
    for (const email of [LENA.email, ULLA.email, CONRAD.email]) {
      const locks = of(email, 'account_locked')
      expect(locks).toHaveLength(1)
      expect(locks[0]).toMatchObject({ outcome: 'failure', ip: expect.any(String), details: { failures: 5, lockedUntil: expect.any(String) } })
    }
    // The stranger's lock names the address it locked out and says it was one address.
    expect(of(OWEN.email, 'account_locked')).toMatchObject([{ ip: '203.0.113.7', details: { failures: 5, scope: 'address' } }])
    const lenaLogins = of(LENA.email, 'login').map((r) => `${r.outcome}:${(r.details as { reason?: string }).reason ?? ''}`)
    expect(lenaLogins).toEqual([
      ...Array(5).fill('failure:invalid_credentials'),
      'failure:locked', 'failure:locked', 'failure:locked', // right password, wrong password, by username
      'failure:locked', // 14 minutes later
      'success:',
    ])
    const unlocks = of(ULLA.email, 'account_unlocked')
    expect(unlocks).toHaveLength(1)
    expect(unlocks[0]).toMatchObject({ outcome: 'success', actor: 'cli', details: { wasLocked: true } })
    // The unknown account has no row to lock, and its refusal carries no user.
    expect(events.rows.filter((r) => r.type === 'login' && r.outcome === 'failure' && !r.userId).length).toBeGreaterThan(0)
  })
})

// A refused sign-in must not tell whether the account exists: not by its page (lockout.test.ts),
// and not by the work behind it, which timing would reveal. The work is checked by its structure,
// not by a stopwatch (speed is measured by benchmarks; docs/adr/0150 has the numbers): a wrong
// password for a known account and any password for an unknown login write the same rows to the
// same tables, as PostgreSQL's own statistics count them, and leave alike lockout counts and audit
// rows in both storage modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import pg from 'pg'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, type PageResponse } from '../support/browser.ts'
import { SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { sleep } from '../support/processes.ts'
import { createUser } from '../../src/identity/users.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const KNOWN = { email: 'kim@example.test', password: 'kim has a long passphrase' }
const KNOWN_TOO = { email: 'kit@example.test', password: 'kit has a long passphrase' }

async function loginForm(iam: IamInstance) {
  const spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  const browser = new HttpBrowser(iam.issuer)
  const url = oidc.buildAuthorizationUrl(spa, {
    redirect_uri: SPA_REDIRECT, scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  })
  const page = await browser.navigate(url.href)
  const form = formWithAction(page.body, '/login')
  return (login: string, password: string): Promise<PageResponse> =>
    browser.request(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login, password } })
}

describe('the same database writes for a known account and an unknown login (postgres-redis)', () => {
  let iam: IamInstance
  let db: pg.Client

  beforeAll(async () => {
    iam = await createIam('postgres-redis')
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await createUser(prisma, { ...KNOWN, emailVerified: true })
    })
    await iam.start()
    db = new pg.Client({ connectionString: iam.env.DATABASE_URL })
    await db.connect()
  })
  afterAll(async () => {
    await db?.end()
    await iam?.close()
  })

  /** Rows inserted, updated and deleted per table, and transactions committed, so far. */
  async function writes(): Promise<Record<string, number>> {
    // The server's connections report their counts when idle, at least 1 s apart and at most 10 s
    // later (PostgreSQL's pgstat): wait those out, then read a fresh snapshot.
    await sleep(11_500)
    await db.query('SELECT pg_stat_clear_snapshot()')
    const tables = await db.query<{ relname: string; ins: string; upd: string; del: string }>(
      'SELECT relname, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_del AS del FROM pg_stat_user_tables')
    const out: Record<string, number> = {}
    for (const t of tables.rows) {
      for (const kind of ['ins', 'upd', 'del'] as const) if (Number(t[kind])) out[`${t.relname}.${kind}`] = Number(t[kind])
    }
    return out
  }
  const difference = (after: Record<string, number>, before: Record<string, number>) =>
    Object.fromEntries(Object.keys(after).flatMap((k) => after[k] !== (before[k] ?? 0) ? [[k, after[k]! - (before[k] ?? 0)]] : []))

  it('a wrong password for an existing account writes exactly what a password for an unknown login writes', async () => {
    const attempt = await loginForm(iam)
    const start = await writes()
    // Three refusals each: the first of each starts its counts, the next add to them.
    for (let i = 0; i < 3; i++) expect((await attempt(KNOWN.email, 'not the password')).status).toBe(400)
    const afterKnown = await writes()
    for (let i = 0; i < 3; i++) expect((await attempt('nobody-by-that-name@example.test', 'not the password')).status).toBe(400)
    const afterUnknown = await writes()

    const known = difference(afterKnown, start)
    const unknown = difference(afterUnknown, afterKnown)
    expect(known).toEqual(unknown)
    // … and both count the failure and audit it.
    expect(Object.keys(known)).toEqual(expect.arrayContaining(['AuditEvent.ins', 'SignInFailure.ins', 'SignInFailure.upd']))
  })
})

describe.each(STORAGE_MODES)('known and unknown logins leave alike traces (%s)', (mode) => {
  let iam: IamInstance

  beforeAll(async () => {
    iam = await createIam(mode)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await createUser(prisma, { ...KNOWN_TOO, emailVerified: true })
    })
    await iam.start()
  })
  afterAll(async () => {
    await iam?.close()
  })

  it('counts failures of an unknown login in the lockout as it counts those of an account, and audits both alike', async () => {
    const attempt = await loginForm(iam)
    const unknown = 'no-such-person@example.test'
    for (let i = 0; i < 2; i++) {
      expect((await attempt(KNOWN_TOO.email, 'not the password')).status).toBe(400)
      expect((await attempt(unknown.toUpperCase(), 'not the password')).status).toBe(400)
    }
    const { counts, audit, userId } = await iam.databaseNow(async (prisma) => {
      const user = await prisma.user.findUniqueOrThrow({ where: { email: KNOWN_TOO.email } })
      return {
        userId: user.id,
        counts: await prisma.signInFailure.findMany({ orderBy: [{ account: 'asc' }, { source: 'asc' }] }),
        audit: await prisma.auditEvent.findMany({ where: { type: 'login', outcome: 'failure' }, orderBy: { at: 'asc' } }),
      }
    }, { settleMs: 500 })
    const shape = (account: string) => counts.filter((c) => c.account === account).map((c) => ({ source: c.source, failures: c.failures, lockedUntil: c.lockedUntil }))
    const unknownAccount = counts.find((c) => c.account.startsWith('l:'))?.account
    expect(unknownAccount).toBeDefined()
    // The unknown login is stored only as a hash.
    expect(JSON.stringify(counts)).not.toContain('no-such-person')
    expect(shape(`u:${userId}`)).toEqual([{ source: '', failures: 2, lockedUntil: null }, { source: '127.0.0.1', failures: 2, lockedUntil: null }])
    expect(shape(unknownAccount!)).toEqual(shape(`u:${userId}`))
    expect(audit.map((a) => [a.userId === userId ? 'known' : a.userId === null ? 'unknown' : 'other', (a.details as { reason?: string }).reason]))
      .toEqual([['known', 'invalid_credentials'], ['unknown', 'invalid_credentials'], ['known', 'invalid_credentials'], ['unknown', 'invalid_credentials']])
  })
})

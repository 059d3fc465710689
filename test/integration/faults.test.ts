// Store outages under load, against the real server (postgres-redis mode, a PostgreSQL of this
// file's own so stopping it hurts no other test file, and the instance's own append-only
// redis-server). While a store is away every request must fail fast with a clear 503 (the OAuth
// JSON error `temporarily_unavailable` at the token endpoint, an HTML page for pages), never hang
// and never crash the process; when the store returns, service must come back within a bound, and
// a session and a refresh token obtained before the outage must still work.
//
// Durations here are hang checks, not performance assertions: each request is aborted after
// HANG_MS (generous on a shared 2-core machine). A request that needs that long is waiting on a
// store that is not there (a queued Redis command, a pool waiting for a connection) instead of
// failing, which is the bug these tests exist to catch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts'
import { HttpBrowser } from '../support/browser.ts'
import { sleep } from '../support/processes.ts'
import { authorizeAndSignIn, discoverSpa } from '../support/code-flow.ts'
import { OPAQUE_API, SERVICE_SECRET, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'

/** A request that has not answered after this long is hung (see above). */
const HANG_MS = 3_000
/** How long each store stays away. */
const OUTAGE_MS = 10_000
/** Service must be back this soon after the store is (the issue's bound). */
const RECOVERY_MS = 2_000
/** Concurrent clients of the steady load. */
const WORKERS = 3

interface Sample { kind: 'token' | 'page'; start: number; end: number; status: number; contentType: string; body: string; retryAfter: string | null; hung: boolean }

describe('store outages under load (postgres-redis)', () => {
  let postgres: PostgresServer
  let iam: IamInstance
  let spa: oidc.Configuration

  beforeAll(async () => {
    postgres = await startPostgres()
    iam = await createIam('postgres-redis', { env: { DATABASE_URL: await postgres.createDatabase() } })
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
    spa = await discoverSpa(iam.issuer)
  }, 120_000)

  afterAll(async () => {
    await iam?.close()
    await postgres?.stop()
  })

  const basic = `Basic ${Buffer.from(`svc:${encodeURIComponent(SERVICE_SECRET)}`).toString('base64')}`

  /** One client-credentials request for an opaque token (stored in Redis/PostgreSQL, so it needs the stores). */
  async function tokenRequest(): Promise<Sample> {
    return timed('token', () => fetch(`${iam.issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: OPAQUE_API, scope: 'read' }),
      signal: AbortSignal.timeout(HANG_MS),
      redirect: 'manual',
    }))
  }

  /** One page request: the authorization endpoint, which stores an interaction and sends the browser to the login page. */
  async function pageRequest(): Promise<Sample> {
    const url = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    })
    return timed('page', () => fetch(url, { signal: AbortSignal.timeout(HANG_MS), redirect: 'manual' }))
  }

  async function timed(kind: Sample['kind'], send: () => Promise<Response>): Promise<Sample> {
    const start = Date.now()
    try {
      const res = await send()
      // A redirect's body is its Location (to the login page, or back to the client with an error).
      const body = res.status >= 300 && res.status < 400 ? `Location: ${res.headers.get('location')}` : await res.text()
      return { kind, start, end: Date.now(), status: res.status, contentType: res.headers.get('content-type') ?? '', body, retryAfter: res.headers.get('retry-after'), hung: false }
    } catch (err) {
      const hung = (err as Error).name === 'TimeoutError'
      // A connection refused or reset would mean the process died or dropped the request.
      return { kind, start, end: Date.now(), status: 0, contentType: '', body: String(err), retryAfter: null, hung }
    }
  }

  /** Steady load from WORKERS concurrent clients until `stop()`; every sample is kept. */
  function load() {
    const samples: Sample[] = []
    let running = true
    const loops = Array.from({ length: WORKERS }, async (_, i) => {
      // Bounded: the outage lasts OUTAGE_MS and every request ends within HANG_MS.
      for (let n = 0; running && n < 5_000; n++) {
        samples.push(await ((n + i) % 2 === 0 ? tokenRequest() : pageRequest()))
        await sleep(20)
      }
    })
    return { samples, async stop() { running = false; await Promise.all(loops) } }
  }

  /** A session (browser cookies) and a refresh token, obtained while every store is up. */
  async function sessionAndRefreshToken() {
    const browser = new HttpBrowser(iam.issuer)
    const { callback, verifier, state } = await authorizeAndSignIn(spa, browser, 'openid offline_access')
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier, expectedState: state })
    return { browser, tokens }
  }

  /** The session signs in again without any page (prompt=none answers a code, not login_required). */
  async function silentSignIn(browser: HttpBrowser) {
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: SPA_REDIRECT, scope: 'openid', prompt: 'none',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const res = await browser.navigate(url.href)
    const back = new URL(res.url)
    expect(back.origin + back.pathname, res.body.slice(0, 500)).toBe(SPA_REDIRECT)
    expect(back.searchParams.get('error')).toBeNull()
    return oidc.authorizationCodeGrant(spa, back, { pkceCodeVerifier: verifier })
  }

  /** Polls (bounded) until both a token and a page request succeed; returns ms since `since`. */
  async function backWithin(since: number, bound: number): Promise<number> {
    let last: Sample[] = []
    while (Date.now() - since < bound + HANG_MS) {
      last = [await tokenRequest(), await pageRequest()]
      if (last[0]!.status === 200 && last[1]!.status === 303 && last[1]!.body.startsWith('Location: /interaction/')) return Date.now() - since
      await sleep(50)
    }
    throw new Error(`service not back: ${JSON.stringify(last.map((s) => ({ status: s.status, body: s.body.slice(0, 200) })))}`)
  }

  /**
   * `servedMayContinue`: with PostgreSQL away, a request may still succeed, since protocol state
   * lives in Redis and oidc-provider caches the clients it has read: serving it is right, so
   * only requests that do fail must fail with the 503.
   */
  function expectFailFast(samples: Sample[], from: number, to: number, servedMayContinue = false) {
    const pid = iam.process()!.pid
    // No request hung, and none was refused or reset (the process did not die or drop it).
    const broken = samples.filter((s) => s.status === 0)
    expect(broken.map((s) => `${s.kind}: ${s.hung ? 'hung' : s.body}`)).toEqual([])
    // Nothing but success or a 503: never a 500 for "the store is away".
    const ok = (s: Sample) => (s.kind === 'token' ? s.status === 200 : s.status === 303 && s.body.startsWith('Location: /interaction/'))
    const unexpected = samples.filter((s) => !ok(s) && s.status !== 503)
    expect(unexpected.map((s) => `${s.kind} ${s.status}: ${s.body.slice(0, 300)}`)).toEqual([])
    // Every request made entirely while the store was away got the 503, in the right format.
    const during = samples.filter((s) => s.start >= from && s.end <= to)
    expect(during.length).toBeGreaterThan(10)
    const failed = servedMayContinue ? during.filter((s) => !ok(s)) : during
    expect(failed.length).toBeGreaterThan(10)
    for (const s of failed) {
      expect(s.status, `${s.kind}: ${s.body.slice(0, 300)}`).toBe(503)
      expect(s.retryAfter, s.kind).toMatch(/^\d+$/)
      if (s.kind === 'token') {
        expect(s.contentType).toMatch(/^application\/json/)
        expect(JSON.parse(s.body)).toMatchObject({ error: 'temporarily_unavailable' })
      } else {
        expect(s.contentType).toMatch(/^text\/html/)
        expect(s.body).toContain('Temporarily unavailable')
      }
    }
    const slowest = Math.max(...during.map((s) => s.end - s.start))
    console.log(`${during.length} requests during the outage, ${failed.length} answered 503, the rest served; slowest ${slowest} ms (hang bound ${HANG_MS} ms)`)
    expect(iam.process()!.pid).toBe(pid)
    expect(iam.process()!.exitCode).toBeNull()
  }

  async function afterOutage(before: Awaited<ReturnType<typeof sessionAndRefreshToken>>) {
    expect((await fetch(`${iam.issuer}/healthz`)).status).toBe(200)
    const refreshed = await oidc.refreshTokenGrant(spa, before.tokens.refresh_token!)
    expect(refreshed.claims()!.sub).toBe(before.tokens.claims()!.sub)
    const again = await silentSignIn(before.browser)
    expect(again.claims()!.sub).toBe(before.tokens.claims()!.sub)
  }

  it('Redis stopped for 10 s under load: 503s fast, no crash, back within 2 s, sessions and refresh tokens survive', async () => {
    const before = await sessionAndRefreshToken()
    const pid = iam.process()!.pid
    const traffic = load()
    await sleep(500)
    let downAt = 0
    let upAt = 0
    try {
      await iam.redis!.down()
      downAt = Date.now()
      await sleep(OUTAGE_MS)
      // Liveness answers throughout (the process is up; only readiness depends on the stores).
      expect((await fetch(`${iam.issuer}/healthz`, { signal: AbortSignal.timeout(HANG_MS) })).status).toBe(200)
    } finally {
      upAt = Date.now()
      await iam.redis!.up()
    }
    const readyAt = Date.now()
    const back = await backWithin(readyAt, RECOVERY_MS)
    await traffic.stop()
    console.log(`Redis: service back ${back} ms after redis-server accepted connections again`)
    expect(back).toBeLessThanOrEqual(RECOVERY_MS)
    expectFailFast(traffic.samples, downAt + 200, upAt)
    expect(iam.process()!.pid).toBe(pid)
    await afterOutage(before)
  }, 90_000)

  it('PostgreSQL restarted under load: 503s fast, no crash, back within 2 s, data intact', async () => {
    const before = await sessionAndRefreshToken()
    const pid = iam.process()!.pid
    const traffic = load()
    await sleep(500)
    let downAt = 0
    let upAt = 0
    try {
      await postgres.down()
      downAt = Date.now()
      await sleep(OUTAGE_MS)
      expect((await fetch(`${iam.issuer}/healthz`, { signal: AbortSignal.timeout(HANG_MS) })).status).toBe(200)
    } finally {
      upAt = Date.now()
      await postgres.up()
    }
    const readyAt = Date.now()
    const back = await backWithin(readyAt, RECOVERY_MS)
    await traffic.stop()
    console.log(`PostgreSQL: service back ${back} ms after postgres accepted connections again`)
    expect(back).toBeLessThanOrEqual(RECOVERY_MS)
    expectFailFast(traffic.samples, downAt + 200, upAt, true)
    expect(iam.process()!.pid).toBe(pid)
    await afterOutage(before)
    // Data intact: the people and clients are still there (a fresh sign-in with the password works).
    const fresh = await sessionAndRefreshToken()
    expect(fresh.tokens.refresh_token).toBeTruthy()
  }, 90_000)
})

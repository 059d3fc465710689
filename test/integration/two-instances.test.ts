// Two server instances on different ports, sharing one PostgreSQL and one Redis and configured as
// one issuer (same ISSUER, JWKS, COOKIE_KEYS, ENCRYPTION_KEYS), as replicas behind a load balancer
// are. The test is the load balancer: the issuer URL is a small proxy on its own port that sends
// each request to the instance the test picks, so browsers and clients see one issuer while the
// test decides which instance serves each step. Each instance's request log shows it served the
// steps it was given.
//
// Sign in on A; redeem the code, call userinfo and refresh on B; sign out on A and see the refresh
// token die on B. Which sign-out kills a refresh token is the protocol's call, and the same on one
// instance as on two: signing a session out in the account area (/account/sessions, "sign out
// everywhere") revokes the grants given in it, so the refresh token dies; RP-initiated logout
// (end_session) ends the browser session everywhere but, as OIDC says for offline_access, leaves
// an offline refresh token working (oidc-provider marks such a grant persistsLogout; see
// test/integration/sessions.test.ts for the same on one instance). Both are asserted across
// instances below.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, createTestDatabase, type IamInstance } from '../support/iam.ts'
import { startRedis, type RedisServer } from '../support/redis-server.ts'
import { createFixtures, ALICE } from '../support/fixtures.ts'
import { HttpBrowser, formWithAction, formsOf } from '../support/browser.ts'
import { authorizeAndSignIn, discoverSpa } from '../support/code-flow.ts'
import { startBalancer, type Balancer } from '../support/balancer.ts'
import { generateJwks } from '../../src/oidc/keys.ts'

/** Whether the browser still has a session at the OP: prompt=none answers with a code, or login_required. */
async function signedIn(browser: HttpBrowser, spa: oidc.Configuration, callback: URL): Promise<boolean> {
  const url = oidc.buildAuthorizationUrl(spa, {
    redirect_uri: callback.origin + callback.pathname, scope: 'openid', prompt: 'none',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  })
  const back = new URL((await browser.navigate(url.href)).url)
  if (back.searchParams.get('code')) return true
  expect(back.searchParams.get('error')).toBe('login_required')
  return false
}

/** How many requests an instance logged for a route (its own log: it served them). */
/**
 * How many requests for `route` the instance logged. Its log arrives over a pipe, possibly after
 * the response: callers poll (expect.poll) rather than read once.
 */
function served(iam: IamInstance, route: string): number {
  return iam.logs().split('\n').filter((line) => line.includes('"msg":"request"') && line.includes(`"route":"${route}"`)).length
}

describe('two instances sharing PostgreSQL and Redis are one issuer', () => {
  let redis: RedisServer
  let balancer: Balancer
  let a: IamInstance
  let b: IamInstance

  beforeAll(async () => {
    balancer = await startBalancer()
    redis = await startRedis({ appendonly: true })
    const shared = {
      ISSUER: balancer.url,
      DATABASE_URL: await createTestDatabase(),
      REDIS_URL: redis.url,
      JWKS: JSON.stringify(await generateJwks()),
      COOKIE_KEYS: 'two-instances-cookie-key-0123456789abcdef',
    }
    a = await createIam('postgres-redis', { env: shared })
    b = await createIam('postgres-redis', { env: shared })
    await a.withDatabase((prisma) => createFixtures(prisma))
    // One after the other, as a rolling deployment does (the first applies the migrations).
    await a.start()
    await b.start()
  }, 180_000)

  afterAll(async () => {
    await a?.close()
    await b?.close()
    await balancer?.close()
    await redis?.stop()
  })

  it('signs in on A; B redeems the code and refreshes; signing out on A kills the refresh token on B', async () => {
    expect(a.port).not.toBe(b.port)
    balancer.route(a.port)
    const spa = await discoverSpa(balancer.url)
    expect(spa.serverMetadata().issuer).toBe(balancer.url)
    const browser = new HttpBrowser(balancer.url)
    const { callback, verifier, state } = await authorizeAndSignIn(spa, browser)
    await expect.poll(() => served(a, '/interaction/:uid/login'), { timeout: 5_000 }).toBeGreaterThan(0)
    await expect.poll(() => served(b, '/interaction/:uid/login'), { timeout: 5_000 }).toBe(0)

    // The code was issued by A and lives in the shared Redis: B redeems it.
    balancer.route(b.port)
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier, expectedState: state })
    const sub = tokens.claims()!.sub
    expect((await oidc.fetchUserInfo(spa, tokens.access_token, sub)).email).toBe(ALICE.email)
    const refreshed = await oidc.refreshTokenGrant(spa, tokens.refresh_token!)
    expect(refreshed.refresh_token).toBeTruthy()
    await expect.poll(() => served(b, '/token'), { timeout: 5_000 }).toBe(2)
    await expect.poll(() => served(a, '/token'), { timeout: 5_000 }).toBe(0)

    // The session cookie A set works on B too: prompt=none is answered from the shared session.
    expect(await signedIn(browser, spa, callback)).toBe(true)

    // Sign out everywhere on A, in the account area (which signs in through the same session).
    balancer.route(a.port)
    const sessions = await browser.navigate(`${balancer.url}/account/sessions`)
    expect(sessions.status).toBe(200)
    const endAll = formWithAction(sessions.body, '/account/sessions/end-all')
    const ended = await browser.request(new URL(endAll.action, balancer.url).href, { form: endAll.fields })
    expect(ended.status).toBe(303)
    await expect.poll(() => served(a, '/account/sessions/end-all'), { timeout: 5_000 }).toBe(1)

    // On B the grant is gone: the refresh token is refused, the access token too, the session is over.
    balancer.route(b.port)
    await expect(oidc.refreshTokenGrant(spa, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' })
    await expect(oidc.fetchUserInfo(spa, refreshed.access_token, sub)).rejects.toBeTruthy()
    expect(await signedIn(browser, spa, callback)).toBe(false)
    await expect.poll(() => served(b, '/token'), { timeout: 5_000 }).toBe(3)
  })

  it('RP-initiated logout on A ends the session on B; an offline refresh token outlives it (OIDC offline_access)', async () => {
    balancer.route(a.port)
    const spa = await discoverSpa(balancer.url)
    const browser = new HttpBrowser(balancer.url)
    const { callback, verifier, state } = await authorizeAndSignIn(spa, browser)
    balancer.route(b.port)
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier, expectedState: state })
    expect(await signedIn(browser, spa, callback)).toBe(true)

    balancer.route(a.port)
    const confirm = await browser.navigate(oidc.buildEndSessionUrl(spa, { id_token_hint: tokens.id_token!, client_id: 'spa' }).href)
    expect(confirm.body).toContain('Sign out?')
    const form = formsOf(confirm.body)[0]!
    const done = await browser.navigate(new URL(form.action, balancer.url).href, { form: { ...form.fields, logout: 'yes' } })
    expect(done.status).toBe(200)
    await expect.poll(() => served(a, '/session/end/confirm'), { timeout: 5_000 }).toBe(1)

    balancer.route(b.port)
    expect(await signedIn(browser, spa, callback)).toBe(false)
    const refreshed = await oidc.refreshTokenGrant(spa, tokens.refresh_token!)
    expect(refreshed.access_token).toBeTruthy()
  })
})

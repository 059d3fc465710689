// CSRF refusal on every POST route of our pages, enumerated from the routers themselves
// (createPageRouters in src/app.ts), so a route added later is covered without editing this
// file. Each route is posted to on the real server by a browser that holds a CSRF cookie and a
// live interaction: without a token, with a forged one, and with a real token of another scope.
// Each must get the 403 page (or 403 JSON for a script's request) and an audit row, before any
// route logic runs: without the guard, these requests would reach the handlers (a redirect to
// sign in, a login attempt, a 400 form page…), not a 403.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { pageRoutes } from '../support/page-routes.ts'
import { csrfScopeOf } from '../../src/app.ts'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, formsOf } from '../support/browser.ts'
import { ALICE, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'

/**
 * POST routes outside the guarded prefixes, each with the reason it carries no CSRF token. None
 * today (the upstreams' callback, /federation/:id/callback, is a GET); one added outside
 * /interaction/, /account and /self-service/ fails the first test until it is listed here.
 */
const UNGUARDED: Record<string, string> = {}

function postRoutes(): string[] {
  return pageRoutes().filter((r) => r.method === 'POST').map((r) => r.path).sort()
}

describe('CSRF refusal on every POST route', () => {
  const routes = postRoutes()
  let iam: IamInstance
  let spa: oidc.Configuration

  beforeAll(async () => {
    iam = await createIam('postgres-redis')
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] })
  })
  afterAll(async () => {
    await iam?.close()
  })

  /** A browser at the login page of a fresh interaction: it has the CSRF cookie and the uid. */
  async function atLoginPage() {
    const browser = new HttpBrowser(iam.issuer)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const page = await browser.navigate(url.href)
    const login = formWithAction(page.body, '/login')
    const uid = /^\/interaction\/([^/]+)\/login$/.exec(login.action)![1]!
    return { browser, uid, token: login.fields.csrf! }
  }

  it('finds the routes it must check, and every route outside the guarded prefixes is a known exception', () => {
    expect(routes).toEqual(expect.arrayContaining(['/interaction/:uid/login', '/interaction/:uid/consent', '/account/logout']))
    expect(routes.length).toBeGreaterThan(20)
    const unguarded = routes.filter((r) => csrfScopeOf(r.replace(/:[a-zA-Z]+/g, 'x')) === undefined)
    expect(unguarded.sort()).toEqual(Object.keys(UNGUARDED).sort())
  })

  it('refuses each guarded POST without a token, with a forged one, and with another scope’s token, and audits it', async () => {
    const guarded = routes.filter((r) => !(r in UNGUARDED))
    const { browser, uid, token: interactionToken } = await atLoginPage()
    const before = await iam.withDatabase((prisma) => prisma.auditEvent.count({ where: { type: 'csrf_rejected' } }))

    let refusals = 0
    for (const route of guarded) {
      const url = `${iam.issuer}${route.replace(':uid', uid).replace(/:[a-zA-Z]+/g, 'x')}`
      // A real token, but of the wrong scope: the interaction's on account and self-service
      // routes, a made-up interaction's elsewhere.
      const otherScope = route.startsWith('/interaction/') ? 'not-this-interactions-token' : interactionToken
      for (const csrf of [undefined, 'forged', otherScope]) {
        const form: Record<string, string> = { login: ALICE.email, password: ALICE.password, code: '123456', label: 'x' }
        if (csrf !== undefined) form.csrf = csrf
        const res = await browser.request(url, { form })
        expect(res.status, `${route} (csrf ${csrf ?? 'missing'})`).toBe(403)
        expect(res.body, route).toContain('Form expired')
        expect(res.headers.get('location'), route).toBeNull()
        refusals++
      }
      // The script's JSON requests (WebAuthn) get the refusal as JSON.
      const json = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', cookie: browser.cookieHeader() }, body: JSON.stringify({ csrf: 'forged' }) })
      expect(json.status, `${route} (JSON)`).toBe(403)
      expect(await json.json(), route).toEqual({ error: 'This page has expired. Reload it and try again.' })
      refusals++
    }

    const after = await iam.withDatabase((prisma) => prisma.auditEvent.count({ where: { type: 'csrf_rejected' } }))
    expect(after - before).toBe(refusals)
  })

  it('refuses without a token every spelling of a guarded path (letter case, trailing or doubled slashes, percent-encoding) and every unsafe method', async () => {
    const { browser, uid } = await atLoginPage()
    const bases = ['/account/logout', '/account/sessions/end-all', '/account/security/totp', `/interaction/${uid}/login`, '/self-service/forgot-password']
    const spellings = (p: string) => [
      p.toUpperCase().replace(uid.toUpperCase(), uid), // the uid keeps its letters: only the route's words change
      p.replace(/^\/([a-z])/, (_m, c: string) => `/${c.toUpperCase()}`),
      `${p}/`,
      `/${p}`,
      p.replace(/\/([^/]+)$/, '//$1'),
      p.replace(/^\/([a-z])/, (_m, c: string) => `/%${c.charCodeAt(0).toString(16)}`),
      p.replace(/\/([^/]+)$/, '%2F$1'),
      p.replace(/\/([^/]+)$/, '%2f$1'),
    ]
    // Nothing else under these prefixes, nor anywhere but the provider's own endpoints and the
    // bearer-token APIs, takes an unsafe request without a token either.
    const others = ['/ACCOUNT', '/Account/', '/admin', '/ADMIN/API/users', '/Api/demo/profile', '/federation/x/callback', '/not-a-route', '/Token/x']
    const form = { login: ALICE.email, password: ALICE.password }
    for (const path of [...bases.flatMap(spellings), ...others]) {
      const res = await browser.request(`${iam.issuer}${path}`, { form })
      expect(res.status, path).toBe(403)
      expect(res.body, path).toContain('Form expired')
    }
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      for (const path of ['/account/logout', '/Account/sessions/end-all', `/interaction/${uid}/login`]) {
        const res = await browser.request(`${iam.issuer}${path}`, { method, form })
        expect(res.status, `${method} ${path}`).toBe(403)
      }
    }
    // The provider's protocol endpoints stay the provider's (client authentication, not a form token).
    const token = await browser.request(`${iam.issuer}/token`, { form: { grant_type: 'authorization_code', code: 'x' } })
    expect(token.status).toBe(400)
    expect(JSON.parse(token.body)).toMatchObject({ error: 'invalid_request' })
  })

  it('lets the same POST through with the page’s own token (so the refusals above are the guard’s doing)', async () => {
    const { browser, uid, token } = await atLoginPage()
    const res = await browser.request(`${iam.issuer}/interaction/${uid}/login`, { form: { csrf: token, login: ALICE.email, password: ALICE.password } })
    expect(res.status).toBe(303)
    // And the token of one interaction does not open another one in the same browser.
    const verifier = oidc.randomPKCECodeVerifier()
    const second = await browser.navigate(oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', prompt: 'login', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href)
    const secondLogin = formsOf(second.body).find((f) => f.action.endsWith('/login'))!
    expect(secondLogin.action).not.toContain(uid)
    const replay = await browser.request(new URL(secondLogin.action, iam.issuer).href, { form: { csrf: token, login: ALICE.email, password: ALICE.password } })
    expect(replay.status).toBe(403)
  })
})

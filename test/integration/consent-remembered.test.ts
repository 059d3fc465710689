// Consent is remembered per person, application, scopes and API until the person revokes it:
// a later sign-in asking for no more is not asked again, one asking for more is asked for the
// difference; /account/apps lists the applications with access and revokes one (its refresh
// tokens stop working, the next sign-in asks again), never another person's. openid-client is
// the relying party; pages are walked with HttpBrowser.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, formsOf, signIn, type PageResponse } from '../support/browser.ts'
import { API, SPA_REDIRECT, WEB_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import { createUser } from '../../src/identity/users.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const PASSWORD = 'a long enough passphrase for tests'
const person = (name: string) => ({ email: `${name}@example.test`, password: PASSWORD })
const RETURNING = person('rhea') // signs in again and again
const REVOKER = person('vic') //    revokes an application in the account area
const OWNER = person('olga') //     has a consent someone else tries to revoke
const OTHER = person('omar') //     tries to

describe.each(STORAGE_MODES)('consent is remembered (%s)', (mode) => {
  let iam: IamInstance
  let spa: oidc.Configuration
  let web: oidc.Configuration
  const url = (path: string) => new URL(path, iam.issuer).href

  beforeAll(async () => {
    iam = await createIam(mode)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      for (const who of [RETURNING, REVOKER, OWNER, OTHER]) await createUser(prisma, { ...who, emailVerified: true })
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
    web = await oidc.discovery(new URL(iam.issuer), 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
  })
  afterAll(async () => {
    await iam?.close()
  })

  /**
   * A sign-in to `rp` in `browser` (a new browser: a new sign-in). Returns the consent pages it
   * met (each allowed) and the tokens.
   */
  async function appSignIn(rp: oidc.Configuration, who: { email: string; password: string }, params: Record<string, string>, browser = new HttpBrowser(iam.issuer)) {
    const verifier = oidc.randomPKCECodeVerifier()
    const redirect = rp === spa ? SPA_REDIRECT : WEB_REDIRECT
    const authorization = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirect, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    })
    const consents: string[] = []
    let res = await browser.navigate(authorization.href)
    for (let step = 0; step < 5 && new URL(res.url).origin === browser.origin; step++) {
      if (/\/login"/.test(res.body)) {
        const form = formWithAction(res.body, '/login')
        res = await browser.navigate(url(form.action), { form: { ...form.fields, login: who.email, password: who.password } })
      } else if (/\/consent"/.test(res.body)) {
        consents.push(res.body)
        const form = formWithAction(res.body, '/consent')
        res = await browser.navigate(url(form.action), { form: form.fields })
      } else throw new Error(`unexpected page (${res.status}): ${res.body.slice(0, 1500)}`)
    }
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(res.url), { pkceCodeVerifier: verifier })
    return { consents, tokens, browser }
  }

  async function refreshWorks(rp: oidc.Configuration, refreshToken: string): Promise<boolean> {
    try {
      await oidc.refreshTokenGrant(rp, refreshToken)
      return true
    } catch (err) {
      expect(err).toMatchObject({ error: 'invalid_grant' })
      return false
    }
  }

  /** /account/apps in a browser already signed in at the OP (the account area signs in through it). */
  async function appsPage(browser: HttpBrowser): Promise<PageResponse> {
    const page = await browser.navigate(url('/account/apps'))
    expect(page.status, page.body.slice(0, 500)).toBe(200)
    expect(page.body).toContain('Applications with access')
    return page
  }

  it('a second sign-in asking for the same scopes is not asked again; one asking for more is asked again', async () => {
    const first = await appSignIn(spa, RETURNING, { scope: 'openid profile' })
    expect(first.consents).toHaveLength(1)

    const again = await appSignIn(spa, RETURNING, { scope: 'openid profile' })
    expect(again.consents).toHaveLength(0)
    expect(again.tokens.claims()?.sub).toBe(first.tokens.claims()?.sub)
    // A subset too.
    expect((await appSignIn(spa, RETURNING, { scope: 'openid' })).consents).toHaveLength(0)

    const wider = await appSignIn(spa, RETURNING, { scope: 'openid profile email' })
    expect(wider.consents).toHaveLength(1)
    // The page shows all the application will have: what was allowed before and the new part.
    expect(wider.consents[0]).toContain('See your email address')
    expect(wider.consents[0]).toContain('See your name and username')
    expect((await appSignIn(spa, RETURNING, { scope: 'openid email profile' })).consents).toHaveLength(0)

    // Per API and its scopes: a new API is asked for, then remembered.
    const api = await appSignIn(spa, RETURNING, { scope: 'openid read', resource: API })
    expect(api.consents).toHaveLength(1)
    expect((await appSignIn(spa, RETURNING, { scope: 'openid read', resource: API })).consents).toHaveLength(0)
    expect((await appSignIn(spa, RETURNING, { scope: 'openid read write', resource: API })).consents).toHaveLength(1)

    // Asked again on purpose (prompt=consent): the page says what the application has.
    const asked = await appSignIn(spa, RETURNING, { scope: 'openid profile', prompt: 'consent' })
    expect(asked.consents).toHaveLength(1)
    expect(asked.consents[0]).toContain('See your name and username')

    // Per application: another application is asked for its own.
    expect((await appSignIn(web, RETURNING, { scope: 'openid profile' })).consents).toHaveLength(1)
  })

  it('the account area lists the applications with access; revoking one ends its refresh tokens and the next sign-in asks again', async () => {
    const withRefresh = await appSignIn(web, REVOKER, { scope: 'openid profile offline_access', prompt: 'consent' })
    expect(withRefresh.tokens.refresh_token).toBeTruthy()
    expect((await appSignIn(web, REVOKER, { scope: 'openid profile' })).consents).toHaveLength(0)
    await appSignIn(spa, REVOKER, { scope: 'openid email' })

    const browser = withRefresh.browser
    const account = await browser.navigate(url('/account'))
    expect(account.body).toContain('href="/account/apps"')
    const page = await appsPage(browser)
    expect(page.body).toContain('Test Web App')
    expect(page.body).toContain('Test SPA')
    expect(page.body).toContain('See your name and username')

    const revoke = formWithAction(page.body, '/account/apps/web/revoke')
    const done = await browser.navigate(url(revoke.action), { form: revoke.fields })
    expect(done.status).toBe(200)
    expect(done.body).toContain('no longer has access')
    expect(done.body).not.toContain('Test Web App')
    expect(done.body).toContain('Test SPA')

    expect(await refreshWorks(web, withRefresh.tokens.refresh_token!)).toBe(false)
    expect((await appSignIn(web, REVOKER, { scope: 'openid profile' })).consents).toHaveLength(1)
    // The other application keeps its access.
    expect((await appSignIn(spa, REVOKER, { scope: 'openid email' })).consents).toHaveLength(0)
  })

  it('a revoke asks for the account area\'s CSRF token, and cannot revoke another person\'s consent', async () => {
    const owner = await appSignIn(web, OWNER, { scope: 'openid profile offline_access', prompt: 'consent' })
    const other = await appSignIn(spa, OTHER, { scope: 'openid' })
    const page = await appsPage(other.browser)
    expect(page.body).not.toContain('Test Web App')
    const csrf = formsOf(page.body).find((f) => f.action.startsWith('/account/apps/'))!.fields

    const forged = await other.browser.request(url('/account/apps/web/revoke'), { form: {} })
    expect(forged.status).toBe(403)
    const refused = await other.browser.request(url('/account/apps/web/revoke'), { form: csrf })
    expect(refused.status).toBe(404)
    expect(refused.body).toContain('not one of yours')

    expect(await refreshWorks(web, owner.tokens.refresh_token!)).toBe(true)
    expect((await appSignIn(web, OWNER, { scope: 'openid profile' })).consents).toHaveLength(0)
  })
})

// State that must outlive a restart (sessions, refresh tokens) and codes that must be redeemed
// exactly once even when raced, in both storage modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, signIn } from '../support/browser.ts'
import { ALICE, SPA_REDIRECT, WEB_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }

describe.each(STORAGE_MODES)('restarts and races (%s)', (mode) => {
  let iam: IamInstance
  let spa: oidc.Configuration
  let web: oidc.Configuration

  beforeAll(async () => {
    iam = await createIam(mode)
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
    web = await oidc.discovery(new URL(iam.issuer), 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
  })
  afterAll(async () => { await iam?.close() })

  async function codeFor(config: oidc.Configuration, redirectUri: string, browser = new HttpBrowser(iam.issuer), extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri, scope: 'openid offline_access', prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
    })
    const callback = await signIn(browser, url.href, { login: ALICE.email, password: ALICE.password })
    return { callback, verifier, browser }
  }

  it('lets exactly one of 50 concurrent redemptions of one code succeed', async () => {
    const { callback, verifier } = await codeFor(web, WEB_REDIRECT)
    const code = callback.searchParams.get('code')!
    const auth = `Basic ${Buffer.from(`web:${encodeURIComponent(WEB_SECRET)}`).toString('base64')}`
    const body = new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: WEB_REDIRECT }).toString()
    const results = await Promise.all(Array.from({ length: 50 }, () => fetch(`${iam.issuer}/token`, {
      method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body,
    }).then(async (r) => ({ status: r.status, json: await r.json() as { error?: string; access_token?: string } }))))
    const ok = results.filter((r) => r.status === 200)
    expect(ok).toHaveLength(1)
    expect(results.filter((r) => r.status !== 200).every((r) => r.status === 400 && r.json.error === 'invalid_grant')).toBe(true)
  })

  it('keeps sessions and refresh tokens across a server restart', async () => {
    const { callback, verifier, browser } = await codeFor(spa, SPA_REDIRECT)
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier })
    await iam.stop()
    await iam.start()
    // The refresh token still works (and rotates).
    const refreshed = await oidc.refreshTokenGrant(spa, tokens.refresh_token!)
    expect(refreshed.access_token).toBeTruthy()
    expect(refreshed.claims()!.sub).toBe(tokens.claims()!.sub)
    // The browser session still works: prompt=none returns a code without any page.
    const silentVerifier = oidc.randomPKCECodeVerifier()
    const silent = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: SPA_REDIRECT, scope: 'openid', prompt: 'none',
      code_challenge: await oidc.calculatePKCECodeChallenge(silentVerifier), code_challenge_method: 'S256',
    })
    const res = await browser.navigate(silent.href)
    const back = new URL(res.url)
    expect(back.searchParams.get('error')).toBeNull()
    const again = await oidc.authorizationCodeGrant(spa, back, { pkceCodeVerifier: silentVerifier })
    expect(again.claims()!.sub).toBe(tokens.claims()!.sub)
  })
})

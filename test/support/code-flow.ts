// One relying party's whole sign-in, as openid-client does it: authorization code + PKCE (S256)
// through the real login and consent pages (HttpBrowser), then the code redeemed at the token
// endpoint. Used by the scale-out tests, which run it against different topologies and instances.
import * as oidc from 'openid-client'
import { HttpBrowser, signIn } from './browser.ts'
import { ALICE, SPA_REDIRECT } from './fixtures.ts'

export const insecure = { execute: [oidc.allowInsecureRequests] }

/** The public SPA client of test/support/fixtures.ts, discovered at `issuer`. */
export function discoverSpa(issuer: string): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(issuer), 'spa', undefined, oidc.None(), insecure)
}

/** An authorization request with PKCE (S256) and a state: its URL, and what redeeming its code needs. */
export async function authorizationRequest(client: oidc.Configuration, params: Record<string, string>) {
  const verifier = oidc.randomPKCECodeVerifier()
  const state = oidc.randomState()
  const url = oidc.buildAuthorizationUrl(client, {
    state, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
  })
  return { url: url.href, verifier, state }
}

/** Signs Alice in on `browser` (its origin: where the pages are fetched) and returns the callback URL and PKCE verifier. */
export async function authorizeAndSignIn(spa: oidc.Configuration, browser: HttpBrowser, scope = 'openid profile email offline_access', extra: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier()
  const state = oidc.randomState()
  const url = oidc.buildAuthorizationUrl(spa, {
    redirect_uri: SPA_REDIRECT, scope, state, prompt: 'consent',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
  })
  const callback = await signIn(browser, url.href, { login: ALICE.email, password: ALICE.password })
  return { callback, verifier, state }
}

/** Sign-in, code redemption, userinfo, one refresh: the whole life of a session's tokens. */
export async function signInAndRefresh(issuer: string) {
  const spa = await discoverSpa(issuer)
  const browser = new HttpBrowser(issuer)
  const { callback, verifier, state } = await authorizeAndSignIn(spa, browser)
  const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier, expectedState: state })
  const userinfo = await oidc.fetchUserInfo(spa, tokens.access_token, tokens.claims()!.sub)
  const refreshed = await oidc.refreshTokenGrant(spa, tokens.refresh_token!)
  return { spa, browser, tokens, userinfo, refreshed }
}

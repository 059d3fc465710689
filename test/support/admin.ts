// Real access tokens for the admin API: people sign in through the pages (password, or password
// and TOTP) with the admin console's own client as RP (the only client a person's admin-API token
// is issued to); services use client credentials.
import * as oidc from 'openid-client'
import { HttpBrowser, formWithAction } from './browser.ts'
import { totpCode } from './mfa-fixtures.ts'
import { ADMIN_CONSOLE_CLIENT_ID, adminConsoleRedirectUri } from '../../src/admin/console-client.ts'

export const ADMIN_TEST_CLIENT = 'admin-test'
export const ADMIN_TEST_REDIRECT = 'http://localhost:4100/callback'
const insecure = { execute: [oidc.allowInsecureRequests] }

export const adminResourceOf = (issuer: string) => `${issuer}/admin/api`

export async function personToken(issuer: string, who: { login: string; password: string; totpSecret?: string }, scopes: readonly string[]): Promise<string> {
  const config = await oidc.discovery(new URL(issuer), ADMIN_CONSOLE_CLIENT_ID, undefined, oidc.None(), insecure)
  const redirectUri = adminConsoleRedirectUri(issuer)
  const verifier = oidc.randomPKCECodeVerifier()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: ['openid', ...scopes].join(' '), resource: adminResourceOf(issuer),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', prompt: 'login',
  })
  const browser = new HttpBrowser(issuer)
  let res = await browser.navigate(url.href)
  const post = (suffix: string, fields: Record<string, string>) => {
    const form = formWithAction(res.body, suffix)
    return browser.navigate(new URL(form.action, issuer).href, { form: { ...form.fields, ...fields } })
  }
  // The console's redirect URI is on this server: the walk ends there (the console's page itself is not read).
  for (let step = 0; step < 8 && !res.url.startsWith(`${redirectUri}?`) && new URL(res.url).origin === browser.origin; step++) {
    if (/\/login"/.test(res.body)) res = await post('/login', { login: who.login, password: who.password })
    else if (/\/mfa\/verify"/.test(res.body)) res = await post('/mfa/verify', { code: await totpCode(who.totpSecret!) })
    else if (/\/mfa\/select"/.test(res.body)) {
      const method = [...res.body.matchAll(/name="method" value="([^"]*)"/g)].map((m) => m[1]!).find((v) => v !== 'backup')!
      res = await post('/mfa/select', { method })
    } else if (/\/consent"/.test(res.body)) res = await post('/consent', {})
    else throw new Error(`unexpected page (${res.status}): ${res.body.slice(0, 1500)}`)
  }
  const tokens = await oidc.authorizationCodeGrant(config, new URL(res.url), { pkceCodeVerifier: verifier })
  return tokens.access_token
}

export async function serviceToken(issuer: string, clientId: string, secret: string, scopes: readonly string[]): Promise<string> {
  const config = await oidc.discovery(new URL(issuer), clientId, secret, oidc.ClientSecretBasic(secret), insecure)
  const tokens = await oidc.clientCredentialsGrant(config, { scope: scopes.join(' '), resource: adminResourceOf(issuer) })
  return tokens.access_token
}

/** Calls the admin API; JSON bodies in and out. */
export function adminApi(issuer: string) {
  return async function call(token: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${issuer}/admin/api/v1${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
    const text = await res.text()
    let json: any
    try { json = text ? JSON.parse(text) : undefined } catch { json = undefined }
    return { status: res.status, headers: res.headers, text, json }
  }
}

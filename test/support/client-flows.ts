// One registered client's flow, run the way a relying party runs it: openid-client 6 against a
// started server, a person signing in through the real pages (HttpBrowser). Every door that
// registers clients (registry, CLI, admin API, console, dynamic registration) registers its
// clients its own way and then hands them here, so each door is proven by the same flows.
//
// API (small on purpose):
//
//   const outcome = await runClientFlow(issuer, client, flow, options?)
//     issuer   the server's issuer URL (IamInstance.issuer)
//     client   FlowClient: { clientId, authMethod, secret?, key?, redirectUri? }
//               - authMethod: how it authenticates at the token, PAR and device endpoints
//                 ('client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none')
//               - secret: for client_secret_*
//               - key: a private JWK (with kid and alg) whose public half is in the client's jwks
//                 or behind its jwks_uri; signs private_key_jwt assertions and request objects
//               - redirectUri: one of its registered redirect URIs (authorization-code flows)
//     flow     FlowName:
//               'code'               authorization code + PKCE (S256) at /auth
//               'code-without-pkce'  the same without code_challenge (legacy confidential clients)
//               'code-jar'           a signed request object (RFC 9101) at /auth (needs key)
//               'code-par'           the parameters pushed to /request (RFC 9126), then /auth
//               'code-par-jar'       a signed request object pushed to /request, then /auth
//               'client-credentials' the client credentials grant
//               'device'             device authorization (RFC 8628): the person enters the code
//                                    and confirms over HTTP, the client polls
//     options  { scope?, resource?, person? } — person defaults to ALICE (test/support/fixtures.ts),
//               so the server's database needs createFixtures' people, or pass your own.
//
//   → FlowOutcome: { ok: true, tokens, claims?, userinfo?, refreshed? }
//                | { ok: false, error, errorDescription?, at: 'redirect' | 'page' | 'endpoint' }
//     Refusals are outcomes, not exceptions (assert `ok` and `error`); anything unexpected (a page
//     the helper does not know, a network failure) throws. Authorization-code and device flows
//     with a refresh token also refresh once (`refreshed: true`), and read userinfo when `openid`
//     was granted.
//
//   const config = await configure(issuer, client) → the client's openid-client Configuration
//     (discovered, with its client authentication), for steps of your own
//
//   const key = await clientKey('ES256')        → { privateJwk, publicJwks } (kid set)
//   const jwks = await serveJwks(key.publicJwks) → { url, close() } on 127.0.0.1 (the test servers'
//     OUTBOUND_ALLOWED_HOSTS names 127.0.0.1: test/support/iam.ts), for clients with a jwks_uri
//
// Redirect URIs need nothing listening: HttpBrowser stops at the redirect that leaves the server.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import * as oidc from 'openid-client'
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose'
import { HttpBrowser, formWithAction, type PageResponse } from './browser.ts'
import { ALICE } from './fixtures.ts'

export type FlowName = 'code' | 'code-without-pkce' | 'code-jar' | 'code-par' | 'code-par-jar' | 'client-credentials' | 'device'
export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'

export interface FlowClient {
  clientId: string
  authMethod: AuthMethod
  secret?: string
  /** Private JWK (kid, alg set): private_key_jwt assertions and request objects. */
  key?: JWK
  redirectUri?: string
}

export interface FlowOptions {
  /** Default: 'openid profile offline_access' for flows with a person, none for client credentials. */
  scope?: string
  resource?: string
  person?: { login: string; password: string }
}

export type Tokens = oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers

export type FlowOutcome =
  | { ok: true; tokens: Tokens; claims?: oidc.IDToken; userinfo?: oidc.UserInfoResponse; refreshed?: boolean }
  | { ok: false; error: string; errorDescription?: string; at: 'redirect' | 'page' | 'endpoint' }

const insecure = { execute: [oidc.allowInsecureRequests] }
const DEFAULT_PERSON = { login: ALICE.email, password: ALICE.password }

export type SigningAlg = 'ES256' | 'RS256' | 'PS256' | 'EdDSA'
/** A client's public signing key as registered (jwks, or behind jwks_uri). */
export type PublicJwk = JWK & { kty: 'EC' | 'RSA' | 'OKP'; kid: string; alg: SigningAlg; use: 'sig' }
export interface ClientKey { privateJwk: JWK; publicJwks: { keys: PublicJwk[] } }

/** A fresh signing key for a client: the private JWK for the helper, the public JWK Set to register. */
export async function clientKey(alg: SigningAlg = 'ES256'): Promise<ClientKey> {
  const pair = await generateKeyPair(alg, { extractable: true })
  const kid = randomUUID()
  const privateJwk = { ...await exportJWK(pair.privateKey), kid, alg }
  const publicJwk = { ...await exportJWK(pair.publicKey), kid, alg, use: 'sig' } as PublicJwk
  return { privateJwk, publicJwks: { keys: [publicJwk] } }
}

/** Serves `jwks` at http://127.0.0.1:<port>/jwks until closed. */
export async function serveJwks(jwks: { keys: JWK[] }): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify(jwks))
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

async function signingKey(client: FlowClient): Promise<oidc.PrivateKey> {
  if (!client.key?.alg) throw new Error(`${client.clientId}: this flow needs the client's private JWK (with alg)`)
  return { key: await importJWK(client.key, client.key.alg) as CryptoKey, kid: client.key.kid }
}

async function clientAuth(client: FlowClient): Promise<oidc.ClientAuth> {
  switch (client.authMethod) {
    case 'client_secret_basic': return oidc.ClientSecretBasic(need(client.secret, client, 'secret'))
    case 'client_secret_post': return oidc.ClientSecretPost(need(client.secret, client, 'secret'))
    case 'private_key_jwt': return oidc.PrivateKeyJwt(await signingKey(client))
    case 'none': return oidc.None()
  }
}

function need<T>(value: T | undefined, client: FlowClient, what: string): T {
  if (value === undefined) throw new Error(`${client.clientId}: this flow needs the client's ${what}`)
  return value
}

/** The client's openid-client Configuration, discovered at `issuer`. */
export async function configure(issuer: string, client: FlowClient): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(issuer), client.clientId, undefined, await clientAuth(client), insecure)
}

/** An OAuth error as an outcome; anything else is rethrown. */
function refusal(err: unknown): FlowOutcome {
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError) {
    return { ok: false, error: err.error, ...(err.error_description ? { errorDescription: err.error_description } : {}), at: 'endpoint' }
  }
  // A 401 with its error in WWW-Authenticate (invalid_client at the device authorization endpoint).
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    const { error, error_description: description } = err.cause[0]?.parameters ?? {}
    if (error) return { ok: false, error, ...(description ? { errorDescription: description } : {}), at: 'endpoint' }
  }
  throw err
}

export async function runClientFlow(issuer: string, client: FlowClient, flow: FlowName, options: FlowOptions = {}): Promise<FlowOutcome> {
  const config = await configure(issuer, client)
  try {
    if (flow === 'client-credentials') {
      const params: Record<string, string> = {}
      if (options.scope) params.scope = options.scope
      if (options.resource) params.resource = options.resource
      return { ok: true, tokens: await oidc.clientCredentialsGrant(config, params) }
    }
    if (flow === 'device') return await deviceFlow(issuer, config, options)
    return await codeFlow(issuer, config, client, flow, options)
  } catch (err) {
    return refusal(err)
  }
}

async function codeFlow(issuer: string, config: oidc.Configuration, client: FlowClient, flow: FlowName, options: FlowOptions): Promise<FlowOutcome> {
  const redirectUri = need(client.redirectUri, client, 'redirectUri')
  const scope = options.scope ?? 'openid profile offline_access'
  const state = oidc.randomState()
  const verifier = oidc.randomPKCECodeVerifier()
  const params: Record<string, string> = { redirect_uri: redirectUri, scope, state }
  // offline_access is granted only with an explicit consent prompt (OIDC Core §11).
  if (scope.split(' ').includes('offline_access')) params.prompt = 'consent'
  if (options.resource) params.resource = options.resource
  if (flow !== 'code-without-pkce') {
    params.code_challenge = await oidc.calculatePKCECodeChallenge(verifier)
    params.code_challenge_method = 'S256'
  }

  let url: URL
  switch (flow) {
    case 'code':
    case 'code-without-pkce':
      url = oidc.buildAuthorizationUrl(config, params)
      break
    case 'code-jar':
      url = await oidc.buildAuthorizationUrlWithJAR(config, params, await signingKey(client))
      break
    case 'code-par':
      url = await oidc.buildAuthorizationUrlWithPAR(config, params)
      break
    case 'code-par-jar': {
      const jar = await oidc.buildAuthorizationUrlWithJAR(config, params, await signingKey(client))
      url = await oidc.buildAuthorizationUrlWithPAR(config, jar.searchParams)
      break
    }
    default:
      throw new Error(`not an authorization-code flow: ${flow}`)
  }

  const browser = new HttpBrowser(issuer)
  const landed = await walkPages(browser, await browser.navigate(url.href), options.person ?? DEFAULT_PERSON)
  if (new URL(landed.url).origin === browser.origin) return pageRefusal(landed)
  const callback = new URL(landed.url)
  const error = callback.searchParams.get('error')
  if (error) {
    const description = callback.searchParams.get('error_description')
    return { ok: false, error, ...(description ? { errorDescription: description } : {}), at: 'redirect' }
  }
  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    expectedState: state, ...(flow === 'code-without-pkce' ? {} : { pkceCodeVerifier: verifier }),
  })
  return withUserinfoAndRefresh(config, tokens)
}

async function deviceFlow(issuer: string, config: oidc.Configuration, options: FlowOptions): Promise<FlowOutcome> {
  const params: Record<string, string> = { scope: options.scope ?? 'openid profile offline_access' }
  if (options.resource) params.resource = options.resource
  const device = await oidc.initiateDeviceAuthorization(config, params)
  const polling = oidc.pollDeviceAuthorizationGrant(config, device, undefined, { signal: AbortSignal.timeout(45_000) })
  polling.catch(() => {}) // awaited below, after the person has confirmed

  const browser = new HttpBrowser(issuer)
  const input = await browser.navigate(device.verification_uri)
  const inputForm = formWithAction(input.body, '/device')
  const confirm = await browser.navigate(new URL(inputForm.action, issuer).href, { form: { ...inputForm.fields, user_code: device.user_code } })
  const confirmForm = formWithAction(confirm.body, '/device')
  const done = await walkPages(browser, await browser.navigate(new URL(confirmForm.action, issuer).href, { form: { ...confirmForm.fields, confirm: 'yes' } }), options.person ?? DEFAULT_PERSON)
  if (!done.body.includes('Device connected')) throw new Error(`device not connected (status ${done.status}):\n${done.body.slice(0, 2000)}`)
  return withUserinfoAndRefresh(config, await polling)
}

async function withUserinfoAndRefresh(config: oidc.Configuration, tokens: Tokens): Promise<FlowOutcome> {
  const claims = tokens.claims()
  const userinfo = claims ? await oidc.fetchUserInfo(config, tokens.access_token, claims.sub) : undefined
  let refreshed: boolean | undefined
  if (tokens.refresh_token) {
    const again = await oidc.refreshTokenGrant(config, tokens.refresh_token)
    refreshed = Boolean(again.access_token)
  }
  return {
    ok: true, tokens,
    ...(claims ? { claims } : {}),
    ...(userinfo ? { userinfo } : {}),
    ...(refreshed !== undefined ? { refreshed } : {}),
  }
}

/** Posts the login and consent forms while the browser is on one of them; returns the first other response. */
async function walkPages(browser: HttpBrowser, res: PageResponse, person: { login: string; password: string }): Promise<PageResponse> {
  for (let step = 0; step < 6; step++) {
    if (new URL(res.url).origin !== browser.origin) return res
    if (res.body.includes('name="password"') && /\/login"/.test(res.body)) {
      const form = formWithAction(res.body, '/login')
      res = await browser.navigate(new URL(form.action, browser.origin).href, { form: { ...form.fields, login: person.login, password: person.password } })
      continue
    }
    if (/\/consent"/.test(res.body)) {
      const form = formWithAction(res.body, '/consent')
      res = await browser.navigate(new URL(form.action, browser.origin).href, { form: form.fields })
      continue
    }
    return res
  }
  throw new Error('sign-in did not finish')
}

/** An error page of ours (the request could not be sent back to the client): its OAuth error code. */
function pageRefusal(res: PageResponse): FlowOutcome {
  const code = /<code[^>]*>([a-z_]+)<\/code>/.exec(res.body)?.[1] ?? /\b(invalid_[a-z_]+|unauthorized_client|access_denied)\b/.exec(res.body)?.[1]
  if (res.status >= 400 && code) return { ok: false, error: code, at: 'page' }
  throw new Error(`unexpected page (status ${res.status}):\n${res.body.slice(0, 2000)}`)
}

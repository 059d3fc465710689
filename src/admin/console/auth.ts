// Signing in: the console is a public client of this same server (client id admin-console),
// authorization code + PKCE (S256) with oauth4webapi. Tokens live in memory only; the PKCE
// verifier, state, nonce and the page to return to live in sessionStorage for the redirect round
// trip and are removed on the way back. A reload has no token: it asks again with prompt=none
// (the server's session cookie answers without a page), and falls back to the sign-in page.
import * as oauth from 'oauth4webapi'

export const CLIENT_ID = 'admin-console'
export const ADMIN_SCOPES = [
  'users:read', 'users:write', 'roles:read', 'roles:write', 'clients:read', 'clients:write',
  'tenants:read', 'tenants:write', 'sessions:read', 'sessions:write', 'audit:read',
] as const

const PENDING_KEY = 'iam-admin-console:pending'
const NOTICE_KEY = 'iam-admin-console:notice'

export interface Tokens {
  accessToken: string
  idToken?: string | undefined
  expiresAt: number
}

interface Pending {
  state: string
  nonce: string
  verifier: string
  returnTo: string
  silent: boolean
  stepUp: boolean
}

/** Why the console is not signed in and what the person can do (no token; shown by the app). */
export class SignInProblem extends Error {
  constructor(message: string, readonly retry: boolean = true) {
    super(message)
  }
}

function issuerFromPage(): URL {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="iam-issuer"]')?.content
  return new URL(meta || location.origin)
}

export const issuer = issuerFromPage()
export const basePath = '/admin'
export const redirectUri = `${issuer.href.replace(/\/$/, '')}${basePath}/callback`
export const postLogoutUri = `${issuer.href.replace(/\/$/, '')}${basePath}/`
export const apiResource = `${issuer.href.replace(/\/$/, '')}${basePath}/api`
const client: oauth.Client = { client_id: CLIENT_ID }
// http issuers only in development and tests; oauth4webapi refuses them unless told.
const insecure = issuer.protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {}

let server: oauth.AuthorizationServer | undefined
let tokens: Tokens | undefined

async function authorizationServer(): Promise<oauth.AuthorizationServer> {
  if (!server) {
    const response = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure })
    server = await oauth.processDiscoveryResponse(issuer, response)
  }
  return server
}

export function accessToken(): string | undefined {
  return tokens?.accessToken
}

/** A message for the next page the console shows (survives the redirect round trip). */
export function takeNotice(): string | undefined {
  const notice = sessionStorage.getItem(NOTICE_KEY) ?? undefined
  sessionStorage.removeItem(NOTICE_KEY)
  return notice
}

export interface AuthorizeOptions {
  /** prompt=none: no page, the existing session answers. */
  silent?: boolean
  /** RFC 9470 step-up: what the API asked for. */
  acrValues?: string | undefined
  maxAge?: number | undefined
  /** Where to come back to (path + query under /admin); the current page by default. */
  returnTo?: string
}

/** Sends the browser to the authorization endpoint (a full-page redirect; never returns). */
export async function authorize(opts: AuthorizeOptions = {}): Promise<never> {
  const as = await authorizationServer()
  const verifier = oauth.generateRandomCodeVerifier()
  const pending: Pending = {
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    verifier,
    returnTo: opts.returnTo ?? currentPage(),
    silent: Boolean(opts.silent),
    stepUp: Boolean(opts.acrValues || opts.maxAge !== undefined),
  }
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending))
  const url = new URL(as.authorization_endpoint!)
  url.searchParams.set('client_id', CLIENT_ID)
  url.searchParams.set('redirect_uri', redirectUri)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('scope', ['openid', 'profile', 'email', ...ADMIN_SCOPES].join(' '))
  url.searchParams.set('resource', apiResource)
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier))
  url.searchParams.set('code_challenge_method', 'S256')
  url.searchParams.set('state', pending.state)
  url.searchParams.set('nonce', pending.nonce)
  if (opts.silent) url.searchParams.set('prompt', 'none')
  if (opts.acrValues) url.searchParams.set('acr_values', opts.acrValues)
  if (opts.maxAge !== undefined) url.searchParams.set('max_age', String(opts.maxAge))
  location.assign(url.href)
  return new Promise<never>(() => undefined)
}

function currentPage(): string {
  const here = `${location.pathname}${location.search}`
  return here.startsWith(`${basePath}/callback`) ? `${basePath}/` : here
}

/** Only paths of the console itself are places to return to (never another origin). */
function safeReturn(path: string): string {
  return path.startsWith(`${basePath}/`) && !path.startsWith('//') && !path.startsWith(`${basePath}/callback`) ? path : `${basePath}/`
}

/**
 * At start: finish a redirect round trip (on /admin/callback), or get a token silently. Resolves
 * with the path to show once signed in; redirects otherwise; throws SignInProblem when it cannot.
 */
export async function signIn(): Promise<string> {
  if (tokens) return currentPage()
  if (location.pathname === `${basePath}/callback`) return finishRedirect()
  if (new URLSearchParams(location.search).get('state') === 'signed-out') {
    throw new SignInProblem('You are signed out of the admin console.')
  }
  return authorize({ silent: true })
}

async function finishRedirect(): Promise<string> {
  const raw = sessionStorage.getItem(PENDING_KEY)
  sessionStorage.removeItem(PENDING_KEY)
  if (!raw) throw new SignInProblem('This sign-in link has already been used or has expired.')
  const pending = JSON.parse(raw) as Pending
  const as = await authorizationServer()
  let params: URLSearchParams
  try {
    params = oauth.validateAuthResponse(as, client, new URL(location.href), pending.state)
  } catch (err) {
    if (err instanceof oauth.AuthorizationResponseError) {
      // No session (or it needs a page): sign in interactively, back to the same place.
      if (pending.silent && ['login_required', 'interaction_required', 'consent_required', 'account_selection_required'].includes(err.error)) {
        return authorize({ returnTo: safeReturn(pending.returnTo) })
      }
      if (err.error === 'access_denied') throw new SignInProblem('Sign-in was cancelled.')
      throw new SignInProblem(`The server did not sign you in: ${err.error_description ?? err.error}.`)
    }
    throw err
  }
  const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, pending.verifier, {
    additionalParameters: { resource: apiResource },
    ...insecure,
  })
  const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: pending.nonce, requireIdToken: true })
  tokens = {
    accessToken: result.access_token,
    idToken: result.id_token,
    expiresAt: Date.now() + (result.expires_in ?? 300) * 1000,
  }
  if (pending.stepUp) sessionStorage.setItem(NOTICE_KEY, 'You confirmed it is you. Repeat the action to complete it.')
  const back = safeReturn(pending.returnTo)
  history.replaceState(null, '', back)
  return back
}

/** RP-initiated logout: the server ends its session and returns to /admin/?state=signed-out. */
export async function signOut(): Promise<never> {
  const as = await authorizationServer()
  const url = new URL(as.end_session_endpoint!)
  url.searchParams.set('client_id', CLIENT_ID)
  if (tokens?.idToken) url.searchParams.set('id_token_hint', tokens.idToken)
  url.searchParams.set('post_logout_redirect_uri', postLogoutUri)
  url.searchParams.set('state', 'signed-out')
  tokens = undefined
  location.assign(url.href)
  return new Promise<never>(() => undefined)
}

/** Calls the protected resource with the token (oauth4webapi parses WWW-Authenticate challenges). */
export function resourceRequest(method: string, url: URL, headers: Headers, body?: string): Promise<Response> {
  if (!tokens) return authorize({ silent: true })
  return oauth.protectedResourceRequest(tokens.accessToken, method, url, headers, body ?? null, insecure)
}

export { oauth }

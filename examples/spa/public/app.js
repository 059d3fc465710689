// The single-page app: authorization code + PKCE (S256) as a public client with oauth4webapi, in
// the browser. Tokens live in this module's memory only (never localStorage): a reload forgets
// them and the person signs in again (a real app would first try prompt=none). The PKCE verifier,
// state and nonce survive the redirect round trip in sessionStorage and are removed on return.
import * as oauth from '/vendor/oauth4webapi.js'

const PENDING = 'example-spa:pending'
const LOGOUT_STATE = 'example-spa:logout-state'

/** @type {{ issuer: string, clientId: string, apiIdentifier: string, apiUrl: string, apiScope: string }} */
const config = await (await fetch('/config.json')).json()
const issuer = new URL(config.issuer)
// oauth4webapi refuses http:// unless told: only for local development.
const insecure = issuer.protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {}
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }))
/** @type {oauth.Client} */
const client = { client_id: config.clientId }
const redirectUri = `${location.origin}/callback`

/** @type {{ accessToken: string, refreshToken?: string, idToken: string, claims: oauth.IDToken } | undefined} */
let tokens

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id))

function show(/** @type {string} */ status) {
  $('status').textContent = status
  $('signed-in').hidden = !tokens
  $('signed-out').hidden = Boolean(tokens)
  if (tokens) $('who').textContent = String(tokens.claims.email ?? tokens.claims.sub)
}

// Sign in: to the authorization endpoint, asking for an access token for the API (resource
// indicator + its scope) and a refresh token (offline_access, which needs prompt=consent).
async function signIn() {
  const pending = { verifier: oauth.generateRandomCodeVerifier(), state: oauth.generateRandomState(), nonce: oauth.generateRandomNonce() }
  sessionStorage.setItem(PENDING, JSON.stringify(pending))
  const url = new URL(/** @type {string} */ (as.authorization_endpoint))
  url.searchParams.set('client_id', config.clientId)
  url.searchParams.set('redirect_uri', redirectUri)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('scope', `openid email offline_access ${config.apiScope}`)
  url.searchParams.set('resource', config.apiIdentifier)
  url.searchParams.set('prompt', 'consent')
  // The access token is for the API, not for userinfo: ask for the email in the ID token instead.
  url.searchParams.set('claims', JSON.stringify({ id_token: { email: null } }))
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(pending.verifier))
  url.searchParams.set('code_challenge_method', 'S256')
  url.searchParams.set('state', pending.state)
  url.searchParams.set('nonce', pending.nonce)
  location.assign(url.href)
}

// Back on /callback: check the response (state, iss), redeem the code with the PKCE verifier.
async function finishSignIn() {
  const callback = new URL(location.href)
  const raw = sessionStorage.getItem(PENDING)
  sessionStorage.removeItem(PENDING)
  history.replaceState(null, '', '/') // the code is single-use: keep it out of the history
  if (!raw) return show('This sign-in has expired or was already used. Sign in again.')
  const pending = JSON.parse(raw)
  try {
    const params = oauth.validateAuthResponse(as, client, callback, pending.state)
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, pending.verifier, {
      additionalParameters: { resource: config.apiIdentifier }, ...insecure,
    })
    const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: pending.nonce, requireIdToken: true })
    keep(result)
    show('Signed in.')
  } catch (err) {
    // access_denied when the person pressed Cancel; other OAuth errors name what was refused.
    if (err instanceof oauth.AuthorizationResponseError || err instanceof oauth.ResponseBodyError) return show(`Sign-in failed: ${err.error}`)
    throw err
  }
}

/** @param {oauth.TokenEndpointResponse} result */
function keep(result) {
  const claims = oauth.getValidatedIdTokenClaims(result) ?? tokens?.claims
  tokens = {
    accessToken: result.access_token,
    // Public clients' refresh tokens rotate on every use: always keep the newest one.
    refreshToken: result.refresh_token ?? tokens?.refreshToken,
    idToken: result.id_token ?? /** @type {string} */ (tokens?.idToken),
    claims: /** @type {oauth.IDToken} */ (claims),
  }
}

async function callApi() {
  if (!tokens) return
  const answer = $('api-answer')
  try {
    const response = await oauth.protectedResourceRequest(tokens.accessToken, 'GET', new URL(config.apiUrl), new Headers(), null, insecure)
    answer.textContent = `${response.status} ${await response.text()}`
  } catch (err) {
    // 401/403 with a WWW-Authenticate challenge: invalid_token (refresh and retry), insufficient_scope,
    // or insufficient_user_authentication (RFC 9470: sign in again with the acr_values/max_age it names).
    if (err instanceof oauth.WWWAuthenticateChallengeError) {
      answer.textContent = `${err.response.status} ${err.cause.map((c) => `${c.scheme} ${JSON.stringify(c.parameters)}`).join(', ')}`
      return
    }
    throw err
  }
}

async function refresh() {
  if (!tokens?.refreshToken) return show('No refresh token: sign in again.')
  try {
    const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refreshToken, {
      additionalParameters: { resource: config.apiIdentifier }, ...insecure,
    })
    keep(await oauth.processRefreshTokenResponse(as, client, response))
    show('Tokens refreshed.')
  } catch (err) {
    // invalid_grant: revoked (signed out, or a rotated refresh token was used twice): sign in again.
    if (err instanceof oauth.ResponseBodyError && err.error === 'invalid_grant') {
      tokens = undefined
      return show('Your sign-in has ended. Sign in again.')
    }
    throw err
  }
}

// RP-initiated logout: forget the tokens, let the identity provider end its session; it returns
// to post_logout_redirect_uri with our state.
function signOut() {
  const url = new URL(/** @type {string} */ (as.end_session_endpoint))
  const state = oauth.generateRandomState()
  sessionStorage.setItem(LOGOUT_STATE, state)
  url.searchParams.set('client_id', config.clientId)
  if (tokens) url.searchParams.set('id_token_hint', tokens.idToken)
  url.searchParams.set('post_logout_redirect_uri', `${location.origin}/`)
  url.searchParams.set('state', state)
  tokens = undefined
  location.assign(url.href)
}

$('sign-in').addEventListener('click', () => void signIn().catch(fail))
$('call-api').addEventListener('click', () => void callApi().catch(fail))
$('refresh').addEventListener('click', () => void refresh().catch(fail))
$('sign-out').addEventListener('click', signOut)

function fail(/** @type {unknown} */ err) {
  console.error(err)
  show(`Something went wrong: ${err instanceof Error ? err.message : String(err)}`)
}

const here = new URL(location.href)
if (here.pathname === '/callback') {
  await finishSignIn().catch(fail)
} else if (here.searchParams.has('state') && here.searchParams.get('state') === sessionStorage.getItem(LOGOUT_STATE)) {
  sessionStorage.removeItem(LOGOUT_STATE)
  history.replaceState(null, '', '/')
  show('You are signed out.')
} else {
  show('You are not signed in.')
}

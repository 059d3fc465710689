// A server-side web app (Express 5 + openid-client 6): sign in with the authorization code flow
// (PKCE S256, state, nonce) as a confidential client (client_secret_basic), a profile page with
// the ID token's claims and userinfo, refreshing the tokens, RP-initiated logout, and a
// back-channel logout endpoint (the identity provider tells the app when the person signs out
// there).
//
// Register it once (stop an embedded-mode server first); the secret is printed once:
//   npm run iam -- client create --kind web --name "Example web app" \
//     --redirect-uri http://localhost:8080/callback \
//     --post-logout-redirect-uri http://localhost:8080/signed-out \
//     --backchannel-logout-uri http://localhost:8080/backchannel-logout
// (For back-channel logout to a loopback address the server needs OUTBOUND_ALLOWED_HOSTS=localhost.)
//
// Run:
//   ISSUER=http://localhost:3000 CLIENT_ID=… CLIENT_SECRET=… PORT=8080 node examples/web-app/server.mjs
//   then open http://localhost:8080/
//
// Settings (environment): ISSUER, CLIENT_ID, CLIENT_SECRET, PORT (8080), HOST (127.0.0.1),
// BASE_URL (http://localhost:PORT: where the browser reaches this app; the registered redirect
// URIs are BASE_URL/callback and BASE_URL/signed-out).
//
// Sessions: an in-memory Map keyed by a random 256-bit cookie value. Enough for an example; a real
// app keeps sessions in a store shared by its instances (express-session with Redis, say) and
// treats the tokens in it as secrets.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import express from 'express'
import * as client from 'openid-client'
import * as jose from 'jose'

const ISSUER = required('ISSUER')
const CLIENT_ID = required('CLIENT_ID')
const PORT = Number(process.env.PORT ?? 8080)
const HOST = process.env.HOST ?? '127.0.0.1'
const BASE_URL = (process.env.BASE_URL ?? `http://localhost:${PORT}`).replace(/\/$/, '')
const REDIRECT_URI = `${BASE_URL}/callback`
const POST_LOGOUT_REDIRECT_URI = `${BASE_URL}/signed-out`
// offline_access asks for a refresh token; OpenID Connect grants it only with prompt=consent.
const SCOPE = 'openid profile email roles offline_access'

// Discovery, and the client's credentials (client_secret_basic is openid-client's default).
// http:// issuers only for local development.
const config = await client.discovery(new URL(ISSUER), CLIENT_ID, required('CLIENT_SECRET'), undefined,
  new URL(ISSUER).protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined)
const jwks = jose.createRemoteJWKSet(new URL(/** @type {string} */ (config.serverMetadata().jwks_uri)))

/**
 * @typedef {{ verifier: string, state: string, nonce: string }} PendingLogin
 * @typedef {{ idToken: string, claims: Record<string, unknown>, accessToken: string,
 *   refreshToken?: string, expiresAt: number, userinfo: Record<string, unknown>, refreshed: number }} SignedIn
 * @typedef {{ csrf: string, pending?: PendingLogin, user?: SignedIn, notice?: string }} Session
 */
/** @type {Map<string, Session>} */
const sessions = new Map()
const COOKIE = 'example_web_session'
const secureCookies = BASE_URL.startsWith('https:')

/** The browser's session, made when missing. @param {express.Request} req @param {express.Response} res */
function session(req, res) {
  const id = cookies(req)[COOKIE]
  const existing = id ? sessions.get(id) : undefined
  if (existing) return existing
  return newSession(res)
}

/** A fresh session under a new id (also after sign-in: no session fixation). @param {express.Response} res */
function newSession(res, /** @type {Partial<Session>} */ data = {}) {
  const id = randomBytes(32).toString('base64url')
  const s = { csrf: randomBytes(32).toString('base64url'), ...data }
  sessions.set(id, s)
  res.cookie(COOKIE, id, { httpOnly: true, sameSite: 'lax', secure: secureCookies, path: '/' })
  return s
}

/** @param {express.Request} req @param {express.Response} res */
function endSession(req, res) {
  const id = cookies(req)[COOKIE]
  if (id) sessions.delete(id)
  res.clearCookie(COOKIE, { path: '/' })
}

/** @param {express.Request} req @returns {Record<string, string>} */
function cookies(req) {
  return Object.fromEntries((req.headers.cookie ?? '').split(';').map((c) => c.trim().split('=')).filter((p) => p.length === 2))
}

const app = express()
app.disable('x-powered-by')
app.use(express.urlencoded({ extended: false }))
app.use((req, res, next) => {
  res.set({ 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' " + new URL(ISSUER).origin, 'referrer-policy': 'no-referrer' })
  next()
})

// Forms post a per-session token (SameSite=Lax already keeps cross-site posts cookie-less).
/** @param {express.Request} req @param {Session} s */
function csrfOk(req, s) {
  const sent = Buffer.from(String(req.body?.csrf ?? ''))
  const expected = Buffer.from(s.csrf)
  return sent.length === expected.length && timingSafeEqual(sent, expected)
}

app.get('/', (req, res) => {
  const s = session(req, res)
  const notice = s.notice
  delete s.notice
  if (!s.user) {
    return res.send(page('Example web app', `
      ${notice ? `<p role="status">${esc(notice)}</p>` : ''}
      <p>You are not signed in.</p>
      <p><a href="/login">Sign in</a></p>`))
  }
  const { claims, userinfo, expiresAt, refreshToken, refreshed } = s.user
  res.send(page('Example web app', `
    ${notice ? `<p role="status">${esc(notice)}</p>` : ''}
    <h2>Signed in as ${esc(userinfo.email ?? claims.sub)}</h2>
    <h3>ID token claims</h3>${table(claims)}
    <h3>Userinfo</h3>${table(userinfo)}
    <p>The access token expires at ${esc(new Date(expiresAt).toISOString())}; refreshed ${refreshed} time(s).</p>
    <form method="post" action="/refresh"><input type="hidden" name="csrf" value="${esc(s.csrf)}">
      <button type="submit"${refreshToken ? '' : ' disabled'}>Refresh tokens</button></form>
    <form method="post" action="/logout"><input type="hidden" name="csrf" value="${esc(s.csrf)}">
      <button type="submit">Sign out</button></form>`))
})

// 1. Send the browser to the authorization endpoint with PKCE, state and nonce kept in the session.
app.get('/login', async (req, res) => {
  const s = session(req, res)
  const pending = { verifier: client.randomPKCECodeVerifier(), state: client.randomState(), nonce: client.randomNonce() }
  s.pending = pending
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    prompt: 'consent',
    code_challenge: await client.calculatePKCECodeChallenge(pending.verifier),
    code_challenge_method: 'S256',
    state: pending.state,
    nonce: pending.nonce,
    // Step-up: add acr_values: 'urn:iam:acr:mfa' (and max_age) to require a second factor.
  })
  res.redirect(url.href)
})

// 2. The authorization server sends the browser back here with a code (or an error).
app.get('/callback', async (req, res, next) => {
  const s = session(req, res)
  const pending = s.pending
  delete s.pending
  if (!pending) return res.status(400).send(page('Sign-in failed', '<p>This sign-in has expired or was already used. <a href="/login">Sign in again</a>.</p>'))
  try {
    // Checks state, iss (RFC 9207), the ID token (signature, iss, aud, nonce, exp) and PKCE.
    const tokens = await client.authorizationCodeGrant(config, new URL(req.originalUrl, BASE_URL), {
      pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true,
    })
    const claims = /** @type {Record<string, unknown>} */ (tokens.claims())
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, /** @type {string} */ (claims.sub))
    endSession(req, res)
    newSession(res, { user: {
      idToken: /** @type {string} */ (tokens.id_token), claims, userinfo,
      accessToken: tokens.access_token, refreshToken: tokens.refresh_token,
      expiresAt: Date.now() + (tokens.expires_in ?? 0) * 1000, refreshed: 0,
    } })
    res.redirect('/')
  } catch (err) {
    // The person pressed "Cancel" (access_denied), or the request was refused.
    if (err instanceof client.AuthorizationResponseError || err instanceof client.ResponseBodyError) {
      return res.status(400).send(page('Sign-in failed', `<p>${esc(err.error)}: ${esc(err.error_description ?? '')}</p><p><a href="/">Back</a></p>`))
    }
    next(err)
  }
})

// Refresh: a new access token (and, when the server rotates it, a new refresh token).
app.post('/refresh', async (req, res, next) => {
  const s = session(req, res)
  if (!csrfOk(req, s)) return res.status(403).send(page('Refused', '<p>Reload the page and try again.</p>'))
  if (!s.user?.refreshToken) return res.redirect('/')
  try {
    const tokens = await client.refreshTokenGrant(config, s.user.refreshToken)
    s.user.accessToken = tokens.access_token
    if (tokens.refresh_token) s.user.refreshToken = tokens.refresh_token
    if (tokens.id_token) s.user.idToken = tokens.id_token
    s.user.expiresAt = Date.now() + (tokens.expires_in ?? 0) * 1000
    s.user.refreshed += 1
    s.user.userinfo = await client.fetchUserInfo(config, tokens.access_token, /** @type {string} */ (s.user.claims.sub))
    s.notice = 'Tokens refreshed.'
    res.redirect('/')
  } catch (err) {
    // invalid_grant: the grant was revoked (signed out elsewhere, password changed…): sign in again.
    if (err instanceof client.ResponseBodyError && err.error === 'invalid_grant') {
      endSession(req, res)
      newSession(res, { notice: 'Your sign-in has ended. Sign in again.' })
      return res.redirect('/')
    }
    next(err)
  }
})

// RP-initiated logout: forget the local session, then let the identity provider end its own; it
// sends the browser back to the registered post_logout_redirect_uri.
app.post('/logout', (req, res) => {
  const s = session(req, res)
  if (!csrfOk(req, s)) return res.status(403).send(page('Refused', '<p>Reload the page and try again.</p>'))
  const idToken = s.user?.idToken
  endSession(req, res)
  if (!idToken) return res.redirect('/')
  res.redirect(client.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI }).href)
})

app.get('/signed-out', (req, res) => {
  res.send(page('Signed out', '<p>You are signed out of the example web app.</p><p><a href="/">Home</a></p>'))
})

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the identity provider posts a
// logout token when the person's session there ends; end every local session of that sid.
app.post('/backchannel-logout', async (req, res) => {
  try {
    const { payload } = await jose.jwtVerify(String(req.body?.logout_token ?? ''), jwks, {
      issuer: config.serverMetadata().issuer, audience: CLIENT_ID, typ: 'logout+jwt', maxTokenAge: '5m', requiredClaims: ['iat', 'jti', 'events'],
    })
    const events = /** @type {Record<string, unknown>} */ (payload.events ?? {})
    if (!events['http://schemas.openid.net/event/backchannel-logout'] || 'nonce' in payload || (!payload.sid && !payload.sub)) throw new Error('not a logout token')
    for (const [id, s] of sessions) {
      const c = s.user?.claims
      if (c && (payload.sid ? c.sid === payload.sid : c.sub === payload.sub)) sessions.delete(id)
    }
    res.set('cache-control', 'no-store').status(200).end()
  } catch {
    res.status(400).json({ error: 'invalid_request' })
  }
})

app.use((/** @type {Error} */ err, /** @type {express.Request} */ req, /** @type {express.Response} */ res, /** @type {express.NextFunction} */ _next) => {
  console.error(err)
  res.status(500).send(page('Something went wrong', '<p>Something went wrong. <a href="/">Back</a></p>'))
})

/** @param {string} title @param {string} body */
function page(title, body) {
  return `<!doctype html><html lang="en"><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}td,th{text-align:left;padding:.2rem .6rem;vertical-align:top}form{display:inline-block;margin-right:.5rem}</style>
<h1>${esc(title)}</h1>${body}</html>`
}

/** @param {Record<string, unknown>} claims */
function table(claims) {
  return `<table>${Object.entries(claims).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(typeof v === 'string' ? v : JSON.stringify(v))}</td></tr>`).join('')}</table>`
}

/** @param {unknown} v */
function esc(v) {
  return String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** @param {string} name */
function required(name) {
  const value = process.env[name]
  if (!value) throw new Error(`set ${name} (see the comment at the top of this file)`)
  return value
}

const server = app.listen(PORT, HOST, () => console.log(`example web app listening on ${BASE_URL} (http://${HOST}:${PORT})`))
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)))

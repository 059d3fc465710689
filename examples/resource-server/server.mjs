// A resource server (an API) that accepts access tokens from this identity provider.
//
// Two ways to check a token, chosen by TOKEN_CHECK:
//   jwt (default)   verify the JWT access token locally with jose (RFC 9068): signature against the
//                   issuer's jwks_uri, iss, aud = this API's identifier, exp, typ "at+jwt"
//   introspection   ask the issuer's introspection endpoint (RFC 7662) as a confidential client;
//                   for APIs registered with --format opaque
// Then it checks the scope the route needs, and (GET /api/sensitive) that the person used a
// second factor recently (RFC 9470 step-up).
//
// Register the API once (stop an embedded-mode server first):
//   npm run iam -- resource create --identifier https://api.example.com --name "Example API" --scope read --scope write
//   # introspection: add --format opaque, and a client the API authenticates with:
//   npm run iam -- client create --kind service --name "Example API (introspection)"
//
// Run:
//   ISSUER=http://localhost:3000 API_IDENTIFIER=https://api.example.com PORT=4000 \
//     node examples/resource-server/server.mjs
//   TOKEN_CHECK=introspection INTROSPECTION_CLIENT_ID=… INTROSPECTION_CLIENT_SECRET=… (same command)
//
// Settings (environment): ISSUER, API_IDENTIFIER, PORT (4000), HOST (127.0.0.1), REQUIRED_SCOPE
// (read), TOKEN_CHECK, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, CORS_ORIGINS (comma-
// separated origins of browser apps allowed to call it, e.g. the SPA example's).
import http from 'node:http'
import * as jose from 'jose'

const ISSUER = required('ISSUER')
const API_IDENTIFIER = required('API_IDENTIFIER')
const PORT = Number(process.env.PORT ?? 4000)
const HOST = process.env.HOST ?? '127.0.0.1'
const REQUIRED_SCOPE = process.env.REQUIRED_SCOPE ?? 'read'
const TOKEN_CHECK = process.env.TOKEN_CHECK ?? 'jwt'
const CORS_ORIGINS = new Set((process.env.CORS_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean))
const MFA = 'urn:iam:acr:mfa'
const STEP_UP_MAX_AGE = 300

if (!['jwt', 'introspection'].includes(TOKEN_CHECK)) throw new Error('TOKEN_CHECK must be jwt or introspection')

// Discovery: the issuer says where its keys and endpoints are. The issuer value must match exactly.
const discovery = await (await fetch(new URL('.well-known/openid-configuration', ISSUER.endsWith('/') ? ISSUER : `${ISSUER}/`))).json()
if (discovery.issuer !== ISSUER) throw new Error(`discovery names issuer ${discovery.issuer}, expected ${ISSUER}`)
// Fetched on first use, cached, and fetched again when a token names an unknown kid (key rotation).
const jwks = jose.createRemoteJWKSet(new URL(discovery.jwks_uri))

/** An error that becomes a 401/403 with an RFC 6750 WWW-Authenticate challenge. */
class Challenge extends Error {
  /** @param {number} status @param {Record<string, string>} params */
  constructor(status, params) {
    super(params.error_description ?? params.error ?? 'unauthorized')
    this.status = status
    this.params = params
  }
}

/**
 * The token's claims, or a Challenge.
 * @param {string} token
 * @returns {Promise<Record<string, unknown>>}
 */
async function verifyAccessToken(token) {
  if (TOKEN_CHECK === 'jwt') {
    try {
      const { payload } = await jose.jwtVerify(token, jwks, {
        issuer: ISSUER,
        audience: API_IDENTIFIER,
        typ: 'at+jwt', // RFC 9068: refuses ID tokens and other JWTs signed with the same keys
        algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
        requiredClaims: ['exp', 'sub', 'client_id'],
      })
      return payload
    } catch (err) {
      throw new Challenge(401, { error: 'invalid_token', error_description: describe(err) })
    }
  }
  const response = await fetch(discovery.introspection_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(required('INTROSPECTION_CLIENT_ID'))}:${encodeURIComponent(required('INTROSPECTION_CLIENT_SECRET'))}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams({ token }),
  })
  if (!response.ok) {
    const body = await response.text()
    // The server introspects only the tokens it stores: a JWT access token (for an API registered
    // with --format jwt) is refused as unsupported_token_type. It is not a token for this API.
    if (response.status === 400 && body.includes('"unsupported_token_type"')) throw new Challenge(401, { error: 'invalid_token', error_description: 'the token is not for this API' })
    throw new Error(`introspection failed: ${response.status} ${body}`)
  }
  const claims = await response.json()
  const audiences = [claims.aud ?? []].flat()
  if (claims.active !== true) throw new Challenge(401, { error: 'invalid_token', error_description: 'the token is not active' })
  if (!audiences.includes(API_IDENTIFIER)) throw new Challenge(401, { error: 'invalid_token', error_description: 'the token is not for this API' })
  return claims
}

/** @param {unknown} err */
function describe(err) {
  if (err instanceof jose.errors.JWTExpired) return 'the token has expired'
  if (err instanceof jose.errors.JWTClaimValidationFailed) return `the token's ${err.claim} claim is not acceptable`
  if (err instanceof jose.errors.JOSEError) return 'the token could not be verified'
  return 'the token could not be verified'
}

/** @param {Record<string, unknown>} claims @param {string} scope */
function requireScope(claims, scope) {
  const granted = typeof claims.scope === 'string' ? claims.scope.split(' ') : []
  if (!granted.includes(scope)) throw new Challenge(403, { error: 'insufficient_scope', error_description: `this needs the ${scope} scope`, scope })
}

/** RFC 9470: a second factor within the last STEP_UP_MAX_AGE seconds. @param {Record<string, unknown>} claims */
function requireRecentMfa(claims) {
  const fresh = typeof claims.auth_time === 'number' && Date.now() / 1000 - claims.auth_time <= STEP_UP_MAX_AGE
  if (claims.acr !== MFA || !fresh) {
    throw new Challenge(401, {
      error: 'insufficient_user_authentication',
      error_description: 'a second factor within the last 5 minutes is required',
      acr_values: MFA,
      max_age: String(STEP_UP_MAX_AGE),
    })
  }
}

/** @param {Record<string, string>} params */
function challengeHeader(params) {
  // max_age is a number in RFC 9470's examples; every other value is a quoted string.
  const parts = Object.entries(params).map(([k, v]) => (k === 'max_age' ? `${k}=${v}` : `${k}="${v.replace(/["\\]/g, '')}"`))
  return ['Bearer realm="example-api"', ...parts].join(', ')
}

/** @param {http.IncomingMessage} req @param {http.ServerResponse} res */
async function handle(req, res) {
  const origin = req.headers.origin
  if (origin && CORS_ORIGINS.has(origin)) {
    res.setHeader('access-control-allow-origin', origin)
    res.setHeader('access-control-expose-headers', 'www-authenticate')
    res.setHeader('vary', 'origin')
  }
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { 'access-control-allow-methods': 'GET', 'access-control-allow-headers': 'authorization', 'access-control-max-age': '600' })
    return res.end()
  }
  const path = new URL(req.url ?? '/', 'http://x').pathname
  if (req.method !== 'GET' || !['/api/hello', '/api/sensitive'].includes(path)) return json(res, 404, { error: 'not_found' })

  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(req.headers.authorization ?? '')
  // No credentials: a bare challenge, no error code (RFC 6750 §3.1).
  if (!req.headers.authorization) throw new Challenge(401, {})
  if (!match) throw new Challenge(401, { error: 'invalid_request', error_description: 'use Authorization: Bearer <token>' })
  const claims = await verifyAccessToken(match[1])
  requireScope(claims, REQUIRED_SCOPE)
  if (path === '/api/sensitive') requireRecentMfa(claims)

  json(res, 200, {
    message: claims.sub === claims.client_id ? `Hello, service ${claims.client_id}` : `Hello, ${claims.sub}`,
    sub: claims.sub,
    client_id: claims.client_id,
    scope: claims.scope,
    acr: claims.acr ?? null,
    checked_by: TOKEN_CHECK,
  })
}

/** @param {http.ServerResponse} res @param {number} status @param {unknown} body */
function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}

/** @param {string} name */
function required(name) {
  const value = process.env[name]
  if (!value) throw new Error(`set ${name} (see the comment at the top of this file)`)
  return value
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (err instanceof Challenge) {
      res.setHeader('www-authenticate', challengeHeader(err.params))
      return json(res, err.status, err.params.error ? { error: err.params.error, error_description: err.params.error_description } : { error: 'unauthorized' })
    }
    console.error(err)
    json(res, 500, { error: 'server_error' })
  })
})
server.listen(PORT, HOST, () => console.log(`example API (${TOKEN_CHECK}) for ${API_IDENTIFIER} listening on http://${HOST}:${PORT}`))
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)))

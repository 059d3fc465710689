// A service (a batch job, a backend calling another backend): OAuth 2.0 client credentials with a
// resource indicator (RFC 8707), so the access token is a JWT whose audience is the API it calls.
// Prints the API's answer and exits 0; exits 1 when the token request or the API call fails.
//
// Register it once (stop an embedded-mode server first); the secret is printed once:
//   npm run iam -- client create --kind service --name "Example service"
// and the API it calls (see examples/resource-server/server.mjs):
//   npm run iam -- resource create --identifier https://api.example.com --name "Example API" --scope read --scope write
//
// Run (with the resource server example listening on :4000):
//   ISSUER=http://localhost:3000 CLIENT_ID=… CLIENT_SECRET=… \
//     API_IDENTIFIER=https://api.example.com API_URL=http://localhost:4000/api/hello \
//     node examples/service/client.mjs
//
// Settings (environment): ISSUER, CLIENT_ID, CLIENT_SECRET, API_IDENTIFIER (the resource
// indicator), API_URL (what to call), SCOPE (read).
import * as client from 'openid-client'

const ISSUER = required('ISSUER')
const API_IDENTIFIER = required('API_IDENTIFIER')
const API_URL = required('API_URL')
const SCOPE = process.env.SCOPE ?? 'read'

// client_secret_basic. openid-client refuses http:// issuers unless told: allow it only for
// local development (an http issuer in production would be a misconfiguration).
const config = await client.discovery(new URL(ISSUER), required('CLIENT_ID'), required('CLIENT_SECRET'), undefined,
  new URL(ISSUER).protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined)

try {
  // A token per API: `resource` names the API; the token's scope is what the API offers and the
  // request asked for. Cache it until shortly before `expires_in` in a long-running service.
  const tokens = await client.clientCredentialsGrant(config, { resource: API_IDENTIFIER, scope: SCOPE })
  console.log(`got an access token for ${API_IDENTIFIER} (scope "${tokens.scope}", expires in ${tokens.expires_in} s)`)

  const response = await client.fetchProtectedResource(config, tokens.access_token, new URL(API_URL), 'GET')
  const body = await response.text()
  if (!response.ok) {
    console.error(`the API answered ${response.status}: ${response.headers.get('www-authenticate') ?? ''} ${body}`)
    process.exit(1)
  }
  console.log(`the API answered ${response.status}: ${body}`)
} catch (err) {
  // OAuth errors from the token endpoint: invalid_client (wrong id/secret), invalid_target (the
  // API is not registered), invalid_scope (a scope the API does not offer)…
  if (err instanceof client.ResponseBodyError) console.error(`token request refused: ${err.error}: ${err.error_description ?? ''}`)
  else console.error(err)
  process.exit(1)
}

/** @param {string} name */
function required(name) {
  const value = process.env[name]
  if (!value) throw new Error(`set ${name} (see the comment at the top of this file)`)
  return value
}

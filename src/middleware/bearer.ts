// Bearer access tokens for this server's own APIs (RFC 6750): the one reader of `Authorization:
// Bearer` (the demo API and the admin API both use it), the verifier, and RFC 9470 step-up challenges:
// a route states the resource it is, and optionally how strong (acr) and how recent (max_age) the
// person's authentication behind the token must be. A token that falls short is answered with
// `insufficient_user_authentication` and the acr_values / max_age to ask the authorization server
// for; the client re-authorizes with them and retries.
//
// JWT access tokens (RFC 9068) are verified locally against the provider's own signing keys; opaque
// ones are looked up in the provider's store. Tokens bound to a key (DPoP, mTLS) are refused here:
// presenting them as plain bearer tokens is what binding exists to prevent.
import type { Context, Next } from 'koa'
import type Provider from 'oidc-provider'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose'
import { ACR_VALUES } from '../mfa/acr.ts'
import { publicSigningKeys } from '../oidc/provider.ts'

export interface BearerRequirement {
  /** The resource indicator (RFC 8707) the token must be issued for: its audience. */
  resource: string
  /** The weakest acceptable authentication context class; stronger ones (later in ACR_VALUES) pass. */
  acr?: string | undefined
  /** The oldest acceptable authentication, in seconds since the token's auth_time. */
  maxAge?: number | undefined
  /** Scopes the token must carry, all of them. */
  scopes?: string[] | undefined
  /**
   * The URL of the resource's Protected Resource Metadata (RFC 9728), named in every challenge as
   * `resource_metadata` (§5.1) so a client that meets the resource first can find out how to get a token.
   */
  resourceMetadata?: string | undefined
}

/** What a verified token says; handlers find it on `ctx.state.accessToken`. */
export interface VerifiedAccessToken {
  format: 'jwt' | 'opaque'
  /** The person (or, for client credentials, the client). */
  sub: string
  clientId: string
  scopes: string[]
  acr?: string | undefined
  amr?: string[] | undefined
  authTime?: number | undefined
  /** When the token was issued (seconds): weighed against the client's registration and last disable. */
  iat: number
  exp: number
}

/** Thrown by `verifyAccessToken` for a token that must not be accepted (`invalid_token`). */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError'
}

// Asymmetric only: our JWT access tokens are never HMAC-signed (see oidc/resource-servers.ts).
const ALGORITHMS = ['ES256', 'RS256', 'PS256', 'EdDSA']
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i
const CLOCK_TOLERANCE = 5
const MAX_TOKEN_LENGTH = 8192

/** How strong an acr is: its position in ACR_VALUES (-1: unknown or none). */
function acrRank(acr: string | undefined): number {
  return acr ? (ACR_VALUES as readonly string[]).indexOf(acr) : -1
}

/**
 * The bearer token a request presents, read the one way: `none` without an Authorization header
 * (RFC 6750 §3.1: answered without an error code), `invalid` for anything but one well-formed
 * Bearer token of a sane length, else the token.
 */
export type BearerCredentials = { kind: 'none' } | { kind: 'invalid'; reason: string } | { kind: 'token'; value: string }

export function bearerCredentials(ctx: Context): BearerCredentials {
  const header = ctx.get('authorization')
  if (!header) return { kind: 'none' }
  const value = BEARER.exec(header)?.[1]
  if (!value) return { kind: 'invalid', reason: 'the Authorization header is not a Bearer token' }
  if (value.length > MAX_TOKEN_LENGTH) return { kind: 'invalid', reason: 'the token is too long' }
  return { kind: 'token', value }
}

/** `key="value"` with the value escaped as an RFC 9110 quoted-string. */
const quoted = (key: string, value: string) => `${key}="${value.replace(/["\\]/g, '\\$&')}"`

function answerChallenge(ctx: Context, status: number, params: string[], body: Record<string, unknown>) {
  ctx.status = status
  ctx.set('WWW-Authenticate', params.length ? `Bearer ${params.join(', ')}` : 'Bearer')
  ctx.set('Cache-Control', 'no-store')
  ctx.body = body
}

function stringArray(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined
}

function fromJwtPayload(payload: JWTPayload): VerifiedAccessToken {
  if (typeof payload.sub !== 'string' || typeof payload.client_id !== 'string' || typeof payload.exp !== 'number' || typeof payload.iat !== 'number') {
    throw new InvalidTokenError('the token lacks sub, client_id, iat or exp')
  }
  if (payload.cnf !== undefined) throw new InvalidTokenError('the token is sender-constrained and cannot be used as a bearer token')
  return {
    format: 'jwt',
    sub: payload.sub,
    clientId: payload.client_id,
    scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
    acr: typeof payload.acr === 'string' ? payload.acr : undefined,
    amr: stringArray(payload.amr),
    authTime: typeof payload.auth_time === 'number' ? payload.auth_time : undefined,
    iat: payload.iat,
    exp: payload.exp,
  }
}

type OpaqueToken = {
  accountId?: string | undefined
  clientId?: string | undefined
  scope?: string | undefined
  aud?: string | string[] | undefined
  iat?: number | undefined
  exp?: number | undefined
  jkt?: string | undefined
  'x5t#S256'?: string | undefined
  extra?: Record<string, unknown> | undefined
  isExpired: boolean
}

/**
 * Verifies an access token for `resource`. JWTs: signature with the provider's keys, typ at+jwt,
 * iss, aud, exp. Opaque tokens: found in the provider's store (not revoked, not expired), same
 * audience. Throws InvalidTokenError otherwise.
 */
export function accessTokenVerifier(provider: Provider) {
  let keys: ReturnType<typeof createLocalJWKSet> | undefined

  return async function verifyAccessToken(value: string, resource: string): Promise<VerifiedAccessToken> {
    if (value.split('.').length === 3) {
      try {
        decodeProtectedHeader(value)
      } catch {
        throw new InvalidTokenError('the token is malformed')
      }
      keys ??= createLocalJWKSet(publicSigningKeys(provider))
      try {
        const { payload } = await jwtVerify(value, keys, {
          issuer: provider.issuer, audience: resource, typ: 'at+jwt', algorithms: ALGORITHMS,
          requiredClaims: ['exp', 'iat', 'sub', 'client_id'], clockTolerance: CLOCK_TOLERANCE,
        })
        return fromJwtPayload(payload)
      } catch (err) {
        if (err instanceof InvalidTokenError) throw err
        throw new InvalidTokenError(`the token is not valid for this resource (${(err as { code?: string }).code ?? 'unverifiable'})`)
      }
    }
    const token = ((await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value))) as OpaqueToken | undefined
    if (!token || token.isExpired || typeof token.exp !== 'number' || typeof token.iat !== 'number' || !token.clientId) throw new InvalidTokenError('the token is unknown, expired or revoked')
    const audiences = Array.isArray(token.aud) ? token.aud : token.aud === undefined ? [] : [token.aud]
    if (!audiences.includes(resource)) throw new InvalidTokenError('the token is not valid for this resource')
    if (token.jkt || token['x5t#S256']) throw new InvalidTokenError('the token is sender-constrained and cannot be used as a bearer token')
    const extra = token.extra ?? {}
    return {
      format: 'opaque',
      sub: token.accountId ?? token.clientId,
      clientId: token.clientId,
      scopes: token.scope?.split(' ').filter(Boolean) ?? [],
      acr: typeof extra.acr === 'string' ? extra.acr : undefined,
      amr: stringArray(extra.amr),
      authTime: typeof extra.auth_time === 'number' ? extra.auth_time : undefined,
      iat: token.iat,
      exp: token.exp,
    }
  }
}

/**
 * Koa middleware: lets the request through only with a bearer access token for `resource` that
 * meets the requirement, and puts the token on `ctx.state.accessToken`. Otherwise answers:
 *   401 `Bearer` (no token), 401 `invalid_token`, 403 `insufficient_scope`,
 *   401 `insufficient_user_authentication` with acr_values and max_age (RFC 9470 §3);
 * each with `resource_metadata` (RFC 9728 §5.1) when the requirement names the metadata's URL.
 */
export function requireBearer(provider: Provider, requirement: BearerRequirement) {
  const verify = accessTokenVerifier(provider)
  const { resource, acr, maxAge, scopes = [], resourceMetadata } = requirement
  if (acr !== undefined && acrRank(acr) < 0) throw new Error(`unknown acr ${acr}: expected one of ${ACR_VALUES.join(', ')}`)
  if (maxAge !== undefined && !(Number.isInteger(maxAge) && maxAge >= 0)) throw new Error('maxAge must be a whole number of seconds')
  const metadataParams = resourceMetadata === undefined ? [] : [quoted('resource_metadata', resourceMetadata)]
  const challenge = (ctx: Context, status: number, params: string[], body: Record<string, unknown>) =>
    answerChallenge(ctx, status, [...params, ...metadataParams], body)

  return async function bearer(ctx: Context, next: Next) {
    const presented = bearerCredentials(ctx)
    if (presented.kind === 'none') {
      // RFC 6750 §3.1: no error code when the request carries no credentials at all.
      return challenge(ctx, 401, [], { error: 'unauthorized', error_description: 'a bearer access token is required' })
    }
    let token: VerifiedAccessToken
    try {
      if (presented.kind === 'invalid') throw new InvalidTokenError(presented.reason)
      token = await verify(presented.value, resource)
    } catch (err) {
      if (!(err instanceof InvalidTokenError)) throw err
      return challenge(ctx, 401, [quoted('error', 'invalid_token'), quoted('error_description', err.message)], { error: 'invalid_token', error_description: err.message })
    }

    const missing = scopes.filter((s) => !token.scopes.includes(s))
    if (missing.length) {
      const description = `the token lacks the scope ${missing.join(' ')}`
      return challenge(ctx, 403, [quoted('error', 'insufficient_scope'), quoted('error_description', description), quoted('scope', scopes.join(' '))], { error: 'insufficient_scope', error_description: description })
    }

    const now = Math.floor(Date.now() / 1000)
    const weak = acr !== undefined && acrRank(token.acr) < acrRank(acr)
    const stale = maxAge !== undefined && (token.authTime === undefined || now - token.authTime > maxAge)
    if (weak || stale) {
      // The challenge always names everything this resource requires, so one re-authorization
      // with these parameters satisfies it (RFC 9470 §3 allows both together).
      const description = weak
        ? 'a stronger authentication is required: sign in with a second factor'
        : `a more recent authentication is required: at most ${maxAge} seconds ago`
      const params = [quoted('error', 'insufficient_user_authentication'), quoted('error_description', description)]
      if (acr !== undefined) params.push(quoted('acr_values', acr))
      if (maxAge !== undefined) params.push(`max_age=${maxAge}`)
      return challenge(ctx, 401, params, { error: 'insufficient_user_authentication', error_description: description, ...(acr !== undefined ? { acr_values: acr } : {}), ...(maxAge !== undefined ? { max_age: maxAge } : {}) })
    }

    ctx.state.accessToken = token
    await next()
  }
}

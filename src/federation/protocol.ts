// The OpenID Connect relying-party side of federation, on openid-client: discovery, the
// authorization URL (state, nonce, PKCE S256), and redeeming the code with every ID token check
// (signature, issuer, audience, expiry, nonce). Upstream-specific rules (Entra's tenants and
// subject, claim names) live in azure-ad.ts and generic.ts.
import * as oidc from 'openid-client'
import * as oauth from 'oauth4webapi'
import { decodeJwt } from 'jose'
import { z } from 'zod'
import { classifyProtocolError, FederationFailure, isNetworkError } from './failure.ts'

/** Seconds before an upstream request (discovery, token, JWKS, userinfo) counts as unreachable. */
export const UPSTREAM_TIMEOUT_SECONDS = 10
/** Discovered metadata is reused this long; keys rotate through the JWKS cache, not this. */
const METADATA_TTL_MS = 60 * 60 * 1000

export type IdTokenClaims = oauth.IDToken

export interface RedeemChecks {
  /** The full state sent upstream. */
  state: string
  nonce: string
  codeVerifier: string
}

export interface RedeemedTokens {
  claims: IdTokenClaims
  accessToken: string
}

export interface AuthorizationParameters {
  redirectUri: string
  scope: string
  state: string
  nonce: string
  codeChallenge: string
  extra?: Record<string, string | undefined>
}

export interface UpstreamClientOptions {
  clientId: string
  clientSecret: string
  insecure: boolean
  /** Fetches and checks the server metadata (the issuer check differs per upstream kind). */
  discover(): Promise<oidc.ServerMetadata>
}

/** Discovery for an upstream with one fixed issuer: openid-client checks the document names exactly it. */
export async function discoverFixedIssuer(issuer: string, insecure: boolean): Promise<oidc.ServerMetadata> {
  const config = await oidc.discovery(new URL(issuer), 'discovery-only', undefined, oidc.None(), {
    timeout: UPSTREAM_TIMEOUT_SECONDS,
    execute: insecure ? [oidc.allowInsecureRequests] : [],
  })
  // A plain copy: serverMetadata() carries helper methods a new Configuration must not clone.
  return { ...config.serverMetadata() } as oidc.ServerMetadata
}

const metadataDocument = z.looseObject({
  issuer: z.string().min(1),
  authorization_endpoint: z.url(),
  token_endpoint: z.url(),
  jwks_uri: z.url(),
})

/**
 * Discovery for an upstream whose document names an issuer template (Entra's organizations/common
 * document says `{authority}/{tenantid}/v2.0`). openid-client's discovery insists the document's
 * issuer equals the URL it came from and waives that only for https://login.microsoftonline.com;
 * here the template itself is the expected value, whatever the authority's host.
 */
export async function discoverIssuerTemplate(documentUrl: string, expectedTemplate: string): Promise<oidc.ServerMetadata> {
  const response = await fetch(documentUrl, { headers: { accept: 'application/json' }, redirect: 'manual', signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_SECONDS * 1000) })
  if (response.status !== 200) throw new FederationFailure('upstream_unreachable', `discovery answered HTTP ${response.status}`, { status: response.status })
  const document = metadataDocument.safeParse(await response.json().catch(() => undefined))
  if (!document.success) throw new FederationFailure('upstream_unreachable', 'discovery document is not valid metadata')
  if (document.data.issuer !== expectedTemplate) {
    throw new FederationFailure('issuer_mismatch', `discovery names issuer ${document.data.issuer}, expected ${expectedTemplate}`, { check: 'discovery' })
  }
  return document.data as oidc.ServerMetadata
}

/** Reads an ID token's claims WITHOUT validating it: only to learn which issuer to validate it against. */
function peekIdTokenClaims(body: unknown): Record<string, unknown> | undefined {
  const idToken = (body as { id_token?: unknown } | undefined)?.id_token
  if (typeof idToken !== 'string') return undefined
  try {
    return decodeJwt(idToken)
  } catch {
    return undefined
  }
}

export function createUpstreamClient(options: UpstreamClientOptions) {
  const { clientId, clientSecret, insecure } = options
  let cached: { config: oidc.Configuration; metadata: oidc.ServerMetadata; auth: oauth.ClientAuth; at: number } | undefined
  let pending: Promise<NonNullable<typeof cached>> | undefined
  // The per-tenant path's JWKS cache (openid-client keeps its own inside the Configuration).
  const jwksCache: oauth.JWKSCacheInput = {}

  async function build(): Promise<NonNullable<typeof cached>> {
    const metadata = await options.discover()
    // client_secret_post when advertised (Entra lists it; openid-client's default), otherwise
    // client_secret_basic, the default of RFC 8414 when the document names no method.
    const methods = metadata.token_endpoint_auth_methods_supported
    const post = methods?.includes('client_secret_post') ?? false
    const config = new oidc.Configuration(metadata, clientId, undefined, post ? oidc.ClientSecretPost(clientSecret) : oidc.ClientSecretBasic(clientSecret))
    config.timeout = UPSTREAM_TIMEOUT_SECONDS
    if (insecure) oidc.allowInsecureRequests(config)
    // Also verify the ID token's signature against the upstream's JWKS (openid-client otherwise
    // trusts the TLS channel for it): http is allowed in development, and it costs one cached fetch.
    oidc.enableNonRepudiationChecks(config)
    return { config, metadata, auth: post ? oauth.ClientSecretPost(clientSecret) : oauth.ClientSecretBasic(clientSecret), at: Date.now() }
  }

  /** The openid-client Configuration, discovered once and reused; a failed discovery is retried next time. */
  async function configuration() {
    if (cached && Date.now() - cached.at < METADATA_TTL_MS) return cached
    pending ??= build().then((built) => {
      cached = built
      return built
    }).finally(() => {
      pending = undefined
    })
    try {
      return await pending
    } catch (err) {
      if (err instanceof FederationFailure) throw err
      if (isNetworkError(err)) throw new FederationFailure('upstream_unreachable', (err as Error).message)
      const claimed = (err as { code?: string }).code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED'
      throw new FederationFailure(claimed ? 'issuer_mismatch' : 'upstream_unreachable', (err as Error).message, { check: 'discovery' })
    }
  }

  /** Server-side values the http options of the per-tenant path need (openid-client sets these itself). */
  const http = () => ({ [oauth.allowInsecureRequests]: insecure, signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_SECONDS * 1000) })

  return {
    async serverMetadata(): Promise<oidc.ServerMetadata> {
      return (await configuration()).metadata
    },

    async authorizationUrl(p: AuthorizationParameters): Promise<URL> {
      const { config } = await configuration()
      const extra = Object.fromEntries(Object.entries(p.extra ?? {}).filter((e): e is [string, string] => e[1] !== undefined))
      return oidc.buildAuthorizationUrl(config, {
        ...extra, redirect_uri: p.redirectUri, scope: p.scope, state: p.state, nonce: p.nonce,
        code_challenge: p.codeChallenge, code_challenge_method: 'S256',
      })
    },

    /** Redeems the code; the ID token's `iss` must equal the discovered issuer exactly. */
    async redeem(callbackUrl: URL, checks: RedeemChecks): Promise<RedeemedTokens> {
      const { config } = await configuration()
      try {
        const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: checks.codeVerifier, expectedState: checks.state, expectedNonce: checks.nonce, idTokenExpected: true,
        })
        return { claims: tokens.claims()!, accessToken: tokens.access_token }
      } catch (err) {
        throw classifyProtocolError(err)
      }
    },

    /**
     * Redeems the code for an upstream whose issuer depends on the token: Entra multi-tenant, where
     * `iss` is `{authority}/{tid}/v2.0`. openid-client validates `iss` against the one issuer its
     * Configuration was made with, and the tenant is known only once the token arrives; so this
     * runs the same oauth4webapi steps as openid-client's authorizationCodeGrant, with the expected
     * issuer computed from the token's own (not yet trusted) tid. oauth4webapi then requires `iss`
     * to equal it exactly and checks signature, audience, expiry and nonce as usual; the caller
     * checks the now-validated tid against its allow-list.
     */
    async redeemWithIssuerFromToken(callbackUrl: URL, redirectUri: string, checks: RedeemChecks, issuerFor: (claims: Record<string, unknown>) => string | undefined): Promise<RedeemedTokens> {
      const { config, metadata: as, auth } = await configuration()
      const client = config.clientMetadata()
      try {
        // RFC 9207 `iss` on the authorization response, when sent, must name the token's issuer (checked below).
        const issParameter = callbackUrl.searchParams.get('iss') ?? undefined
        const parameters = oauth.validateAuthResponse({ ...as, issuer: issParameter ?? as.issuer }, client, callbackUrl.searchParams, checks.state)
        const response = await oauth.authorizationCodeGrantRequest(as, client, auth, parameters, redirectUri, checks.codeVerifier, http())
        const peeked = response.ok ? peekIdTokenClaims(await response.clone().json().catch(() => undefined)) : undefined
        const issuer = peeked ? issuerFor(peeked) : as.issuer
        if (!issuer) throw new FederationFailure('token_invalid', 'the ID token names no usable tenant', { check: 'tid' })
        if (issParameter !== undefined && issParameter !== issuer) throw new FederationFailure('issuer_mismatch', 'authorization response iss differs from the ID token issuer', { check: 'iss_parameter' })
        const tenantAs = { ...as, issuer }
        const result = await oauth.processAuthorizationCodeResponse(tenantAs, client, response, { expectedNonce: checks.nonce, requireIdToken: true })
        await oauth.validateApplicationLevelSignature(tenantAs, response, { ...http(), [oauth.jwksCache]: jwksCache })
        return { claims: oauth.getValidatedIdTokenClaims(result)!, accessToken: result.access_token }
      } catch (err) {
        throw classifyProtocolError(err)
      }
    },

    /** The userinfo response for this subject (openid-client checks its `sub`). */
    async userinfo(accessToken: string, subject: string): Promise<Record<string, unknown>> {
      const { config } = await configuration()
      try {
        return await oidc.fetchUserInfo(config, accessToken, subject)
      } catch (err) {
        throw classifyProtocolError(err)
      }
    },
  }
}
export type UpstreamClient = ReturnType<typeof createUpstreamClient>

/** A PKCE verifier and its S256 challenge, plus state and nonce values. */
export async function newAuthorizationSecrets() {
  const codeVerifier = oidc.randomPKCECodeVerifier()
  return { state: oidc.randomState(), nonce: oidc.randomNonce(), codeVerifier, codeChallenge: await oidc.calculatePKCECodeChallenge(codeVerifier) }
}

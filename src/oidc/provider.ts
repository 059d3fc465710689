// The authorization server's specification sheet: every protocol decision is made here, in
// node-oidc-provider's configuration. Nothing in this file re-implements the protocol.
import Provider, { errors, type AsymmetricSigningAlgorithm, type Configuration } from 'oidc-provider'
import type { Config } from '../config.ts'
import type { Db } from '../queries/db.ts'
import { verifyClientSecret } from '../security/secrets.ts'
import { EXTRA } from '../clients/settings.ts'
import { matchesStoredClientSecret } from '../clients/registry.ts'
import { createAccountFinder } from './account.ts'
import { resourceServerFor } from './resource-access.ts'
import { createExistingGrantLoader } from './first-party-grant.ts'
import { clientStillHonours, type AdapterFactory } from './client-metadata.ts'
import type { PrivateJwks } from './keys.ts'
import type { JWK } from 'jose'
import { createInteractionPolicy } from './policy.ts'
import { boundClientAssertion } from './client-assertion.ts'
import { ACR_VALUES } from '../mfa/acr.ts'
import { deviceFlowPages } from './device-pages.ts'
import { providerPages } from './provider-pages.ts'
import { CookieSigner } from '../security/cookie-signer.ts'
import { registrationFeatures } from './dynamic-registration.ts'
import { LOCALES } from '../i18n/locales.ts'

export interface ProviderDeps {
  config: Config
  prisma: Db
  jwks: PrivateJwks
  cookieKeys: string[]
  adapter: AdapterFactory
}

/** Scopes and the claims they release (OIDC Core §5.4, plus ours). */
export const CLAIMS = {
  // acr, amr and auth_time tell relying parties how and when the person authenticated: always
  // released in ID tokens (they are session facts, not profile data).
  openid: ['sub', 'acr', 'amr', 'auth_time'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username', 'locale', 'updated_at'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  roles: ['roles'],
  tenant: ['tenant'],
} as const

// Signing algorithms we accept and produce. No HS*: client secrets are stored hashed, so nothing
// can be keyed with them (and with it client_secret_jwt and symmetric encryption are unavailable).
const SIGNING_ALGS: AsymmetricSigningAlgorithm[] = ['ES256', 'RS256', 'PS256', 'EdDSA']

const CLIENT_AUTH_METHODS: NonNullable<Configuration['clientAuthMethods']> = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt']

export function createProvider({ config, prisma, jwks, cookieKeys, adapter }: ProviderDeps): Provider {
  // The sign-out pages and the error page in the page's language (provider-pages.ts).
  const ownPages = providerPages(config.siteName, config.siteHomeUrl, prisma)
  const outboundAllowed = new Set(config.outboundAllowedHosts)

  const configuration: Configuration = {
    adapter,
    findAccount: createAccountFinder(prisma),
    jwks: jwks as Configuration['jwks'],
    cookies: {
      keys: new CookieSigner(cookieKeys),
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
      // Behind a TLS proxy every browser request is https: the session (Path=/, no Domain) is a
      // `__Host-` cookie, the interaction's (Path=/interaction/…, /auth/…) `__Secure-` ones
      // (src/security/cookie-names.ts). Names are fixed at start, so only where https is certain.
      names: config.trustProxy && config.issuer.startsWith('https://')
        ? { session: '__Host-session', interaction: '__Secure-interaction', resume: '__Secure-interaction_resume' }
        : { session: '_session', interaction: '_interaction', resume: '_interaction_resume' },
    },

    claims: Object.fromEntries(Object.entries(CLAIMS).map(([scope, claims]) => [scope, [...claims]])),
    scopes: ['openid', 'offline_access', ...Object.keys(CLAIMS).filter((s) => s !== 'openid')],
    conformIdTokenClaims: true,
    // Our per-client settings (src/clients/settings.ts, registry.ts); read below and by the interaction policy.
    extraClientMetadata: { properties: ['urn:iam:first_party', 'urn:iam:mfa_policy', 'urn:iam:mfa_max_age', 'urn:iam:tenant_id', ...Object.values(EXTRA)] },
    acrValues: [...ACR_VALUES],
    // Home-realm discovery (src/interaction/federation.ts): a domain_hint naming an upstream's domain
    // goes straight there. Unknown parameters are otherwise dropped from the interaction's params.
    extraParams: ['domain_hint'],

    clientAuthMethods: CLIENT_AUTH_METHODS,
    // private_key_jwt: assertions for this server only, living at most five minutes (client-assertion.ts).
    assertJwtClientAuthClaimsAndHeader: boundClientAssertion(config.issuer),
    // Introspection and revocation authenticate clients as the token endpoint does; RFC 8414 §2
    // reads their absence as client_secret_basic only.
    discovery: {
      introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
      introspection_endpoint_auth_signing_alg_values_supported: SIGNING_ALGS,
      revocation_endpoint_auth_signing_alg_values_supported: SIGNING_ALGS,
      // The languages the pages speak (src/i18n/locales.ts); ui_locales picks among them.
      ui_locales_supported: [...LOCALES],
    },
    enabledJWA: {
      clientAuthSigningAlgValues: SIGNING_ALGS,
      idTokenSigningAlgValues: SIGNING_ALGS,
      requestObjectSigningAlgValues: SIGNING_ALGS,
      userinfoSigningAlgValues: SIGNING_ALGS,
      introspectionSigningAlgValues: SIGNING_ALGS,
      authorizationSigningAlgValues: SIGNING_ALGS,
      dPoPSigningAlgValues: ['ES256', 'EdDSA', 'RS256', 'PS256'],
    },

    // PKCE with S256 (the only method oidc-provider 9 offers): always required for public clients;
    // for confidential ones too (RFC 9700 §2.1.1) unless their registration opts out, for
    // applications that cannot send it (docs/adr/0292-pkce-opt-out.md).
    pkce: { required: (ctx, client) => client.clientAuthMethod === 'none' || client[EXTRA.pkceOptional] !== true },

    responseTypes: ['code', 'none'],

    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // Confidential clients (resource servers) may introspect any token; a public client only its
        // own. A token of a client that is disabled or deleted, or from before its last disable, is
        // answered active:false (RFC 7662 §2.2).
        allowedPolicy: async (ctx, client, token) =>
          (client.clientAuthMethod !== 'none' || token.clientId === client.clientId)
          && clientStillHonours(prisma, token.clientId, token.iat),
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => {
          if (token.clientId === client.clientId) return true
          if (client.clientAuthMethod === 'none') return false
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token')
        },
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: ownPages.logoutSource,
        postLogoutSuccessSource: ownPages.postLogoutSuccessSource,
      },
      backchannelLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => true,
        getResourceServerInfo: (ctx, indicator, client) => resourceServerFor(prisma, ctx, indicator, client),
      },
      // RFC 7591/7592 with administrator-issued initial access tokens (off by default).
      ...registrationFeatures(config.dynamicClientRegistration, prisma),
      // PAR (RFC 9126) for every client; a client registered with require_pushed_authorization_requests
      // is refused at /auth without a request_uri from /request (ADR 0340).
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      // Signed request objects (JAR, RFC 9101) at /auth and inside PAR, verified with the client's
      // jwks or jwks_uri; only the asymmetric SIGNING_ALGS (enabledJWA), so never `none` or HS*.
      // Per client: request_object_signing_alg pins one, require_signed_request_object makes the
      // request object mandatory. Discovery then says request_parameter_supported and lists the
      // algorithms. request_uri by reference (fetched from the client's server) stays off (ADR 0340).
      requestObjects: { enabled: true, requireSignedRequestObject: false },
      dPoP: { enabled: true },
      deviceFlow: {
        enabled: true,
        ...deviceFlowPages(config.siteName, prisma),
      },
    },

    // Refresh tokens: rotated on every use for public clients (sender-constrained ones excepted),
    // otherwise once 70% of their lifetime has passed. Presenting a rotated (consumed) refresh
    // token revokes the whole grant: oidc-provider's reuse detection.
    // oidc-provider consumes a rotating refresh token before it resolves the requested resource,
    // so a refused resource would spend it and the client's corrected retry would count as reuse.
    // This runs just before that consumption: the resource is checked against the grant here.
    rotateRefreshToken: (ctx) => {
      const { RefreshToken: token, Client: client } = ctx.oidc.entities
      if (!token || !client) return false
      refuseUngrantedResource(ctx.oidc.params?.resource, token.resource)
      if (client.clientAuthMethod === 'none' && !token.isSenderConstrained()) return true
      return token.ttlPercentagePassed() >= 70
    },

    // A token for a resource server lives as long as that server says (the admin API: 15 minutes);
    // the configured lifetimes apply to tokens without one (userinfo). A client's own lifetimes
    // (its registration) replace the configured ones and may shorten, never lengthen, a resource
    // server's. A number here would override every resource server's accessTokenTTL.
    ttl: {
      AccessToken: (ctx, token, client) => accessTokenTtl(token.resourceServer?.accessTokenTTL, client[EXTRA.accessTokenTtl], config.ttl.accessToken),
      AuthorizationCode: config.ttl.authorizationCode,
      BackchannelAuthenticationRequest: 600,
      ClientCredentials: (ctx, token, client) => accessTokenTtl(token.resourceServer?.accessTokenTTL, client[EXTRA.accessTokenTtl], config.ttl.clientCredentials),
      DeviceCode: config.ttl.deviceCode,
      Grant: config.ttl.grant,
      IdToken: (ctx, token, client) => clientTtl(client[EXTRA.idTokenTtl]) ?? config.ttl.idToken,
      Interaction: config.ttl.interaction,
      PreAuthorizedCode: 600,
      RefreshToken: (ctx, token, client) => clientTtl(client[EXTRA.refreshTokenTtl]) ?? config.ttl.refreshToken,
      Session: config.ttl.session,
    },

    interactions: {
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: createInteractionPolicy(prisma),
    },
    loadExistingGrant: createExistingGrantLoader(prisma),

    // RFC 9470 step-up: access tokens say how and when the person authenticated (acr, amr,
    // auth_time), so our resource servers can demand more. The artefact being redeemed at the token
    // endpoint carries the session's facts as they were when it was issued: the authorization code,
    // the (rotated) refresh token or the device code. Client-credentials tokens have no person.
    extraTokenClaims: (ctx) => {
      const { RefreshToken, AuthorizationCode, DeviceCode } = ctx?.oidc?.entities ?? {}
      const source = RefreshToken ?? AuthorizationCode ?? DeviceCode
      if (!source?.accountId) return undefined
      const claims = { acr: source.acr, amr: source.amr, auth_time: source.authTime }
      return Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined))
    },

    // CORS for browser clients: the origins of the client's own redirect URIs.
    clientBasedCORS: (ctx, origin, client) => {
      if (origin === 'null') return false
      return client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) ?? false
    },

    renderError: ownPages.renderError,

    // oidc-provider refuses outbound requests (back-channel logout, jwks_uri…) to loopback and
    // private addresses to prevent SSRF; OUTBOUND_ALLOWED_HOSTS names hosts exempt from that.
    fetch: (url, options) => {
      const host = new URL(url instanceof Request ? url.url : url).hostname
      if (outboundAllowed.has(host)) {
        // The exemption is for this host only: without the guarded dispatcher a redirect would be
        // followed to any address, so redirects are not followed (a 3xx is then a failed fetch).
        const init = options as RequestInit & { dispatcher?: unknown }
        delete init.dispatcher
        init.redirect = 'manual'
      }
      return globalThis.fetch(url, options)
    },
  }

  const provider = new Provider(config.issuer, configuration)
  publicKeys.set(provider, { keys: jwks.keys.map(publicJwk) })
  provider.proxy = config.trustProxy

  // Stored client secrets are salted hashes: compare presented secrets against the hash of the
  // provider's copy of the client; only when that does not match, against the hashes stored now
  // (a secret rotated within the last second, or the replaced one while it still works). A secret
  // replaced without a grace period may so work for up to a second after the rotation, the age of
  // the provider's copy (oidc/adapters/client-registry.ts).
  // (panva/node-oidc-provider#631: the Client prototype is the supported extension point.)
  provider.Client.prototype.compareClientSecret = async function compareClientSecret(this: { clientId: string; clientSecret?: string }, presented: string) {
    return await verifyClientSecret(this.clientSecret, presented) || matchesStoredClientSecret(prisma, this.clientId, presented)
  }

  return provider
}

// The public half of each provider's signing keys, for resource servers in this process (src/api)
// that verify JWT access tokens locally: the keystore itself is not exposed by oidc-provider.
const publicKeys = new WeakMap<Provider, { keys: JWK[] }>()
const PUBLIC_MEMBERS = ['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y', 'n', 'e'] as const

function publicJwk(jwk: JWK): JWK {
  return Object.fromEntries(PUBLIC_MEMBERS.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]]))
}

/** The JWKS `provider` publishes (public keys only). */
export function publicSigningKeys(provider: Provider): { keys: JWK[] } {
  const jwks = publicKeys.get(provider)
  if (!jwks) throw new Error('not a provider made by createProvider')
  return jwks
}

/** A client's lifetime setting, when it has one (settings.ts bounds it). */
function clientTtl(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined
}

/**
 * An access token's lifetime. A resource server's own lifetime is the most its tokens get (the admin
 * API's 15 minutes): the client's setting can only shorten it. A token without one (userinfo) gets
 * the client's setting, else the configured default.
 */
function accessTokenTtl(resourceServerTtl: number | undefined, clientValue: unknown, configured: number): number {
  const own = clientTtl(clientValue)
  if (resourceServerTtl !== undefined) return own === undefined ? resourceServerTtl : Math.min(resourceServerTtl, own)
  return own ?? configured
}

/**
 * RFC 8707 §2.2: a refresh request's `resource` must be one the grant covers, and only one (an
 * access token has one audience); otherwise invalid_target.
 */
function refuseUngrantedResource(requested: unknown, granted: string | string[] | undefined): void {
  if (requested === undefined) return
  if (Array.isArray(requested)) throw new errors.InvalidTarget('only a single resource indicator value must be requested during Access Token Request')
  const covered = granted === undefined ? [] : Array.isArray(granted) ? granted : [granted]
  if (typeof requested !== 'string' || !covered.includes(requested)) throw new errors.InvalidTarget()
}

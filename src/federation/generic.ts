// A generic OpenID Connect upstream: discovery at {issuer}/.well-known/openid-configuration, the
// ID token's issuer must be exactly that issuer, and `sub` is the stable subject.
import { DEFAULT_SCOPES, type OidcUpstreamSettings } from './config.ts'
import { createUpstreamClient, discoverFixedIssuer } from './protocol.ts'
import { emailClaim, scopeParameter, stringClaim, stringListClaim, upstreamDidMfa, type Upstream, type UpstreamIdentity } from './upstream.ts'

export function createGenericUpstream(settings: OidcUpstreamSettings): Upstream {
  const insecure = settings.allowInsecureRequests
  const client = createUpstreamClient({
    clientId: settings.clientId, clientSecret: settings.clientSecret, insecure,
    discover: () => discoverFixedIssuer(settings.issuer, insecure),
  })
  const names = settings.claims

  function identity(claims: Record<string, unknown>): UpstreamIdentity {
    const emailVerified = claims[names.emailVerified ?? 'email_verified'] === true
    return {
      subject: String(claims.sub),
      email: emailClaim(claims, [names.email ?? 'email']),
      emailVerified,
      emailTrusted: emailVerified,
      name: stringClaim(claims, names.name ?? 'name'),
      givenName: stringClaim(claims, names.givenName ?? 'given_name'),
      familyName: stringClaim(claims, names.familyName ?? 'family_name'),
      groups: stringListClaim(claims, names.groups ?? 'groups'),
      roles: stringListClaim(claims, names.roles ?? 'roles'),
      mfa: upstreamDidMfa(claims),
      auditFacts: {},
    }
  }

  return {
    settings,
    authorizationUrl: (p) => client.authorizationUrl({
      redirectUri: p.redirectUri, scope: scopeParameter(settings.scopes ?? DEFAULT_SCOPES), state: p.state, nonce: p.nonce, codeChallenge: p.codeChallenge,
      extra: { login_hint: p.loginHint, prompt: p.forceLogin ? 'login' : undefined },
    }),

    // The redirect_uri sent to the token endpoint is the callback URL's own (openid-client derives it).
    async signIn(callbackUrl, _redirectUri, checks) {
      const tokens = await client.redeem(callbackUrl, checks)
      let claims: Record<string, unknown> = tokens.claims
      // Many providers put email and profile only in userinfo: fill what the ID token lacks
      // (the ID token's values win; openid-client checks userinfo's sub is the same person).
      if (claims[names.email ?? 'email'] === undefined && (await client.serverMetadata()).userinfo_endpoint) {
        claims = { ...(await client.userinfo(tokens.accessToken, String(tokens.claims.sub))), ...claims }
      }
      return identity(claims)
    },
  }
}

// Microsoft Entra ID (Azure AD) as an upstream, v2.0 endpoints.
//
// Tenants: a tenant id configures a single-tenant upstream, whose ID tokens must come from exactly
// `{authority}/{tenant}/v2.0`. "organizations" and "common" accept any organisation's accounts:
// their discovery document names the issuer template `{authority}/{tenantid}/v2.0`; an ID token is
// accepted only when its `iss` is that template filled with the token's own `tid`, and that `tid`
// is in allowedTenants. This works for any authority host (national clouds, a test double), not
// only login.microsoftonline.com, which is the one host openid-client special-cases.
//
// Subject: `{tid}:{oid}` — the object id is stable and unique within its tenant; email and
// preferred_username can change and be reassigned, so they never identify anyone.
//
// Groups overage: with more groups than fit in a token, Entra omits `groups` and names a claim
// source instead (`_claim_names.groups`); the groups are then read from Microsoft Graph with the
// upstream access token (GET /v1.0/me/transitiveMemberOf, which needs only User.Read).
import { z } from 'zod'
import { DEFAULT_SCOPES, isMultiTenant, type EntraUpstreamSettings } from './config.ts'
import { FederationFailure } from './failure.ts'
import { createUpstreamClient, discoverFixedIssuer, discoverIssuerTemplate, UPSTREAM_TIMEOUT_SECONDS } from './protocol.ts'
import { emailClaim, scopeParameter, stringClaim, stringListClaim, upstreamDidMfa, type Upstream, type UpstreamIdentity } from './upstream.ts'

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const TENANT_PLACEHOLDER = '{tenantid}'
/** Graph pages of up to 999 ids: 50 pages is far more than any real membership list. */
const MAX_GRAPH_PAGES = 50
/** The Graph permission transitiveMemberOf needs for the signed-in user. */
const GRAPH_SCOPE = 'User.Read'

export function entraIssuer(settings: EntraUpstreamSettings): string {
  return `${settings.authority}/${isMultiTenant(settings) ? TENANT_PLACEHOLDER : settings.tenant}/v2.0`
}

export function createEntraUpstream(settings: EntraUpstreamSettings): Upstream {
  const multiTenant = isMultiTenant(settings)
  const template = entraIssuer(settings)
  const insecure = settings.allowInsecureRequests
  const client = createUpstreamClient({
    clientId: settings.clientId, clientSecret: settings.clientSecret, insecure,
    discover: () => multiTenant
      ? discoverIssuerTemplate(`${settings.authority}/${settings.tenant}/v2.0/.well-known/openid-configuration`, template)
      : discoverFixedIssuer(template, insecure),
  })
  const allowed = new Set((settings.allowedTenants ?? []).map((t) => t.toLowerCase()))
  const names = settings.claims
  const wantsGroups = Object.keys(settings.roleMapping).length > 0
  // Default scopes, plus Graph's User.Read when group overage may have to be resolved.
  const scopes = settings.scopes ?? (wantsGroups ? [...DEFAULT_SCOPES, GRAPH_SCOPE] : DEFAULT_SCOPES)

  /** The issuer an ID token with these (unvalidated) claims must carry. */
  function issuerFor(claims: Record<string, unknown>): string | undefined {
    const tid = claims.tid
    return typeof tid === 'string' && GUID.test(tid) ? template.replace(TENANT_PLACEHOLDER, tid) : undefined
  }

  async function groupsOf(claims: Record<string, unknown>, accessToken: string): Promise<string[]> {
    const claimName = names.groups ?? 'groups'
    const overage = claims[claimName] === undefined
      && (Boolean((claims._claim_names as Record<string, unknown> | undefined)?.[claimName]) || claims.hasgroups === true)
    if (!overage) return stringListClaim(claims, claimName)
    // Groups only matter for roleMapping; without one there is nothing to resolve.
    if (!wantsGroups) return []
    return fetchTransitiveGroupIds(settings.graphUrl, accessToken)
  }

  return {
    settings,
    authorizationUrl: (p) => client.authorizationUrl({
      redirectUri: p.redirectUri, scope: scopeParameter(scopes), state: p.state, nonce: p.nonce, codeChallenge: p.codeChallenge,
      extra: { login_hint: p.loginHint, domain_hint: p.domainHint, prompt: p.forceLogin ? 'login' : undefined },
    }),

    async signIn(callbackUrl, redirectUri, checks) {
      const tokens = multiTenant
        ? await client.redeemWithIssuerFromToken(callbackUrl, redirectUri, checks, issuerFor)
        : await client.redeem(callbackUrl, checks)
      const claims = tokens.claims as Record<string, unknown>
      const tid = typeof claims.tid === 'string' ? claims.tid.toLowerCase() : undefined
      const oid = typeof claims.oid === 'string' ? claims.oid.toLowerCase() : undefined
      if (!tid || !oid || !GUID.test(tid) || !GUID.test(oid)) throw new FederationFailure('token_invalid', 'the ID token has no tid/oid', { check: 'tid_oid' })
      // Single tenant: the exact issuer already pins the tenant; checked again so nothing relies on the URL shape.
      if (multiTenant ? !allowed.has(tid) : tid !== settings.tenant) throw new FederationFailure('tenant_not_allowed', 'tenant is not allowed', { tid })

      const identity: UpstreamIdentity = {
        subject: `${tid}:${oid}`,
        // Entra's `email` is optional and may be unverified; preferred_username is the UPN.
        email: emailClaim(claims, names.email ? [names.email] : ['email', 'preferred_username']),
        // Entra sends no email_verified by default; xms_edov ("email domain owner verified") is its optional equivalent.
        emailVerified: claims[names.emailVerified ?? 'email_verified'] === true || claims.xms_edov === true,
        // The tenant is allow-listed (or the single tenant): its directory assigns these addresses.
        emailTrusted: true,
        name: stringClaim(claims, names.name ?? 'name'),
        givenName: stringClaim(claims, names.givenName ?? 'given_name'),
        familyName: stringClaim(claims, names.familyName ?? 'family_name'),
        groups: await groupsOf(claims, tokens.accessToken),
        roles: stringListClaim(claims, names.roles ?? 'roles'),
        mfa: upstreamDidMfa(claims),
        auditFacts: { tid },
      }
      return identity
    },
  }
}

const graphPage = z.object({
  value: z.array(z.looseObject({ id: z.string() })),
  '@odata.nextLink': z.string().optional(),
})

/**
 * Every group (and directory role) the signed-in user is a member of, directly or through nested
 * groups. Follows @odata.nextLink, but only on the Graph origin: the access token goes nowhere else.
 */
export async function fetchTransitiveGroupIds(graphUrl: string, accessToken: string): Promise<string[]> {
  const origin = new URL(graphUrl).origin
  const ids: string[] = []
  let next: string | undefined = `${graphUrl}/v1.0/me/transitiveMemberOf?$select=id&$top=999`
  for (let page = 0; next; page++) {
    if (page >= MAX_GRAPH_PAGES) throw new FederationFailure('graph_failed', 'too many Graph pages', { pages: page })
    const url = URL.parse(next)
    if (!url || url.origin !== origin) throw new FederationFailure('graph_failed', 'Graph nextLink points elsewhere')
    let response: Response
    try {
      response = await fetch(url, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        redirect: 'error', signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_SECONDS * 1000),
      })
    } catch (err) {
      throw new FederationFailure('graph_failed', `Graph unreachable: ${(err as Error).message}`)
    }
    if (!response.ok) throw new FederationFailure('graph_failed', `Graph answered HTTP ${response.status}`, { status: response.status })
    const body = graphPage.safeParse(await response.json().catch(() => undefined))
    if (!body.success) throw new FederationFailure('graph_failed', 'Graph answered something other than a directory object page')
    ids.push(...body.data.value.map((o) => o.id))
    next = body.data['@odata.nextLink']
  }
  return [...new Set(ids)]
}

// The consent step: what a client asks for, in words a person understands, and recording the
// grant and the person's decision.
import type { Context } from 'koa'
import type { default as Provider } from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import { describeAllowed, rememberConsent } from '../identity/consents.ts'
import { findEmailOfUser as emailOf } from '../queries/users.ts'
import type { Details, InteractionKit } from './kit.ts'
import type { InteractionStep } from './steps.ts'
import { allowImagesFrom } from '../middleware/security-headers.ts'

/** At the provider's consent prompt: the page, and Allow. */
export function createConsentStep(kit: InteractionKit): InteractionStep {
  const { provider, prisma, audit, page, finish, clientName } = kit
  return {
    name: 'consent',
    applies: (details) => details.prompt.name === 'consent',
    async render(ctx: Context, details: Details) {
      const account = await emailOf(prisma, details.session!.accountId)
      const about = await presentClient(provider, details)
      // The logo is the one thing on our pages fetched from elsewhere: its origin only, this page only.
      if (about.logoUri) allowImagesFrom(ctx, [new URL(about.logoUri).origin])
      return page(ctx, 'consent', {
        action: `/interaction/${details.uid}/consent`, abortAction: `/interaction/${details.uid}/abort`,
        client: await clientName(details), account, items: await describeConsent(provider, details), ...about,
      })
    },
    routes: [{
      method: 'post', path: '/:uid/consent', when: 'step',
      async handle(ctx, details) {
        const grantId = await grantConsent(provider, prisma, details)
        await audit.record(ctx, { type: 'consent', outcome: 'success', userId: details.session?.accountId, clientId: String(details.params.client_id), details: { scope: details.params.scope } })
        return finish(ctx, { consent: { grantId } })
      },
    }],
  }
}

/** What the consent page says about the application besides its name (its registration). */
export interface ClientPresentation {
  logoUri?: string
  /** Where the application lives: the host of its client_uri, else of the redirect URI in use. */
  domain?: string
  clientUri?: string
  policyUri?: string
  tosUri?: string
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * A registered URL a page may show or load: https, or http on the machine itself (the registry's
 * rule, src/clients/settings.ts; checked again here because a registration made before that rule,
 * or by another door, may carry anything, and a javascript: link must never reach a page).
 */
function pageUrl(value: unknown): URL | undefined {
  const url = typeof value === 'string' ? URL.parse(value) : null
  if (!url) return undefined
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) ? url : undefined
}

/**
 * The logo, domain and policy links of the client the person is asked about. The domain is the
 * URL parser's hostname: an internationalised name is shown in its ASCII (punycode) form, so a
 * look-alike of a well-known name does not read as that name.
 */
export async function presentClient(provider: Provider, details: Details): Promise<ClientPresentation> {
  const client = await provider.Client.find(String(details.params.client_id))
  if (!client) return {}
  const clientUri = pageUrl(client.clientUri)
  const redirect = typeof details.params.redirect_uri === 'string' ? URL.parse(details.params.redirect_uri) : null
  const domain = clientUri?.hostname || (redirect && /^https?:$/.test(redirect.protocol) ? redirect.hostname : undefined)
  const links = { clientUri, logoUri: pageUrl(client.logoUri), policyUri: pageUrl(client.policyUri), tosUri: pageUrl(client.tosUri) }
  return {
    ...Object.fromEntries(Object.entries(links).filter(([, url]) => url).map(([key, url]) => [key, url!.href])),
    ...(domain ? { domain } : {}),
  }
}

interface ConsentDetails {
  missingOIDCScope?: string[]
  missingOIDCClaims?: string[]
  missingResourceScopes?: Record<string, string[]>
}

const words = (value: unknown) => new Set(typeof value === 'string' ? value.split(' ').filter(Boolean) : [])

/** The claims a `claims` request parameter (OIDC Core §5.5) names, for the ID token or userinfo. */
function claimsNamed(param: unknown): Set<string> {
  try {
    const parsed = typeof param === 'string' ? JSON.parse(param) as Record<string, unknown> : {}
    return new Set(['id_token', 'userinfo'].flatMap((where) => {
      const members = parsed?.[where]
      return members && typeof members === 'object' ? Object.keys(members) : []
    }))
  } catch {
    return new Set()
  }
}

/**
 * What the application will have if the person allows it, in words: what the request asks for
 * that the person allowed before (the grant starts from that: oidc/first-party-grant.ts) and what
 * the consent prompt found missing, in the request's order. The page appears because something is
 * missing (or the client asked for it with prompt=consent); it shows the whole of it.
 */
export async function describeConsent(provider: Provider, details: Details): Promise<string[]> {
  const d = details.prompt.details as ConsentDetails
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined
  const requested = [...words(details.params.scope)]
  const held = words(grant?.getOIDCScope())
  const missing = new Set(d.missingOIDCScope ?? [])
  const heldClaims = new Set(grant?.getOIDCClaims() ?? [])
  const indicators = [...new Set([details.params.resource].flat().filter((r): r is string => typeof r === 'string' && r.length > 0))]
  const resources = new Map<string, Set<string>>()
  for (const indicator of [...indicators, ...Object.keys(d.missingResourceScopes ?? {})]) {
    const heldHere = words(grant?.getResourceScope(indicator))
    const missingHere = new Set(d.missingResourceScopes?.[indicator] ?? [])
    const scopes = requested.filter((s) => heldHere.has(s) || missingHere.has(s))
    if (scopes.length) resources.set(indicator, new Set(scopes))
  }
  const items = describeAllowed({
    scopes: new Set([...requested.filter((s) => held.has(s) || missing.has(s)), ...missing]),
    claims: new Set([...[...claimsNamed(details.params.claims)].filter((c) => heldClaims.has(c)), ...(d.missingOIDCClaims ?? [])]),
    resources,
  })
  if (items.length === 0) items.push('Confirm that you want to continue')
  return items
}

/**
 * Grants everything the consent prompt found missing and remembers what the person has now
 * allowed the client (src/identity/consents.ts), so a later sign-in asking for no more is not
 * asked again; returns the grant id to finish with. API scopes the prompt found missing are only
 * those src/oidc/resource-access.ts let this client and person have.
 */
export async function grantConsent(provider: Provider, prisma: Db, details: Details): Promise<string> {
  const { accountId } = details.session!
  const clientId = String(details.params.client_id)
  // The grant may have gone meanwhile (revoked from the account area): start a new one.
  const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined
  const grant = existing ?? new provider.Grant({ accountId, clientId })
  const d = details.prompt.details as ConsentDetails
  if (d.missingOIDCScope?.length) grant.addOIDCScope(d.missingOIDCScope.join(' '))
  if (d.missingOIDCClaims?.length) grant.addOIDCClaims(d.missingOIDCClaims)
  for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '))
  const grantId = await grant.save()
  await rememberConsent(prisma, accountId, clientId, {
    scopes: words(grant.getOIDCScope()),
    claims: new Set(grant.getOIDCClaims()),
    resources: new Map(Object.keys(grant.resources ?? {}).map((indicator) => [indicator, words(grant.getResourceScope(indicator))])),
  })
  return grantId
}

// Consent: what a client asks for, in words a person understands, and recording the grant and
// the person's decision.
import type { default as Provider } from 'oidc-provider'
import type { PrismaClient } from '../store/database.ts'
import { describeAllowed, rememberConsent, requestedAllowance } from '../identity/consents.ts'

type Details = Awaited<ReturnType<Provider['interactionDetails']>>

interface ConsentDetails {
  missingOIDCScope?: string[]
  missingOIDCClaims?: string[]
  missingResourceScopes?: Record<string, string[]>
}

export function describeConsent(details: Details): string[] {
  const d = details.prompt.details as ConsentDetails
  const items = describeAllowed({
    scopes: new Set(d.missingOIDCScope ?? []),
    claims: new Set(d.missingOIDCClaims ?? []),
    resources: new Map(Object.entries(d.missingResourceScopes ?? {}).map(([indicator, scopes]) => [indicator, new Set(scopes)])),
  })
  // Asked again (prompt=consent) about what was allowed before: nothing is missing, so say what it is.
  if (items.length === 0) items.push(...describeAllowed(requestedAllowance(details.params.scope, details.params.resource)))
  if (items.length === 0) items.push('Confirm that you want to continue')
  return items
}

/**
 * Grants everything the consent prompt found missing and remembers what the person has now
 * allowed the client (src/identity/consents.ts), so a later sign-in asking for no more is not
 * asked again; returns the grant id to finish with. API scopes the prompt found missing are only
 * those src/oidc/resource-access.ts let this client and person have.
 */
export async function grantConsent(provider: Provider, prisma: PrismaClient, details: Details): Promise<string> {
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
  const words = (value: string) => new Set(value.split(' ').filter(Boolean))
  await rememberConsent(prisma, accountId, clientId, {
    scopes: words(grant.getOIDCScope()),
    claims: new Set(grant.getOIDCClaims()),
    resources: new Map(Object.keys(grant.resources ?? {}).map((indicator) => [indicator, words(grant.getResourceScope(indicator))])),
  })
  return grantId
}

// Consent: what a client asks for, in words a person understands, and recording the grant.
import type { default as Provider } from 'oidc-provider'

type Details = Awaited<ReturnType<Provider['interactionDetails']>>

const SCOPE_TEXT: Record<string, string> = {
  openid: 'Know who you are when you sign in',
  profile: 'See your name and username',
  email: 'See your email address',
  phone: 'See your phone number',
  roles: 'See your roles',
  tenant: 'See which organisation you belong to',
  offline_access: 'Stay connected while you are away (keep access without asking again)',
}

interface ConsentDetails {
  missingOIDCScope?: string[]
  missingOIDCClaims?: string[]
  missingResourceScopes?: Record<string, string[]>
}

export function describeConsent(details: Details): string[] {
  const d = details.prompt.details as ConsentDetails
  const items = (d.missingOIDCScope ?? []).map((s) => SCOPE_TEXT[s] ?? `Use the permission “${s}”`)
  if (d.missingOIDCClaims?.length) items.push(`See these details about you: ${d.missingOIDCClaims.join(', ')}`)
  for (const [resource, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
    items.push(`Access ${resource}${scopes.length ? ` with: ${scopes.join(', ')}` : ''}`)
  }
  if (items.length === 0) items.push('Confirm that you want to continue')
  return items
}

/** Grants everything the consent prompt found missing; returns the grant id to finish with. */
export async function grantConsent(provider: Provider, details: Details): Promise<string> {
  const { accountId } = details.session!
  const clientId = String(details.params.client_id)
  const grant = details.grantId
    ? (await provider.Grant.find(details.grantId))!
    : new provider.Grant({ accountId, clientId })
  const d = details.prompt.details as ConsentDetails
  if (d.missingOIDCScope?.length) grant.addOIDCScope(d.missingOIDCScope.join(' '))
  if (d.missingOIDCClaims?.length) grant.addOIDCClaims(d.missingOIDCClaims)
  for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '))
  return grant.save()
}

// loadExistingGrant: first-party clients (our own applications) are granted what they ask for
// without a consent page; every other client goes through consent as usual.
import type { KoaContextWithOIDC } from 'oidc-provider'
import { isFirstParty } from './client-metadata.ts'

export async function loadFirstPartyGrant(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx
  const client = oidc.client!
  const session = oidc.session!
  const grantId = oidc.result?.consent?.grantId || session.grantIdFor(client.clientId)
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined
  if (!isFirstParty(client)) return existing

  const grant = existing ?? new oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId! })
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '))
  const claims = [...oidc.requestParamClaims]
  if (claims.length) grant.addOIDCClaims(claims)
  for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers ?? {})) {
    const scopes = [...oidc.requestParamScopes].filter((s) => resourceServer.scopes.has(s))
    grant.addResourceScope(indicator, scopes.join(' '))
  }
  await grant.save()
  return grant
}

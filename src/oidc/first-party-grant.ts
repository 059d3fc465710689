// loadExistingGrant: the grant an authorization request starts from, before oidc-provider's
// consent prompt looks for what is missing from it.
// - First-party clients (our own applications) are granted what they ask for without a consent page.
// - Other clients start from what the person allowed them before (src/identity/consents.ts), as
//   far as this request asks for it: the same or fewer scopes are not asked again; more are asked
//   for the difference (docs/adr/0111-consent-remembered.md).
// Either way, API scopes come from ctx.oidc.resourceServers, which src/oidc/resource-access.ts has
// already narrowed to what this client and person may hold: neither path can add more.
import type { KoaContextWithOIDC } from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import { isFirstParty } from './client-metadata.ts'
import { findConsent, type Allowed } from '../identity/consents.ts'

type Grant = InstanceType<KoaContextWithOIDC['oidc']['provider']['Grant']>

/** Adds to the grant what the request asks for and `allowed` admits (everything, when undefined); whether anything was new. */
function grantRequested(ctx: KoaContextWithOIDC, grant: Grant, allowed: Allowed | undefined): boolean {
  const { oidc } = ctx
  const admits = (set: Set<string> | undefined) => (value: string) => !allowed || Boolean(set?.has(value))
  const hasNot = (held: string) => (value: string) => !held.split(' ').includes(value)
  let added = false

  const scopes = [...oidc.requestParamOIDCScopes].filter(admits(allowed?.scopes)).filter(hasNot(grant.getOIDCScope()))
  if (scopes.length) grant.addOIDCScope(scopes.join(' '))
  const held = new Set(grant.getOIDCClaims())
  const claims = [...oidc.requestParamClaims].filter(admits(allowed?.claims)).filter((c) => !held.has(c))
  if (claims.length) grant.addOIDCClaims(claims)
  added ||= scopes.length > 0 || claims.length > 0

  for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers ?? {})) {
    const resourceScopes = [...oidc.requestParamScopes]
      .filter((s) => resourceServer.scopes.has(s))
      .filter(admits(allowed?.resources.get(indicator)))
      .filter(hasNot(grant.getResourceScope(indicator)))
    if (resourceScopes.length) {
      grant.addResourceScope(indicator, resourceScopes.join(' '))
      added = true
    }
  }
  return added
}

export function createExistingGrantLoader(prisma: Db) {
  return async function loadExistingGrant(ctx: KoaContextWithOIDC) {
    const { oidc } = ctx
    const client = oidc.client!
    const session = oidc.session!
    const accountId = session.accountId!
    const grantId = oidc.result?.consent?.grantId || session.grantIdFor(client.clientId)
    const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined

    const allowed = isFirstParty(client) ? undefined : await findConsent(prisma, accountId, client.clientId)
    if (!isFirstParty(client) && !allowed) return existing

    const grant = existing ?? new oidc.provider.Grant({ clientId: client.clientId, accountId })
    if (grantRequested(ctx, grant, allowed) || !existing) await grant.save()
    return grant
  }
}

// Who is calling: a person (authorization code through the console) or a service (client
// credentials, sub = client id). Read from the database on every request, so a removed role, a
// disabled user or a disabled client takes effect at once, not when the token expires.
import type { Db } from '../../queries/db.ts'
import { findClientWithTenant } from '../../queries/admin-clients.ts'
import { findUserWithTenantAndPermissions } from '../../queries/users.ts'
import type { VerifiedAccessToken } from '../../middleware/bearer.ts'
import { clientStillHonours } from '../../oidc/client-metadata.ts'
import { DEFAULT_TENANT_SLUG } from '../../identity/tenants.ts'
import { clientAdminPermissions, isAdminPermission, type AdminPermission } from '../permissions.ts'
import type { TenantScope } from '../../queries/admin-scope.ts'

export interface Principal {
  kind: 'person' | 'service'
  sub: string
  /** For audit rows: the person's user id, or `client:<id>`. */
  actor: string
  scope: TenantScope
  tenant: { id: string; slug: string; name: string } | null
  /** Effective admin permissions: the token's scopes that the person's roles (or the client's registration) allow. */
  permissions: Set<AdminPermission>
  email?: string
  displayName?: string | null
  token: VerifiedAccessToken
}

/** Why a valid token still cannot act: the subject is gone or disabled. */
export class PrincipalGoneError extends Error {}

/**
 * A client-credentials token has the client as its subject and no authentication time; a person's
 * token (authorization code, refresh, device) always carries auth_time (oidc/provider.ts
 * extraTokenClaims).
 */
function isServiceToken(token: VerifiedAccessToken): boolean {
  return token.sub === token.clientId && token.authTime === undefined
}

export async function resolvePrincipal(prisma: Db, token: VerifiedAccessToken): Promise<Principal> {
  const scopes = new Set(token.scopes)
  if (isServiceToken(token)) {
    // Client-credentials tokens belong to no grant, so disabling the client revokes none of them:
    // the rule introspection applies (issued after the registration and after the last disable)
    // keeps one from before a disable refused once the client is enabled again.
    if (!(await clientStillHonours(prisma, token.clientId, token.iat))) {
      throw new PrincipalGoneError('the client of this token is no longer registered, is disabled, or was disabled after the token was issued')
    }
    const client = await findClientWithTenant(prisma, token.clientId)
    if (!client || client.disabled) throw new PrincipalGoneError('the client of this token is no longer registered or is disabled')
    // The provider does not limit resource-server scopes per client: the registration does (permissions.ts).
    const registered = new Set<string>(clientAdminPermissions(client.metadata))
    const permissions = new Set([...scopes].filter((s): s is AdminPermission => isAdminPermission(s) && registered.has(s)))
    const tenant = client.tenant ? { id: client.tenant.id, slug: client.tenant.slug, name: client.tenant.name } : null
    return {
      kind: 'service', sub: token.sub, actor: `client:${client.id}`,
      scope: tenant ? { kind: 'tenant', tenantId: tenant.id } : { kind: 'global' },
      tenant, permissions, token,
    }
  }

  const user = await findUserWithTenantAndPermissions(prisma, token.sub)
  if (!user || user.status !== 'active') throw new PrincipalGoneError('the user of this token no longer exists or is disabled')
  const held = new Set(user.roles.flatMap((ur) => ur.role.permissions.map((rp) => rp.permission.name)))
  const permissions = new Set([...scopes].filter((s): s is AdminPermission => isAdminPermission(s) && held.has(s)))
  const tenant = { id: user.tenant.id, slug: user.tenant.slug, name: user.tenant.name }
  return {
    kind: 'person', sub: user.id, actor: user.id,
    // The operator's own tenant administers everything; any other tenant only itself.
    scope: user.tenant.slug === DEFAULT_TENANT_SLUG ? { kind: 'global' } : { kind: 'tenant', tenantId: user.tenant.id },
    tenant, permissions, email: user.email, displayName: user.displayName, token,
  }
}

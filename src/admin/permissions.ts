// The admin API's permissions: the single list. Roles carry them (seed.ts gives the `admin` role
// all of them), the admin API's resource server offers them as scopes, and every route names the
// one it needs.
import type { Db } from '../queries/db.ts'
import { findClientById, setClientMetadata } from '../queries/clients.ts'
import { setResourceServerScopes } from '../queries/resource-servers.ts'
import { registerResourceServer } from '../oidc/resource-servers.ts'

export const ADMIN_PERMISSION_DESCRIPTIONS = {
  'users:read': 'Read users, their roles, second factors and lock state',
  'users:write': 'Create, change, disable and delete users; assign roles; unlock; reset second factors',
  'roles:read': 'Read roles and the permissions they carry',
  'roles:write': 'Create, change and delete roles',
  'clients:read': 'Read the client registry',
  'clients:write': 'Register, change and delete clients; rotate their secrets',
  'tenants:read': 'Read tenants',
  'tenants:write': 'Create, change and delete tenants',
  'sessions:read': 'Read users’ sign-in sessions',
  'sessions:write': 'End users’ sign-in sessions',
  'audit:read': 'Query and export the audit log',
} as const

export type AdminPermission = keyof typeof ADMIN_PERMISSION_DESCRIPTIONS
export const ADMIN_PERMISSIONS = Object.keys(ADMIN_PERMISSION_DESCRIPTIONS) as AdminPermission[]
const ADMIN_SET = new Set<string>(ADMIN_PERMISSIONS)

export function isAdminPermission(name: string): name is AdminPermission {
  return ADMIN_SET.has(name)
}

/** The admin API's resource indicator (RFC 8707): the audience of its access tokens. */
export function adminResource(issuer: string): string {
  return `${issuer}/admin/api`
}

/** Registers (once) the admin API as a resource server: JWT access tokens, scopes = permissions. */
export async function ensureAdminResourceServer(prisma: Db, issuer: string): Promise<void> {
  // registerResourceServer never updates an existing row; a permission added later must still
  // become a scope, so the scope list is brought up to date here.
  const row = await registerResourceServer(prisma, { identifier: adminResource(issuer), name: 'Admin API', scopes: [...ADMIN_PERMISSIONS], format: 'jwt', ttl: 900 })
  if (row.scopes !== ADMIN_PERMISSIONS.join(' ')) {
    await setResourceServerScopes(prisma, row.id, ADMIN_PERMISSIONS.join(' '))
  }
}

/**
 * A service client's admin permissions live in its registration under this key. oidc-provider
 * lets any client ask for any scope of a resource server (it limits only OpenID scopes, and refuses
 * other values in the `scope` metadata), so a client-credentials token holds an admin permission
 * only when its registration also lists it here. The provider drops unknown metadata keys, so this
 * never reaches it.
 */
export const CLIENT_ADMIN_PERMISSIONS_KEY = 'urn:iam:admin_permissions'

export function clientAdminPermissions(metadata: unknown): AdminPermission[] {
  const value = (metadata as Record<string, unknown> | null)?.[CLIENT_ADMIN_PERMISSIONS_KEY]
  return Array.isArray(value) ? value.filter((p): p is AdminPermission => typeof p === 'string' && isAdminPermission(p)) : []
}

/** Sets a client's admin permissions (tests, bootstrap scripts; the admin API does it on create/patch). */
export async function setClientAdminPermissions(prisma: Db, clientId: string, permissions: readonly string[]): Promise<void> {
  const client = await findClientById(prisma, clientId)
  if (!client) throw new Error(`no client ${clientId}`)
  const metadata = { ...(client.metadata as Record<string, unknown>), [CLIENT_ADMIN_PERMISSIONS_KEY]: [...new Set(permissions)].filter(isAdminPermission) }
  await setClientMetadata(prisma, clientId, metadata)
}

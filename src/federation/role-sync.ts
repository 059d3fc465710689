// Roles an upstream grants through its roleMapping (upstream group id or app-role value → local
// role). Each federated sign-in makes the person's roles from that upstream match what it grants
// now: newly mapped roles are added with source "federation:{id}", roles with that source that
// are no longer mapped are removed. Roles assigned here (source null) are never touched, even when
// the upstream also maps them.
import type { Db } from '../queries/db.ts'
import { changeUserRolesFromSource, deleteUserRolesFromSource, listUserRolesWithRole } from '../queries/roles.ts'
import { ensureRole } from '../identity/roles.ts'
import type { UpstreamIdentity } from './upstream.ts'

export function federationRoleSource(upstreamId: string): string {
  return `federation:${upstreamId}`
}

/** Local role names the upstream's groups and app roles map to (sorted, unique). */
export function mappedRoleNames(roleMapping: Record<string, string>, identity: Pick<UpstreamIdentity, 'groups' | 'roles'>): string[] {
  const names = [...identity.groups, ...identity.roles].map((value) => roleMapping[value]).filter((n): n is string => Boolean(n))
  return [...new Set(names)].sort()
}

export interface RoleChanges { added: string[]; removed: string[] }

/**
 * Makes the user's roles from `upstreamId` exactly `roleNames` (creating missing global roles).
 * The changes are one transaction: a failure leaves the previous roles in place.
 */
export async function syncFederatedRoles(prisma: Db, userId: string, upstreamId: string, roleNames: string[]): Promise<RoleChanges> {
  const source = federationRoleSource(upstreamId)
  const wanted = new Map<string, string>() // role id → name
  for (const name of roleNames) wanted.set((await ensureRole(prisma, name)).id, name)

  const current = await listUserRolesWithRole(prisma, userId)
  const held = new Set(current.map((r) => r.roleId))
  const toAdd = [...wanted].filter(([roleId]) => !held.has(roleId))
  const toRemove = current.filter((r) => r.source === source && !wanted.has(r.roleId))
  if (toAdd.length === 0 && toRemove.length === 0) return { added: [], removed: [] }

  await changeUserRolesFromSource(prisma, userId, source, toRemove.map((r) => r.roleId), toAdd.map(([roleId]) => roleId))
  return { added: toAdd.map(([, name]) => name).sort(), removed: toRemove.map((r) => r.role.name).sort() }
}

/** Removes the roles an upstream granted (when its last link to the person is removed). */
export async function removeFederatedRoles(prisma: Db, userId: string, upstreamId: string): Promise<string[]> {
  const source = federationRoleSource(upstreamId)
  const granted = await listUserRolesWithRole(prisma, userId, source)
  if (granted.length) await deleteUserRolesFromSource(prisma, userId, source)
  return granted.map((r) => r.role.name).sort()
}

// Roles and the permission catalogue.
import { route } from '../route.ts'
import { isAdminPermission } from '../permissions.ts'
import { idParams, itemsOf, newRoleBody, pageOf, permissionJson, roleJson, rolePatchBody } from '../schemas.ts'
import { pageQuery } from '../page.ts'
import { problems } from '../problem.ts'
import type { RoleJson } from '../data/roles.ts'
import { z } from 'zod'

const listQuery = z.object({ ...pageQuery })

/** A change that gives the role's members more: a permission added, or a second factor no longer required. */
function widens(patch: z.output<typeof rolePatchBody>, before: RoleJson): boolean {
  return (patch.permissions ?? []).some((p) => !before.permissions.includes(p)) || (patch.mfaRequired === false && before.mfaRequired)
}

export const roleRoutes = [
  route({
    method: 'get', path: '/roles', tag: 'roles', summary: 'List roles (a tenant administrator also sees the global ones, read-only)', permission: 'roles:read',
    query: listQuery, response: pageOf(roleJson),
    handler: ({ data, query }) => data.roles.list(query),
  }),
  route({
    method: 'post', path: '/roles', tag: 'roles', summary: 'Create a role', permission: 'roles:write', status: 201,
    body: newRoleBody, response: roleJson,
    stepUp: { never: 'a new role has no members, so it widens no one’s permissions; giving it to someone is what asks for the step-up' },
    async handler(a) {
      a.cannotGrantBeyondOwn(a.body.permissions.filter(isAdminPermission), 'the role')
      const role = await a.data.roles.create(a.body)
      await a.record('admin_role_create', { tenantId: role.tenantId ?? undefined, details: { role: role.id, name: role.name, permissions: role.permissions } })
      return role
    },
  }),
  route({
    method: 'get', path: '/roles/:id', tag: 'roles', summary: 'Read a role', permission: 'roles:read',
    params: idParams, response: roleJson,
    handler: ({ data, params }) => data.roles.get(params.id),
  }),
  route({
    method: 'patch', path: '/roles/:id', tag: 'roles', summary: 'Change a role', permission: 'roles:write',
    params: idParams, body: rolePatchBody, response: roleJson,
    async load(a) {
      const before = await a.data.roles.forChange(a.params.id)
      a.cannotGrantBeyondOwn((a.body.permissions ?? []).filter((p) => isAdminPermission(p) && !before.permissions.includes(p)), 'the role')
      if (a.principal.kind === 'person' && widens(a.body, before) && (await a.data.roles.isHeldBy(before.id, a.principal.sub))) {
        throw problems.forbidden('you hold this role: widening it would widen your own permissions, so another administrator must')
      }
      return before
    },
    stepUp: {
      when: 'the role has members and the change adds a permission or stops requiring a second factor of them',
      needs: ({ body }, before) => (before.userCount > 0 && widens(body, before) ? 'widening a role people hold' : undefined),
    },
    async handler(a, before) {
      const role = await a.data.roles.update(before.id, a.body)
      await a.record('admin_role_update', {
        tenantId: role.tenantId ?? undefined,
        details: {
          role: role.id, changed: Object.keys(a.body),
          ...(a.body.permissions ? { permissionsAdded: role.permissions.filter((p) => !before.permissions.includes(p)), permissionsRemoved: before.permissions.filter((p) => !role.permissions.includes(p)) } : {}),
        },
      })
      return role
    },
  }),
  route({
    method: 'delete', path: '/roles/:id', tag: 'roles', summary: 'Delete a role (its members lose it)', permission: 'roles:write', status: 204,
    params: idParams,
    load: (a) => a.data.roles.forChange(a.params.id),
    stepUp: {
      when: 'the role has members (every one of them loses its permissions at once)',
      needs: (_a, before) => (before.userCount > 0 ? 'deleting a role people hold' : undefined),
    },
    async handler(a) {
      const role = await a.data.roles.remove(a.params.id)
      await a.record('admin_role_delete', { tenantId: role.tenantId ?? undefined, details: { role: role.id, name: role.name, members: role.userCount } })
      return undefined
    },
  }),
  route({
    method: 'get', path: '/permissions', tag: 'roles', summary: 'The permissions roles can carry', permission: 'roles:read',
    response: itemsOf(permissionJson),
    handler: async ({ data }) => ({ items: await data.roles.permissions() }),
  }),
]

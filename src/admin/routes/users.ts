// Users: CRUD, roles, sessions, second factors, unlock.
import { route, type HandlerArgs } from '../route.ts'
import { isAdminPermission } from '../permissions.ts'
import { problems } from '../problem.ts'
import type { AssignableRole } from '../data/users.ts'
import { factorJson, idParams, itemsOf, newUserBody, pageOf, roleIdsBody, sessionJson, sessionParams, userJson, userListQuery, userPatchBody } from '../schemas.ts'

const GLOBAL_ADMIN = 'giving a user of the default tenant an admin permission (creating a global administrator), or changing the email or password of one'

/**
 * Roles about to be given: the caller must hold every admin permission they add (no one hands out
 * more than they have), and making a user of the default tenant an administrator makes a global
 * administrator, which needs a recent second factor.
 */
async function guardGrant(a: HandlerArgs<unknown, unknown, unknown>, tenantId: string, roles: AssignableRole[], heldBefore: string[]) {
  const added = [...new Set(roles.flatMap((r) => r.permissions))].filter((p) => isAdminPermission(p) && !heldBefore.includes(p))
  a.cannotGrantBeyondOwn(added, 'the roles')
  const defaultTenant = await a.data.tenants.defaultTenant()
  if (tenantId === defaultTenant.id && added.length) a.stepUp(GLOBAL_ADMIN)
}

function notSelf(a: HandlerArgs<{ id: string }, unknown, unknown>, what: string) {
  if (a.principal.kind === 'person' && a.principal.sub === a.params.id) throw problems.conflict(`you cannot ${what} your own account here`)
}

export const userRoutes = [
  route({
    method: 'get', path: '/users', tag: 'users', summary: 'List and search users', permission: 'users:read',
    query: userListQuery, response: pageOf(userJson),
    handler: ({ data, query }) => data.users.list(query),
  }),
  route({
    method: 'post', path: '/users', tag: 'users', summary: 'Create a user', permission: 'users:write', status: 201,
    stepUp: GLOBAL_ADMIN, body: newUserBody, response: userJson,
    async handler(a) {
      const { data, body } = a
      const tenant = await data.users.tenantOfNewUser(body.tenantId)
      const roles = await data.users.assignableRoles(body.roleIds ?? [], tenant.id)
      await guardGrant(a, tenant.id, roles, [])
      const user = await data.users.create(body, tenant.id, roles)
      await a.record('admin_user_create', {
        userId: user.id, tenantId: user.tenantId,
        details: { email: user.email, username: user.username, roles: user.roles.map((r) => r.name), passwordSet: body.password !== undefined },
      })
      return user
    },
  }),
  route({
    method: 'get', path: '/users/:id', tag: 'users', summary: 'Read a user', permission: 'users:read',
    params: idParams, response: userJson,
    handler: ({ data, params }) => data.users.get(params.id),
  }),
  route({
    method: 'patch', path: '/users/:id', tag: 'users', summary: 'Change a user (status disabled ends their sessions)', permission: 'users:write',
    stepUp: GLOBAL_ADMIN, params: idParams, body: userPatchBody, response: userJson,
    async handler(a) {
      const { data, params, body } = a
      const before = await data.users.get(params.id)
      if (body.status === 'disabled') notSelf(a, 'disable')
      const held = await data.users.heldPermissions(before.id)
      const defaultTenant = await data.tenants.defaultTenant()
      const takesOver = (body.password !== undefined || (body.email !== undefined && body.email !== before.email))
      if (before.tenantId === defaultTenant.id && takesOver && held.some(isAdminPermission)) a.stepUp(GLOBAL_ADMIN)
      let roleChange: { added: string[]; removed: string[] } | undefined
      if (body.roleIds) {
        const roles = await data.users.assignableRoles(body.roleIds, before.tenantId)
        await guardGrant(a, before.tenantId, roles, held)
      }
      const { user, changed } = await data.users.update(before.id, body, a.ctx, a.principal.actor)
      if (body.roleIds) roleChange = await data.users.setRoles(before.id, await data.users.assignableRoles(body.roleIds, before.tenantId))
      const after = roleChange ? await data.users.get(before.id) : user
      await a.record('admin_user_update', {
        userId: before.id, tenantId: before.tenantId,
        details: { changed: [...changed, ...(roleChange ? ['roles'] : [])], ...(body.status ? { status: body.status } : {}), ...(roleChange ? { rolesAdded: roleChange.added, rolesRemoved: roleChange.removed } : {}) },
      })
      return after
    },
  }),
  route({
    method: 'delete', path: '/users/:id', tag: 'users', summary: 'Delete a user (ends their sessions first)', permission: 'users:write', status: 204,
    params: idParams,
    async handler(a) {
      notSelf(a, 'delete')
      const user = await a.data.users.remove(a.params.id, a.ctx, a.principal.actor)
      await a.record('admin_user_delete', { userId: user.id, tenantId: user.tenantId, details: { email: user.email } })
      return undefined
    },
  }),
  route({
    method: 'put', path: '/users/:id/roles', tag: 'users', summary: 'Replace a user’s roles', permission: 'users:write',
    stepUp: GLOBAL_ADMIN, params: idParams, body: roleIdsBody, response: userJson,
    async handler(a) {
      const { data, params, body } = a
      const before = await data.users.get(params.id)
      const roles = await data.users.assignableRoles(body.roleIds, before.tenantId)
      await guardGrant(a, before.tenantId, roles, await data.users.heldPermissions(before.id))
      const { user, added, removed } = await data.users.setRoles(before.id, roles)
      await a.record('admin_user_roles_set', { userId: user.id, tenantId: user.tenantId, details: { roles: user.roles.map((r) => r.name), added, removed } })
      return user
    },
  }),
  route({
    method: 'get', path: '/users/:id/sessions', tag: 'sessions', summary: 'A user’s active sessions', permission: 'sessions:read',
    params: idParams, response: itemsOf(sessionJson),
    handler: async ({ data, params }) => ({ items: await data.users.sessions(params.id) }),
  }),
  route({
    method: 'delete', path: '/users/:id/sessions/:sessionId', tag: 'sessions', summary: 'End one session and revoke its grants', permission: 'sessions:write', status: 204,
    params: sessionParams,
    async handler(a) {
      // endSession audits session_ended with the actor; this row says an administrator did it.
      const { tenantId } = await a.data.users.endSession(a.params.id, a.params.sessionId, a.ctx, a.principal.actor)
      await a.record('admin_user_session_end', { userId: a.params.id, tenantId, details: { session: a.params.sessionId } })
      return undefined
    },
  }),
  route({
    method: 'delete', path: '/users/:id/sessions', tag: 'sessions', summary: 'End all sessions of a user and revoke every grant', permission: 'sessions:write', status: 204,
    params: idParams,
    async handler(a) {
      const { tenantId, sessions, grants } = await a.data.users.endAllSessions(a.params.id, a.ctx, a.principal.actor)
      await a.record('admin_user_sessions_end', { userId: a.params.id, tenantId, details: { sessions, grants } })
      return undefined
    },
  }),
  route({
    method: 'get', path: '/users/:id/factors', tag: 'users', summary: 'A user’s second factors (never their secrets)', permission: 'users:read',
    params: idParams, response: itemsOf(factorJson),
    handler: async ({ data, params }) => ({ items: await data.users.factors(params.id) }),
  }),
  route({
    method: 'delete', path: '/users/:id/factors', tag: 'users', summary: 'Reset a user’s second factors and backup codes', permission: 'users:write', status: 204,
    stepUp: 'always', params: idParams,
    async handler(a) {
      // Scope first (404 for someone else's user), then the step-up.
      await a.data.users.get(a.params.id)
      a.stepUp('resetting someone’s second factors')
      const result = await a.data.users.resetFactors(a.params.id)
      await a.record('admin_user_factors_reset', { userId: a.params.id, tenantId: result.tenantId, details: { factors: result.factors, backupCodes: result.backupCodes } })
      return undefined
    },
  }),
  route({
    method: 'post', path: '/users/:id/unlock', tag: 'users', summary: 'End a lockout and clear the failure count', permission: 'users:write',
    params: idParams, response: userJson,
    async handler(a) {
      const user = await a.data.users.unlock(a.params.id, a.ctx, a.principal.actor)
      await a.record('admin_user_unlock', { userId: user.id, tenantId: user.tenantId })
      return user
    },
  }),
]

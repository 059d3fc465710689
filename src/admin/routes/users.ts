// Users: CRUD, roles, sessions, second factors, unlock.
import { route, type HandlerArgs } from '../route.ts'
import { isAdminPermission } from '../permissions.ts'
import { problems } from '../problem.ts'
import type { AssignableRole, UserJson } from '../data/users.ts'
import { factorJson, idParams, itemsOf, newUserBody, pageOf, roleIdsBody, sessionJson, sessionParams, userJson, userListQuery, userPatchBody } from '../schemas.ts'

/**
 * Roles about to be given (`adding`: those the person does not hold yet). A tenant administrator
 * gives only its own tenant's roles: a global role (the `admin` role among them) is a global
 * administrator's to give. No one hands out admin permissions they do not hold, and no one adds
 * roles to their own account (someone else must). All refused (403) before the step-up: a second
 * factor does not make them allowed.
 */
function guardGrant(a: HandlerArgs<unknown, unknown, unknown>, userId: string | undefined, adding: AssignableRole[], heldBefore: string[], roleIds: string[]) {
  if (!adding.length) return
  if (a.principal.scope.kind === 'tenant') {
    const errors = adding.filter((r) => r.tenantId === null).map((r) => ({ path: `roleIds.${roleIds.indexOf(r.id)}`, message: `${r.name} is a global role: only a global administrator may give it` }))
    if (errors.length) throw problems.forbidden('a tenant administrator gives only its own tenant’s roles', { errors })
  }
  const added = [...new Set(adding.flatMap((r) => r.permissions))].filter((p) => isAdminPermission(p) && !heldBefore.includes(p))
  a.cannotGrantBeyondOwn(added, 'the roles')
  if (userId !== undefined && a.principal.kind === 'person' && a.principal.sub === userId) {
    throw problems.forbidden('you cannot add roles to your own account: another administrator must')
  }
}

/** The roles of `wanted` that `user` does not hold yet. */
const newRoles = (wanted: AssignableRole[], user?: UserJson) => wanted.filter((r) => !user?.roles.some((held) => held.id === r.id))

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
    body: newUserBody, response: userJson,
    async load(a) {
      const { data, body } = a
      const tenant = await data.users.tenantOfNewUser(body.tenantId)
      const roles = await data.users.assignableRoles(body.roleIds ?? [], tenant.id)
      guardGrant(a, undefined, roles, [], body.roleIds ?? [])
      data.users.checkNewUserPassword(body)
      return { tenant, roles }
    },
    stepUp: {
      when: 'the new account gets a password or roles (without either its owner must still prove the address to sign in)',
      needs: ({ body }, { roles }) => (body.password !== undefined || roles.length ? 'creating an account with a password or roles' : undefined),
    },
    async handler(a, { tenant, roles }) {
      const { data, body } = a
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
    params: idParams, body: userPatchBody, response: userJson,
    async load(a) {
      const { data, params, body } = a
      const before = await data.users.get(params.id)
      if (body.status === 'disabled') notSelf(a, 'disable')
      let adding: AssignableRole[] = []
      let roles: AssignableRole[] | undefined
      if (body.roleIds) {
        roles = await data.users.assignableRoles(body.roleIds, before.tenantId)
        adding = newRoles(roles, before)
        guardGrant(a, before.id, adding, await data.users.heldPermissions(before.id), body.roleIds)
      }
      await data.users.checkChangedPassword(before.id, body)
      return { before, roles, adding }
    },
    stepUp: {
      when: 'it sets a password, changes the address (a reset link would go there), adds roles or re-enables the account',
      needs({ body }, { before, adding }) {
        if (body.password !== undefined) return 'setting someone’s password'
        if (body.email !== undefined && body.email !== before.email) return 'changing someone’s email address'
        if (adding.length) return 'giving someone roles'
        return body.status === 'active' && before.status !== 'active' ? 're-enabling an account' : undefined
      },
    },
    async handler(a, { before, roles }) {
      const { data, body } = a
      let roleChange: { added: string[]; removed: string[] } | undefined
      const { user, changed } = await data.users.update(before.id, body, a.ctx, a.principal.actor)
      if (roles) roleChange = await data.users.setRoles(before.id, roles)
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
    async load(a) {
      notSelf(a, 'delete')
      return a.data.users.get(a.params.id)
    },
    stepUp: { always: 'deleting an account' },
    async handler(a) {
      const user = await a.data.users.remove(a.params.id, a.ctx, a.principal.actor)
      await a.record('admin_user_delete', { userId: user.id, tenantId: user.tenantId, details: { email: user.email } })
      return undefined
    },
  }),
  route({
    method: 'put', path: '/users/:id/roles', tag: 'users', summary: 'Replace a user’s roles', permission: 'users:write',
    params: idParams, body: roleIdsBody, response: userJson,
    async load(a) {
      const { data, params, body } = a
      const before = await data.users.get(params.id)
      const roles = await data.users.assignableRoles(body.roleIds, before.tenantId)
      const adding = newRoles(roles, before)
      guardGrant(a, before.id, adding, await data.users.heldPermissions(before.id), body.roleIds)
      return { before, roles, adding }
    },
    stepUp: {
      when: 'it adds a role (taking roles away needs none)',
      needs: (_a, { adding }) => (adding.length ? 'giving someone roles' : undefined),
    },
    async handler(a, { before, roles }) {
      const { data } = a
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
    stepUp: { never: 'ending a session takes access away and gives none' },
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
    stepUp: { never: 'ending sessions takes access away and gives none' },
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
    params: idParams,
    // Scope first (404 for someone else's user), then the step-up.
    load: (a) => a.data.users.get(a.params.id),
    stepUp: { always: 'resetting someone’s second factors' },
    async handler(a) {
      const result = await a.data.users.resetFactors(a.params.id)
      await a.record('admin_user_factors_reset', { userId: a.params.id, tenantId: result.tenantId, details: { factors: result.factors, backupCodes: result.backupCodes } })
      return undefined
    },
  }),
  route({
    method: 'post', path: '/users/:id/unlock', tag: 'users', summary: 'End a lockout and clear the failure count', permission: 'users:write',
    params: idParams, response: userJson,
    stepUp: { never: 'it lifts a lockout early: the password is still needed to sign in, and nothing is granted' },
    async handler(a) {
      const user = await a.data.users.unlock(a.params.id, a.ctx, a.principal.actor)
      await a.record('admin_user_unlock', { userId: user.id, tenantId: user.tenantId })
      return user
    },
  }),
]

// The client registry: the one client model's settings (clients/settings.ts) as JSON. A generated
// or rotated secret is in the response once and never stored in clear. Registering, deleting,
// rotating and every change but a new name or disabling asks for a step-up: each creates, deletes
// or widens a credential (a secret, a key, a redirect target) or a permission. The server's own
// applications (builtIn) are refused every change (409).
import { z } from 'zod'
import { route, type HandlerArgs } from '../route.ts'
import { pageQuery } from '../page.ts'
import { problems, type FieldError } from '../problem.ts'
import type { ClientJson } from '../data/clients.ts'
import { changedClientJson, clientJson, clientPatchBody, clientSecretJson, createdClientJson, idParams, newClientBody, pageOf, rotateSecretBody } from '../schemas.ts'

/** Lists compare as sets: the console sends the whole form back, in its own order. */
const canonical = (v: unknown) => JSON.stringify(Array.isArray(v) ? [...v].map(String).sort() : v ?? null)
const same = (x: unknown, y: unknown) => canonical(x) === canonical(y)

/**
 * What only a global administrator may give a client: first-party standing (no consent page, so a
 * global administrator's sign-in would reach it silently), and so where a first-party client's
 * codes go, and admin permissions (its tokens would act on the admin API). Refused for a tenant
 * administrator whatever its own permissions or second factor, naming the fields.
 */
function globalOnly(a: HandlerArgs<unknown, unknown, unknown>, wanted: { firstParty?: boolean | undefined; adminPermissions?: string[] | undefined; redirectUris?: string[] | undefined }, before?: ClientJson) {
  if (a.principal.scope.kind === 'global') return
  const errors: FieldError[] = []
  if (wanted.firstParty === true && !before?.firstParty) errors.push({ path: 'firstParty', message: 'only a global administrator may mark a client first-party' })
  if (before?.firstParty && wanted.firstParty !== false && wanted.redirectUris !== undefined && !same(wanted.redirectUris, before.redirectUris)) {
    errors.push({ path: 'redirectUris', message: 'only a global administrator may change where a first-party client’s sign-ins go' })
  }
  const had: readonly string[] = before?.adminPermissions ?? []
  const added = (wanted.adminPermissions ?? []).filter((p) => !had.includes(p))
  if (added.length) errors.push({ path: 'adminPermissions', message: 'only a global administrator may give a client admin permissions' })
  if (errors.length) throw problems.forbidden(`a tenant administrator cannot set ${errors.map((e) => e.path).join(' or ')}`, { errors })
}

/** What the audit row keeps of a registration: its settings as stored, never a secret. */
function auditedSettings(c: ClientJson) {
  return {
    name: c.name, kind: c.kind, grantTypes: c.grantTypes, tokenEndpointAuthMethod: c.tokenEndpointAuthMethod, redirectUris: c.redirectUris,
    requirePkce: c.requirePkce, requireSignedRequestObject: c.requireSignedRequestObject, requirePushedAuthorizationRequests: c.requirePushedAuthorizationRequests,
    scope: c.scope, adminPermissions: c.adminPermissions, firstParty: c.firstParty, mfaPolicy: c.mfaPolicy,
  }
}

export const clientRoutes = [
  route({
    method: 'get', path: '/clients', tag: 'clients', summary: 'List clients', permission: 'clients:read',
    query: z.object({ ...pageQuery }), response: pageOf(clientJson),
    handler: ({ data, query }) => data.clients.list(query),
  }),
  route({
    method: 'post', path: '/clients', tag: 'clients', summary: 'Register a client (a generated secret is shown once)', permission: 'clients:write', status: 201,
    body: newClientBody, response: createdClientJson,
    async load(a) {
      globalOnly(a, a.body)
      a.cannotGrantBeyondOwn(a.body.adminPermissions ?? [], 'the client’s admin permissions')
      return a.data.clients.prepareCreate(a.body)
    },
    stepUp: { always: 'registering a client' },
    async handler(a, prepared) {
      const created = await a.data.clients.create(prepared)
      const c = created.client
      await a.record('admin_client_create', {
        clientId: c.id, tenantId: c.tenantId ?? undefined,
        details: { ...auditedSettings(c), secretIssued: Boolean(created.clientSecret), secretImported: prepared.settings.secret !== undefined },
      })
      a.ctx.set('Cache-Control', 'no-store')
      return { client: c, ...(created.clientSecret ? { clientSecret: created.clientSecret } : {}), ...(created.warnings.length ? { warnings: created.warnings } : {}) }
    },
  }),
  route({
    method: 'get', path: '/clients/:id', tag: 'clients', summary: 'Read a client', permission: 'clients:read',
    params: idParams, response: clientJson,
    handler: ({ data, params }) => data.clients.get(params.id),
  }),
  route({
    method: 'patch', path: '/clients/:id', tag: 'clients', summary: 'Change or disable a client (disabling ends its grants and tokens at once)', permission: 'clients:write',
    params: idParams, body: clientPatchBody, response: changedClientJson,
    async load(a) {
      const before = await a.data.clients.get(a.params.id)
      a.data.clients.refuseBuiltIn(before, a.body.disabled === true ? 'disabled' : 'changed')
      globalOnly(a, a.body, before)
      const had: readonly string[] = before.adminPermissions
      a.cannotGrantBeyondOwn((a.body.adminPermissions ?? []).filter((p) => !had.includes(p)), 'the client’s admin permissions')
      return { before, prepared: await a.data.clients.prepareUpdate(before.id, a.body) }
    },
    stepUp: {
      when: 'any change but a new name or disabling: where it may send codes, tokens and logouts, how it authenticates, what it may ask for, how people must sign in to it, re-enabling it',
      needs({ body }, { before }) {
        const { name: _name, disabled, ...rest } = body
        const changed = Object.entries(rest).some(([key, value]) => value !== undefined && !same(value, before[key as keyof ClientJson]))
        return changed || (disabled === false && before.disabled) ? 'changing how a client signs people in or what it may do' : undefined
      },
    },
    async handler(a, { prepared }) {
      const { client, clientSecret, changed, warnings } = await a.data.clients.update(prepared)
      await a.record('admin_client_update', { clientId: client.id, tenantId: client.tenantId ?? undefined, details: { changed, ...a.body, ...(clientSecret ? { secretIssued: true } : {}) } })
      if (clientSecret) a.ctx.set('Cache-Control', 'no-store')
      return { ...client, ...(clientSecret ? { clientSecret } : {}), ...(warnings.length ? { warnings } : {}) }
    },
  }),
  route({
    method: 'delete', path: '/clients/:id', tag: 'clients', summary: 'Delete a client (its grants and tokens end at once)', permission: 'clients:write', status: 204,
    params: idParams,
    async load(a) {
      const client = await a.data.clients.get(a.params.id)
      a.data.clients.refuseBuiltIn(client, 'deleted')
      return client
    },
    // Deleting frees the id: a new registration under it must not be the way around the step-up.
    stepUp: { always: 'deleting a client' },
    async handler(a) {
      const client = await a.data.clients.remove(a.params.id)
      await a.record('admin_client_delete', { clientId: client.id, tenantId: client.tenantId ?? undefined, details: { name: client.name } })
      return undefined
    },
  }),
  route({
    method: 'post', path: '/clients/:id/secret', tag: 'clients',
    summary: 'Rotate a client secret (the new one is shown once; with keepPreviousFor the old one keeps working until then)', permission: 'clients:write',
    params: idParams, body: rotateSecretBody, response: clientSecretJson,
    async load(a) {
      const client = await a.data.clients.get(a.params.id)
      a.data.clients.refuseBuiltIn(client, 'given a secret')
      a.data.clients.refuseWithoutSecret(client)
      return client
    },
    stepUp: { always: 'rotating a client secret' },
    async handler(a) {
      const keepPreviousFor = a.body.keepPreviousFor
      const { client, clientSecret, previousExpiresAt } = await a.data.clients.rotateSecret(a.params.id, keepPreviousFor)
      await a.record('admin_client_secret_rotate', { clientId: client.id, tenantId: client.tenantId ?? undefined, details: { keepPreviousFor: keepPreviousFor ?? 0, previousExpiresAt } })
      a.ctx.set('Cache-Control', 'no-store')
      return { clientSecret, previousExpiresAt }
    },
  }),
]

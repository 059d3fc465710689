// The client registry. A new or rotated secret is in the response once and never stored in clear.
import { z } from 'zod'
import { route } from '../route.ts'
import { pageQuery } from '../page.ts'
import { clientJson, clientPatchBody, clientSecretJson, createdClientJson, idParams, newClientBody, pageOf } from '../schemas.ts'


export const clientRoutes = [
  route({
    method: 'get', path: '/clients', tag: 'clients', summary: 'List clients', permission: 'clients:read',
    query: z.object({ ...pageQuery }), response: pageOf(clientJson),
    handler: ({ data, query }) => data.clients.list(query),
  }),
  route({
    method: 'post', path: '/clients', tag: 'clients', summary: 'Register a client (the secret is shown once)', permission: 'clients:write', status: 201,
    body: newClientBody, response: createdClientJson,
    async handler(a) {
      a.cannotGrantBeyondOwn(a.body.adminPermissions ?? [], 'the client’s admin permissions')
      const created = await a.data.clients.create(a.body)
      const c = created.client
      await a.record('admin_client_create', { clientId: c.id, tenantId: c.tenantId ?? undefined, details: { name: c.name, kind: c.kind, redirectUris: c.redirectUris, grantTypes: c.grantTypes, scope: c.scope, adminPermissions: c.adminPermissions, firstParty: c.firstParty, mfaPolicy: c.mfaPolicy, secretIssued: Boolean(created.clientSecret) } })
      a.ctx.set('Cache-Control', 'no-store')
      return created
    },
  }),
  route({
    method: 'get', path: '/clients/:id', tag: 'clients', summary: 'Read a client', permission: 'clients:read',
    params: idParams, response: clientJson,
    handler: ({ data, params }) => data.clients.get(params.id),
  }),
  route({
    method: 'patch', path: '/clients/:id', tag: 'clients', summary: 'Change a client', permission: 'clients:write',
    params: idParams, body: clientPatchBody, response: clientJson,
    async handler(a) {
      const before = await a.data.clients.get(a.params.id)
      a.cannotGrantBeyondOwn((a.body.adminPermissions ?? []).filter((p) => !before.adminPermissions.includes(p)), 'the client’s admin permissions')
      const { client, changed } = await a.data.clients.update(a.params.id, a.body)
      await a.record('admin_client_update', { clientId: client.id, tenantId: client.tenantId ?? undefined, details: { changed, ...a.body } })
      return client
    },
  }),
  route({
    method: 'delete', path: '/clients/:id', tag: 'clients', summary: 'Delete a client', permission: 'clients:write', status: 204,
    params: idParams,
    async handler(a) {
      const client = await a.data.clients.remove(a.params.id)
      await a.record('admin_client_delete', { clientId: client.id, tenantId: client.tenantId ?? undefined, details: { name: client.name } })
      return undefined
    },
  }),
  route({
    method: 'post', path: '/clients/:id/secret', tag: 'clients', summary: 'Rotate a client secret (the new one is shown once)', permission: 'clients:write',
    stepUp: 'always', params: idParams, response: clientSecretJson,
    async handler(a) {
      await a.data.clients.get(a.params.id)
      a.stepUp('rotating a client secret')
      const { client, clientSecret } = await a.data.clients.rotateSecret(a.params.id)
      await a.record('admin_client_secret_rotate', { clientId: client.id, tenantId: client.tenantId ?? undefined })
      a.ctx.set('Cache-Control', 'no-store')
      return { clientSecret }
    },
  }),
]

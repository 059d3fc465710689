// Tenants: managed by global administrators; a tenant administrator reads their own.
import { z } from 'zod'
import { route } from '../route.ts'
import { pageQuery } from '../page.ts'
import { idParams, newTenantBody, pageOf, tenantJson, tenantPatchBody } from '../schemas.ts'

export const tenantRoutes = [
  route({
    method: 'get', path: '/tenants', tag: 'tenants', summary: 'List tenants (a tenant administrator: their own)', permission: 'tenants:read',
    query: z.object({ ...pageQuery }), response: pageOf(tenantJson),
    handler: ({ data, query }) => data.tenants.list(query),
  }),
  route({
    method: 'post', path: '/tenants', tag: 'tenants', summary: 'Create a tenant (global administrators)', permission: 'tenants:write', status: 201,
    body: newTenantBody, response: tenantJson,
    load: async (a) => a.data.tenants.mayManage(),
    stepUp: {
      when: 'its registration is open: anyone may then give themselves an account in it',
      needs: ({ body }) => (body.registrationMode === 'open' ? 'creating a tenant open to self-registration' : undefined),
    },
    async handler(a) {
      const tenant = await a.data.tenants.create(a.body)
      await a.record('admin_tenant_create', { tenantId: tenant.id, details: { slug: tenant.slug, name: tenant.name, registrationMode: tenant.registrationMode } })
      return tenant
    },
  }),
  route({
    method: 'get', path: '/tenants/:id', tag: 'tenants', summary: 'Read a tenant', permission: 'tenants:read',
    params: idParams, response: tenantJson,
    handler: ({ data, params }) => data.tenants.get(params.id),
  }),
  route({
    method: 'patch', path: '/tenants/:id', tag: 'tenants', summary: 'Change a tenant (global administrators)', permission: 'tenants:write',
    params: idParams, body: tenantPatchBody, response: tenantJson,
    load: (a) => a.data.tenants.forChange(a.params.id),
    stepUp: {
      when: 'its registration mode becomes anything but closed (more people may give themselves accounts)',
      needs: ({ body }, before) => (body.registrationMode !== undefined && body.registrationMode !== 'closed' && body.registrationMode !== before.registrationMode ? 'opening a tenant’s registration' : undefined),
    },
    async handler(a) {
      const tenant = await a.data.tenants.update(a.params.id, a.body)
      await a.record('admin_tenant_update', { tenantId: tenant.id, details: { changed: Object.keys(a.body), ...a.body } })
      return tenant
    },
  }),
  route({
    method: 'delete', path: '/tenants/:id', tag: 'tenants', summary: 'Delete an empty tenant (global administrators)', permission: 'tenants:write', status: 204,
    params: idParams,
    load: (a) => a.data.tenants.forRemoval(a.params.id),
    stepUp: { always: 'deleting a tenant' },
    async handler(a) {
      const tenant = await a.data.tenants.remove(a.params.id)
      await a.record('admin_tenant_delete', { tenantId: tenant.id, details: { slug: tenant.slug } })
      return undefined
    },
  }),
]

// Tenants: global administrators manage them; a tenant administrator reads their own only.
import type { z } from 'zod'
import { DEFAULT_TENANT_SLUG } from '../../identity/tenants.ts'
import { problems } from '../problem.ts'
import { decodeCursor, toPage, type Page } from '../page.ts'
import type { newTenantBody, tenantJson, tenantPatchBody } from '../schemas.ts'
import type { TenantScope } from '../../queries/admin-scope.ts'
import { findTenantInScope, listTenantsInScope, type Tenant } from '../../queries/admin-tenants.ts'
import { countUsersOfTenant, createTenant, deleteTenant, updateTenant } from '../../queries/tenants.ts'
import { isUniqueViolation } from '../../queries/errors.ts'
import type { AdminDataDeps } from './deps.ts'

export type TenantJson = z.output<typeof tenantJson>
const MODES = new Set(['closed', 'invite', 'open'])

export function tenantsData(deps: AdminDataDeps, scope: TenantScope) {
  const { prisma } = deps

  async function toJson(t: Tenant): Promise<TenantJson> {
    const userCount = await countUsersOfTenant(prisma, t.id)
    const mode = t.registrationMode && MODES.has(t.registrationMode) ? (t.registrationMode as TenantJson['registrationMode']) : null
    return { id: t.id, slug: t.slug, name: t.name, registrationMode: mode, userCount, createdAt: t.createdAt.toISOString() }
  }

  async function row(id: string): Promise<Tenant> {
    const tenant = await findTenantInScope(prisma, scope, id)
    if (!tenant) throw problems.notFound('the tenant')
    return tenant
  }

  function globalOnly() {
    if (scope.kind !== 'global') throw problems.forbidden('only global administrators manage tenants')
  }

  async function removable(id: string): Promise<TenantJson> {
    const tenant = await row(id)
    globalOnly()
    if (tenant.slug === DEFAULT_TENANT_SLUG) throw problems.conflict('the default tenant cannot be deleted')
    const json = await toJson(tenant)
    // Users are never deleted as a side effect: the tenant must be emptied first.
    if (json.userCount > 0) throw problems.conflict(`the tenant still has ${json.userCount} users; move or delete them first`)
    return json
  }

  return {
    async list(query: { limit: number; cursor?: string | undefined }): Promise<Page<TenantJson>> {
      const rows = await listTenantsInScope(prisma, scope, { take: query.limit + 1, after: decodeCursor(query.cursor) })
      const page = toPage(rows, query.limit, (r) => r.createdAt, (r) => r)
      return { items: await Promise.all(page.items.map(toJson)), nextCursor: page.nextCursor }
    },

    async get(id: string): Promise<TenantJson> {
      return toJson(await row(id))
    },

    /** Refuses (403) a tenant administrator before anything else is asked of it. */
    mayManage(): void {
      globalOnly()
    },

    /** The tenant a global administrator is about to change (404 / 403 first). */
    async forChange(id: string): Promise<TenantJson> {
      const tenant = await row(id)
      globalOnly()
      return toJson(tenant)
    },

    /** The tenant, if it may be deleted now (404 / 403 / 409 before anything else). */
    forRemoval: removable,

    async create(input: z.output<typeof newTenantBody>): Promise<TenantJson> {
      globalOnly()
      try {
        return await toJson(await createTenant(prisma, { slug: input.slug, name: input.name, registrationMode: input.registrationMode ?? null }))
      } catch (err) {
        if (isUniqueViolation(err)) throw problems.conflict('a tenant with this slug already exists', [{ path: 'slug', message: 'already taken' }])
        throw err
      }
    },

    async update(id: string, patch: z.output<typeof tenantPatchBody>): Promise<TenantJson> {
      const tenant = await row(id)
      globalOnly()
      return toJson(await updateTenant(prisma, tenant.id, {
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.registrationMode !== undefined ? { registrationMode: patch.registrationMode } : {}),
      }))
    },

    async remove(id: string): Promise<TenantJson> {
      const json = await removable(id)
      await deleteTenant(prisma, json.id)
      return json
    },
  }
}

// Roles and permissions within a tenant scope. Tenant administrators read global roles but change
// only their tenant's own.
import type { z } from 'zod'
import { problems } from '../problem.ts'
import { decodeCursor, toPage, type Page } from '../page.ts'
import { ADMIN_PERMISSION_DESCRIPTIONS, ADMIN_PERMISSIONS } from '../permissions.ts'
import type { newRoleBody, roleJson, rolePatchBody } from '../schemas.ts'
import { tenantForNewRow, type TenantScope } from '../../queries/admin-scope.ts'
import { countRoleMembersInScope, findRoleInScope, listPermissionsInScope, listRolesInScope, roleWritableInScope, type RoleWithPermissions } from '../../queries/admin-roles.ts'
import { createRole, deleteRole, globalRoleNameTaken, setRolePermissions, updateRole, userHoldsRole } from '../../queries/roles.ts'
import { tenantExists } from '../../queries/tenants.ts'
import { isUniqueViolation } from '../../queries/errors.ts'
import type { AdminDataDeps } from './deps.ts'

export type RoleJson = z.output<typeof roleJson>
type RoleRow = RoleWithPermissions

export function rolesData(deps: AdminDataDeps, scope: TenantScope) {
  const { prisma } = deps

  async function toJson(r: RoleRow): Promise<RoleJson> {
    // Members counted within scope: a global role's members in other tenants are not ours to count.
    const userCount = await countRoleMembersInScope(prisma, scope, r.id)
    return { id: r.id, tenantId: r.tenantId, name: r.name, description: r.description, mfaRequired: r.mfaRequired, permissions: r.permissions.map((p) => p.permission.name).sort(), userCount }
  }

  async function readable(id: string): Promise<RoleRow> {
    const role = await findRoleInScope(prisma, scope, id)
    if (!role) throw problems.notFound('the role')
    return role
  }

  /** A role the caller may change: missing → 404; a global role seen by a tenant administrator → 403. */
  async function writable(id: string): Promise<RoleRow> {
    const role = await readable(id)
    if (!(await roleWritableInScope(prisma, scope, id))) throw problems.forbidden('global roles are read-only for tenant administrators')
    return role
  }

  async function setPermissions(roleId: string, names: string[]) {
    // An admin permission new to the database is stored with its description.
    const permissions = [...new Set(names)].map((name) => ({ name, description: (ADMIN_PERMISSION_DESCRIPTIONS as Record<string, string>)[name] ?? null }))
    await setRolePermissions(prisma, roleId, permissions)
  }

  const nameTaken = () => problems.conflict('a role with this name already exists here', [{ path: 'name', message: 'already taken' }])
  function conflict(err: unknown): never {
    if (isUniqueViolation(err)) throw nameTaken()
    throw err
  }

  return {
    async list(query: { limit: number; cursor?: string | undefined }): Promise<Page<RoleJson>> {
      const rows = await listRolesInScope(prisma, scope, { take: query.limit + 1, after: decodeCursor(query.cursor) })
      const page = toPage(rows, query.limit, (r) => r.createdAt, (r) => r)
      return { items: await Promise.all(page.items.map(toJson)), nextCursor: page.nextCursor }
    },

    async get(id: string): Promise<RoleJson> {
      return toJson(await readable(id))
    },

    async create(input: z.output<typeof newRoleBody>): Promise<RoleJson> {
      const decided = tenantForNewRow(scope, input.tenantId ?? undefined)
      if (!decided.ok || (scope.kind === 'tenant' && input.tenantId === null)) throw problems.forbidden('a tenant administrator creates roles in their own tenant only')
      const tenantId = decided.tenantId ?? null
      if (tenantId && !(await tenantExists(prisma, tenantId))) throw problems.validation('no such tenant', [{ path: 'tenantId', message: 'no such tenant' }])
      // @@unique([tenantId, name]) does not hold for NULL tenantId in PostgreSQL: check global names here.
      if (tenantId === null && (await globalRoleNameTaken(prisma, input.name))) throw nameTaken()
      let role
      try {
        role = await createRole(prisma, { name: input.name, description: input.description ?? null, mfaRequired: input.mfaRequired ?? false, tenantId })
      } catch (err) {
        conflict(err)
      }
      await setPermissions(role.id, input.permissions)
      return toJson(await readable(role.id))
    },

    /** Before a change: the role as it is, if the caller may change it. */
    async forChange(id: string): Promise<RoleJson> {
      return toJson(await writable(id))
    },

    async update(id: string, patch: z.output<typeof rolePatchBody>): Promise<RoleJson> {
      const role = await writable(id)
      if (patch.name !== undefined && role.tenantId === null && patch.name !== role.name && (await globalRoleNameTaken(prisma, patch.name))) throw nameTaken()
      try {
        await updateRole(prisma, role.id, {
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.description !== undefined ? { description: patch.description } : {}),
          ...(patch.mfaRequired !== undefined ? { mfaRequired: patch.mfaRequired } : {}),
        })
      } catch (err) {
        conflict(err)
      }
      if (patch.permissions) await setPermissions(role.id, patch.permissions)
      return toJson(await readable(role.id))
    },

    async remove(id: string): Promise<RoleJson> {
      const role = await writable(id)
      const json = await toJson(role)
      await deleteRole(prisma, role.id)
      return json
    },

    /** Whether the person holds the role (widening one's own role is widening one's own permissions). */
    async isHeldBy(id: string, userId: string): Promise<boolean> {
      return userHoldsRole(prisma, id, userId)
    },

    /** Every permission there is: the admin API's and those roles carry for applications. */
    async permissions(): Promise<Array<{ name: string; description: string | null }>> {
      // A tenant administrator sees the names its visible roles use, not other tenants' vocabulary.
      const stored = await listPermissionsInScope(prisma, scope)
      const byName = new Map<string, string | null>(ADMIN_PERMISSIONS.map((p) => [p, ADMIN_PERMISSION_DESCRIPTIONS[p]]))
      for (const p of stored) if (!byName.has(p.name)) byName.set(p.name, p.description)
      return [...byName].map(([name, description]) => ({ name, description }))
    },
  }
}

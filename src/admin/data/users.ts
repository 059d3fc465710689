// Users as the admin API sees them, within a tenant scope.
import type { Context } from 'koa'
import type { z } from 'zod'
import { createUser, setPassword } from '../../identity/users.ts'
import { checkNewPassword } from '../../identity/password-policy.ts'
import { endAllSessionsOf, endSession, listActiveSessions } from '../../identity/sessions.ts'
import { unlockAccount } from '../../security/lockout.ts'
import { ensureDefaultTenant } from '../../identity/tenants.ts'
import { problems } from '../problem.ts'
import { decodeCursor, toPage, type Page } from '../page.ts'
import type { newUserBody, userJson, userListQuery, userPatchBody, sessionJson, factorJson } from '../schemas.ts'
import { tenantForNewRow, type TenantScope } from '../../queries/admin-scope.ts'
import { findUserInScope, listUsersInScope, type UserWithRoles } from '../../queries/admin-users.ts'
import { findRolesInScope } from '../../queries/admin-roles.ts'
import { addUserRoles, changeUserRoles, permissionNamesOfRoles } from '../../queries/roles.ts'
import { tenantExists } from '../../queries/tenants.ts'
import { deleteUser, updateUserColumns, type UserColumns } from '../../queries/users.ts'
import { deleteSecondFactorsOf, listVerifiedFactorSummaries } from '../../queries/mfa-factors.ts'
import { findLiveSessionOfUser } from '../../queries/user-sessions.ts'
import { uniqueViolationFields } from '../../queries/errors.ts'
import { iso, type AdminDataDeps } from './deps.ts'

export type UserJson = z.output<typeof userJson>
type UserRow = UserWithRoles

/** A role as assignment checks need it. */
export interface AssignableRole { id: string; name: string; tenantId: string | null; permissions: string[] }

export function usersData(deps: AdminDataDeps, scope: TenantScope) {
  const { prisma } = deps
  const now = () => deps.clock?.now() ?? Date.now()
  /** The one password policy, as a field error: an administrator cannot set a weak password either. */
  const checkPassword = (password: string | undefined, userInputs: Array<string | null | undefined>) => {
    if (password === undefined) return
    const check = checkNewPassword(password, { minLength: deps.passwordMinLength, userInputs })
    if (!check.ok) throw problems.validation(`password: ${check.message}`, [{ path: 'password', message: check.message }])
  }

  function toJson(u: UserRow): UserJson {
    return {
      id: u.id, tenantId: u.tenantId, email: u.email, emailVerified: u.emailVerified, username: u.username,
      displayName: u.displayName, givenName: u.givenName, familyName: u.familyName, phone: u.phone, locale: u.locale, status: u.status,
      locked: u.lockedUntil !== null && u.lockedUntil.getTime() > now(), lockedUntil: iso(u.lockedUntil), failedLogins: u.failedLogins,
      lastLoginAt: iso(u.lastLoginAt), createdAt: u.createdAt.toISOString(), updatedAt: u.updatedAt.toISOString(),
      roles: u.roles.map((r) => ({ id: r.role.id, name: r.role.name })),
    }
  }

  async function row(id: string): Promise<UserRow> {
    const user = await findUserInScope(prisma, scope, id)
    if (!user) throw problems.notFound('the user')
    return user
  }

  /**
   * Addresses and usernames are unique across tenants (sign-in names a person by either alone), so
   * one in use in another tenant cannot be given here either. The answer names the field but not
   * why, whose or where, and is the same whether the holder is in the caller's tenant or another
   * (ADR 0131): a tenant administrator learns no more about other tenants than that the name is
   * unavailable.
   */
  function conflict(err: unknown): never {
    const fields = uniqueViolationFields(err)
    if (fields) {
      const field = fields.find((f) => f === 'email' || f === 'username') ?? 'email'
      throw problems.conflict('this email address or username cannot be used: choose another', [{ path: field, message: 'cannot be used: choose another' }])
    }
    throw err
  }

  return {
    async list(query: z.output<typeof userListQuery>): Promise<Page<UserJson>> {
      const filters = { tenantId: query.tenantId, status: query.status, email: query.email?.toLowerCase(), role: query.role, q: query.q }
      const rows = await listUsersInScope(prisma, scope, filters, { take: query.limit + 1, after: decodeCursor(query.cursor) })
      return toPage(rows, query.limit, (r) => r.createdAt, toJson)
    },

    async get(id: string): Promise<UserJson> {
      return toJson(await row(id))
    },

    /** The roles (visible in scope) for a user of `tenantId`; field errors name the bad ones. */
    async assignableRoles(roleIds: string[], tenantId: string, path = 'roleIds'): Promise<AssignableRole[]> {
      const unique = [...new Set(roleIds)]
      const roles = await findRolesInScope(prisma, scope, unique)
      const errors = roleIds.flatMap((roleId, i) => {
        const role = roles.find((r) => r.id === roleId)
        if (!role) return [{ path: `${path}.${i}`, message: 'no such role' }]
        if (role.tenantId !== null && role.tenantId !== tenantId) return [{ path: `${path}.${i}`, message: 'this role belongs to another tenant' }]
        return []
      })
      if (errors.length) throw problems.validation('some roles cannot be assigned to this user', errors)
      return roles.map((r) => ({ id: r.id, name: r.name, tenantId: r.tenantId, permissions: r.permissions.map((p) => p.permission.name) }))
    },

    /** The tenant a new user goes to: a tenant administrator's own; a global one's choice or the default. */
    async tenantOfNewUser(requested: string | undefined): Promise<{ id: string; isDefault: boolean }> {
      const decided = tenantForNewRow(scope, requested)
      if (!decided.ok) throw problems.forbidden('a tenant administrator creates users in their own tenant only')
      const fallback = await ensureDefaultTenant(prisma)
      const tenantId = decided.tenantId ?? fallback.id
      if (!(await tenantExists(prisma, tenantId))) throw problems.validation('no such tenant', [{ path: 'tenantId', message: 'no such tenant' }])
      return { id: tenantId, isDefault: tenantId === fallback.id }
    },

    /** The password policy for a new user's password (400 naming the field), before any write. */
    checkNewUserPassword(input: z.output<typeof newUserBody>): void {
      checkPassword(input.password, [input.email, input.username, input.displayName, input.givenName, input.familyName])
    },

    /** The password policy for a changed password, judged with the fields as they will be. */
    async checkChangedPassword(id: string, patch: z.output<typeof userPatchBody>): Promise<void> {
      const before = await row(id)
      checkPassword(patch.password, [patch.email ?? before.email, patch.username ?? before.username, patch.displayName ?? before.displayName, patch.givenName ?? before.givenName, patch.familyName ?? before.familyName])
    },

    async create(input: z.output<typeof newUserBody>, tenantId: string, roles: AssignableRole[]): Promise<UserJson> {
      checkPassword(input.password, [input.email, input.username, input.displayName, input.givenName, input.familyName])
      let id: string
      try {
        const created = await createUser(prisma, {
          email: input.email, username: input.username, password: input.password, tenantId,
          displayName: input.displayName ?? undefined, givenName: input.givenName ?? undefined, familyName: input.familyName ?? undefined,
          phone: input.phone ?? undefined, emailVerified: input.emailVerified,
        })
        id = created.id
      } catch (err) {
        conflict(err)
      }
      if (input.locale) await updateUserColumns(prisma, id, { locale: input.locale })
      if (roles.length) await addUserRoles(prisma, id, roles.map((r) => r.id), 'admin')
      return toJson(await row(id))
    },

    async update(id: string, patch: z.output<typeof userPatchBody>, ctx: Context, actor: string): Promise<{ user: UserJson; changed: string[] }> {
      const before = await row(id)
      const { password, roleIds: _roleIds, ...fields } = patch
      // Before any write: a refused password leaves the rest of the patch unapplied too.
      checkPassword(password, [fields.email ?? before.email, fields.username ?? before.username, fields.displayName ?? before.displayName, fields.givenName ?? before.givenName, fields.familyName ?? before.familyName])
      const data: UserColumns = {}
      for (const [key, value] of Object.entries(fields)) if (value !== undefined) (data as Record<string, unknown>)[key] = value
      // A new address is unverified unless the administrator says otherwise.
      if (patch.email !== undefined && patch.email !== before.email && patch.emailVerified === undefined) data.emailVerified = false
      try {
        await updateUserColumns(prisma, before.id, data)
      } catch (err) {
        conflict(err)
      }
      if (password !== undefined) await setPassword(prisma, before.id, password)
      if (patch.status === 'disabled' && before.status !== 'disabled') {
        await endAllSessionsOf(deps, before.id, { reason: 'admin', ctx, actor })
      }
      const changed = [...Object.keys(data), ...(password !== undefined ? ['password'] : [])]
      return { user: toJson(await row(id)), changed }
    },

    async setRoles(id: string, roles: AssignableRole[]): Promise<{ user: UserJson; added: string[]; removed: string[] }> {
      const before = await row(id)
      const current = new Set(before.roles.map((r) => r.role.id))
      const wanted = new Set(roles.map((r) => r.id))
      const added = [...wanted].filter((r) => !current.has(r))
      const removed = [...current].filter((r) => !wanted.has(r))
      await changeUserRoles(prisma, before.id, { add: added, remove: removed }, 'admin')
      return { user: toJson(await row(id)), added, removed }
    },

    /** Admin permissions the user holds through roles now (for step-up and escalation checks). */
    async heldPermissions(id: string): Promise<string[]> {
      const user = await row(id)
      return [...new Set(await permissionNamesOfRoles(prisma, user.roles.map((r) => r.role.id)))]
    },

    async remove(id: string, ctx: Context, actor: string): Promise<UserJson> {
      const user = await row(id)
      // Tokens and browser sessions live in the provider's store: end them before the row goes.
      await endAllSessionsOf(deps, user.id, { reason: 'admin', ctx, actor })
      await deleteUser(prisma, user.id)
      return toJson(user)
    },

    async sessions(id: string): Promise<Array<z.output<typeof sessionJson>>> {
      const user = await row(id)
      const rows = await listActiveSessions(deps, user.id)
      return rows.map((s) => ({ id: s.id, browser: s.browser, os: s.os, ip: s.ip, createdAt: s.createdAt.toISOString(), lastSeenAt: s.lastSeenAt.toISOString() }))
    },

    async endSession(id: string, sessionId: string, ctx: Context, actor: string): Promise<{ tenantId: string }> {
      const user = await row(id)
      const session = await findLiveSessionOfUser(prisma, sessionId, user.id)
      if (!session) throw problems.notFound('the session')
      await endSession(deps, session, { reason: 'admin', ctx, actor })
      return { tenantId: user.tenantId }
    },

    async endAllSessions(id: string, ctx: Context, actor: string): Promise<{ tenantId: string; sessions: number; grants: number }> {
      const user = await row(id)
      return { tenantId: user.tenantId, ...(await endAllSessionsOf(deps, user.id, { reason: 'admin', ctx, actor })) }
    },

    async factors(id: string): Promise<Array<z.output<typeof factorJson>>> {
      const user = await row(id)
      // Never the secret, the destination or the credential: what and when only.
      const rows = await listVerifiedFactorSummaries(prisma, user.id)
      return rows.map((f) => ({ id: f.id, kind: f.kind, label: f.label, createdAt: f.createdAt.toISOString(), lastUsedAt: iso(f.lastUsedAt) }))
    },

    async resetFactors(id: string): Promise<{ tenantId: string; factors: number; backupCodes: number }> {
      const user = await row(id)
      return { tenantId: user.tenantId, ...(await deleteSecondFactorsOf(prisma, user.id)) }
    },

    async unlock(id: string, ctx: Context, actor: string): Promise<UserJson> {
      const user = await row(id)
      // unlockAccount audits account_unlocked with the actor.
      await unlockAccount(prisma, deps.audit, user.id, actor, { ctx, clock: deps.clock })
      return toJson(await row(id))
    },
  }
}

// Users as the admin API sees them, within a tenant scope.
import type { Context } from 'koa'
import type { z } from 'zod'
import type { Prisma } from '../../generated/prisma/client.ts'
import { createUser, setPassword } from '../../identity/users.ts'
import { checkNewPassword } from '../../identity/password-policy.ts'
import { endAllSessionsOf, endSession, listActiveSessions } from '../../identity/sessions.ts'
import { unlockAccount } from '../../security/lockout.ts'
import { ensureDefaultTenant } from '../../identity/tenants.ts'
import { problems } from '../problem.ts'
import { afterCursor, decodeCursor, descending, toPage, type Page } from '../page.ts'
import type { newUserBody, userJson, userListQuery, userPatchBody, sessionJson, factorJson } from '../schemas.ts'
import { roleReadWhere, tenantForNewRow, userWhere, type TenantScope } from './scope.ts'
import { iso, uniqueViolation, type AdminDataDeps } from './deps.ts'

export type UserJson = z.output<typeof userJson>
const withRoles = { roles: { include: { role: { select: { id: true, name: true } } }, orderBy: { createdAt: 'asc' } } } satisfies Prisma.UserInclude
type UserRow = Prisma.UserGetPayload<{ include: typeof withRoles }>

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
      displayName: u.displayName, givenName: u.givenName, familyName: u.familyName, phone: u.phone, status: u.status,
      locked: u.lockedUntil !== null && u.lockedUntil.getTime() > now(), lockedUntil: iso(u.lockedUntil), failedLogins: u.failedLogins,
      lastLoginAt: iso(u.lastLoginAt), createdAt: u.createdAt.toISOString(), updatedAt: u.updatedAt.toISOString(),
      roles: u.roles.map((r) => ({ id: r.role.id, name: r.role.name })),
    }
  }

  async function row(id: string): Promise<UserRow> {
    const user = await prisma.user.findFirst({ where: { AND: [{ id }, userWhere(scope)] }, include: withRoles })
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
    const fields = uniqueViolation(err)
    if (fields) {
      const field = fields.find((f) => f === 'email' || f === 'username') ?? 'email'
      throw problems.conflict('this email address or username cannot be used: choose another', [{ path: field, message: 'cannot be used: choose another' }])
    }
    throw err
  }

  return {
    async list(query: z.output<typeof userListQuery>): Promise<Page<UserJson>> {
      const where: Prisma.UserWhereInput = {
        AND: [
          userWhere(scope),
          query.tenantId ? { tenantId: query.tenantId } : {},
          query.status ? { status: query.status } : {},
          query.email ? { email: query.email.toLowerCase() } : {},
          query.role ? { roles: { some: { role: { AND: [roleReadWhere(scope), { OR: [{ id: query.role }, { name: query.role }] }] } } } } : {},
          query.q ? { OR: (['email', 'username', 'displayName'] as const).map((f) => ({ [f]: { contains: query.q, mode: 'insensitive' as const } })) } : {},
          afterCursor('createdAt', decodeCursor(query.cursor)),
        ],
      }
      const rows = await prisma.user.findMany({ where, include: withRoles, orderBy: descending('createdAt'), take: query.limit + 1 })
      return toPage(rows, query.limit, (r) => r.createdAt, toJson)
    },

    async get(id: string): Promise<UserJson> {
      return toJson(await row(id))
    },

    /** The roles (visible in scope) for a user of `tenantId`; field errors name the bad ones. */
    async assignableRoles(roleIds: string[], tenantId: string, path = 'roleIds'): Promise<AssignableRole[]> {
      const unique = [...new Set(roleIds)]
      const roles = await prisma.role.findMany({
        where: { AND: [{ id: { in: unique } }, roleReadWhere(scope)] },
        include: { permissions: { include: { permission: true } } },
      })
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
      if (!(await prisma.tenant.findUnique({ where: { id: tenantId } }))) throw problems.validation('no such tenant', [{ path: 'tenantId', message: 'no such tenant' }])
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
      if (roles.length) await prisma.userRole.createMany({ data: roles.map((r) => ({ userId: id, roleId: r.id, source: 'admin' })), skipDuplicates: true })
      return toJson(await row(id))
    },

    async update(id: string, patch: z.output<typeof userPatchBody>, ctx: Context, actor: string): Promise<{ user: UserJson; changed: string[] }> {
      const before = await row(id)
      const { password, roleIds: _roleIds, ...fields } = patch
      // Before any write: a refused password leaves the rest of the patch unapplied too.
      checkPassword(password, [fields.email ?? before.email, fields.username ?? before.username, fields.displayName ?? before.displayName, fields.givenName ?? before.givenName, fields.familyName ?? before.familyName])
      const data: Prisma.UserUpdateInput = {}
      for (const [key, value] of Object.entries(fields)) if (value !== undefined) (data as Record<string, unknown>)[key] = value
      // A new address is unverified unless the administrator says otherwise.
      if (patch.email !== undefined && patch.email !== before.email && patch.emailVerified === undefined) data.emailVerified = false
      try {
        await prisma.user.update({ where: { id: before.id }, data })
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
      await prisma.$transaction([
        prisma.userRole.deleteMany({ where: { userId: before.id, roleId: { in: removed } } }),
        prisma.userRole.createMany({ data: added.map((roleId) => ({ userId: before.id, roleId, source: 'admin' })), skipDuplicates: true }),
      ])
      return { user: toJson(await row(id)), added, removed }
    },

    /** Admin permissions the user holds through roles now (for step-up and escalation checks). */
    async heldPermissions(id: string): Promise<string[]> {
      const user = await row(id)
      const roles = await prisma.rolePermission.findMany({ where: { roleId: { in: user.roles.map((r) => r.role.id) } }, include: { permission: true } })
      return [...new Set(roles.map((r) => r.permission.name))]
    },

    async remove(id: string, ctx: Context, actor: string): Promise<UserJson> {
      const user = await row(id)
      // Tokens and browser sessions live in the provider's store: end them before the row goes.
      await endAllSessionsOf(deps, user.id, { reason: 'admin', ctx, actor })
      await prisma.user.delete({ where: { id: user.id } })
      return toJson(user)
    },

    async sessions(id: string): Promise<Array<z.output<typeof sessionJson>>> {
      const user = await row(id)
      const rows = await listActiveSessions(deps, user.id)
      return rows.map((s) => ({ id: s.id, browser: s.browser, os: s.os, ip: s.ip, createdAt: s.createdAt.toISOString(), lastSeenAt: s.lastSeenAt.toISOString() }))
    },

    async endSession(id: string, sessionId: string, ctx: Context, actor: string): Promise<{ tenantId: string }> {
      const user = await row(id)
      const session = await prisma.userSession.findFirst({ where: { id: sessionId, userId: user.id, endedAt: null } })
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
      const rows = await prisma.mfaFactor.findMany({ where: { userId: user.id, verified: true }, orderBy: { createdAt: 'asc' }, select: { id: true, kind: true, label: true, createdAt: true, lastUsedAt: true } })
      return rows.map((f) => ({ id: f.id, kind: f.kind, label: f.label, createdAt: f.createdAt.toISOString(), lastUsedAt: iso(f.lastUsedAt) }))
    },

    async resetFactors(id: string): Promise<{ tenantId: string; factors: number; backupCodes: number }> {
      const user = await row(id)
      const [factors, backupCodes] = await prisma.$transaction([
        prisma.mfaFactor.deleteMany({ where: { userId: user.id } }),
        prisma.backupCode.deleteMany({ where: { userId: user.id } }),
        prisma.mfaChallenge.deleteMany({ where: { userId: user.id } }),
      ])
      return { tenantId: user.tenantId, factors: factors.count, backupCodes: backupCodes.count }
    },

    async unlock(id: string, ctx: Context, actor: string): Promise<UserJson> {
      const user = await row(id)
      // unlockAccount audits account_unlocked with the actor.
      await unlockAccount(prisma, deps.audit, user.id, actor, { ctx, clock: deps.clock })
      return toJson(await row(id))
    },
  }
}

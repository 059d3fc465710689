// Initial access tokens for dynamic client registration, within a tenant scope: a tenant
// administrator issues tokens for their own tenant only, and sees and revokes only those. The
// token is in the issue response once; the list shows each token's policy and use, never the token.
import { z } from 'zod'
import { problems } from '../problem.ts'
import { decodeCursor, toPage, type Page } from '../page.ts'
import { tenantForNewRow, type TenantScope } from '../../queries/admin-scope.ts'
import { findRegistrationTokenInScope, listRegistrationTokensInScope, revokeRegistrationToken, type RegistrationToken } from '../../queries/registration-tokens.ts'
import { issueRegistrationToken, registrationTokenState, UnknownTenantError, type RegistrationTokenPolicy } from '../../clients/registration-tokens.ts'
import { initialAccessTokenSaver } from '../../oidc/dynamic-registration.ts'
import type { AdminDataDeps } from './deps.ts'
import type { registrationTokenJson } from '../routes/registration-tokens.ts'

export type RegistrationTokenJson = z.output<typeof registrationTokenJson>

export function toRegistrationTokenJson(row: RegistrationToken, now = new Date()): RegistrationTokenJson {
  return {
    id: row.id, description: row.description, tenantId: row.tenantId,
    allowedRedirectHosts: row.allowedRedirectHosts, allowedGrantTypes: row.allowedGrantTypes, clientType: row.clientType as RegistrationTokenJson['clientType'],
    expiresAt: row.expiresAt.toISOString(), maxUses: row.maxUses, uses: row.uses, clientIds: row.clientIds,
    revokedAt: row.revokedAt?.toISOString() ?? null, state: registrationTokenState(row, now),
    createdBy: row.createdBy, createdAt: row.createdAt.toISOString(),
  }
}

export function registrationTokensData(deps: AdminDataDeps, scope: TenantScope) {
  const { prisma, provider } = deps
  const now = () => deps.clock?.date() ?? new Date()

  async function get(id: string): Promise<RegistrationTokenJson> {
    const row = await findRegistrationTokenInScope(prisma, scope, id)
    if (!row) throw problems.notFound('the registration token')
    return toRegistrationTokenJson(row, now())
  }

  return {
    get,
    async list(query: { limit: number; cursor?: string | undefined }): Promise<Page<RegistrationTokenJson>> {
      const rows = await listRegistrationTokensInScope(prisma, scope, { take: query.limit + 1, after: decodeCursor(query.cursor) })
      return toPage(rows, query.limit, (r) => r.createdAt, (r) => toRegistrationTokenJson(r, now()))
    },
    /** The policy with the tenant it will have: a tenant administrator's own, another refused. */
    prepareIssue(policy: RegistrationTokenPolicy): RegistrationTokenPolicy {
      const tenant = tenantForNewRow(scope, policy.tenantId)
      if (!tenant.ok) throw problems.forbidden('a tenant administrator issues registration tokens for their own tenant only', { errors: [{ path: 'tenantId', message: 'not your tenant' }] })
      return { ...policy, tenantId: tenant.tenantId ?? undefined }
    },
    async issue(policy: RegistrationTokenPolicy, createdBy: string): Promise<{ token: string; registrationToken: RegistrationTokenJson }> {
      try {
        // The expiry counts from the system clock: the provider stamps the token's own from it.
        const { token, row } = await issueRegistrationToken(prisma, initialAccessTokenSaver(provider), policy, createdBy)
        return { token, registrationToken: toRegistrationTokenJson(row, now()) }
      } catch (err) {
        if (err instanceof UnknownTenantError) throw problems.validation('no such tenant', [{ path: 'tenantId', message: 'no such tenant' }])
        throw err
      }
    },
    async revoke(id: string): Promise<RegistrationTokenJson> {
      await get(id)
      await revokeRegistrationToken(prisma, id, new Date())
      return get(id)
    },
  }
}

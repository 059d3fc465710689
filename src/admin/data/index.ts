// What admin routes work with: every repository bound to one tenant scope. This is the only door
// from admin routes to the data (the queries of src/queries/admin-*.ts, each of which takes the
// scope), so the scope cannot be forgotten by a route.
import type { AdminDataDeps } from './deps.ts'
import type { TenantScope } from '../../queries/admin-scope.ts'
import { usersData } from './users.ts'
import { rolesData } from './roles.ts'
import { tenantsData } from './tenants.ts'
import { clientsData } from './clients.ts'
import { auditData } from './audit.ts'
import { registrationTokensData } from './registration-tokens.ts'

export function scopedData(deps: AdminDataDeps, scope: TenantScope) {
  return {
    scope,
    users: usersData(deps, scope),
    roles: rolesData(deps, scope),
    tenants: tenantsData(deps, scope),
    clients: clientsData(deps, scope),
    audit: auditData(deps, scope),
    registrationTokens: registrationTokensData(deps, scope),
  }
}
export type ScopedData = ReturnType<typeof scopedData>
export type { TenantScope } from '../../queries/admin-scope.ts'
export type { AdminDataDeps } from './deps.ts'

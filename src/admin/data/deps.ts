// What the admin repositories work with. Routes never see the database handle: they get the
// repositories of index.ts, already bound to the caller's tenant scope.
import type Provider from 'oidc-provider'
import type { Db } from '../../queries/db.ts'
import type { AuditWriter } from '../../audit/audit.ts'
import type { Clock } from '../../security/clock.ts'

export interface AdminDataDeps {
  prisma: Db
  provider: Provider
  audit: AuditWriter
  clock?: Clock | undefined
  /** PASSWORD_MIN_LENGTH: the policy passwords set by an administrator meet too. */
  passwordMinLength: number
  /** OUTBOUND_ALLOWED_HOSTS: hosts exempt from the outbound (SSRF) policy, for registration warnings. */
  outboundAllowedHosts?: readonly string[] | undefined
}

export const iso = (d: Date | null): string | null => (d ? d.toISOString() : null)

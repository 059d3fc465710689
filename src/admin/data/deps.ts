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

/** Prisma's unique-constraint violation, with the fields it names. */
export function uniqueViolation(err: unknown): string[] | undefined {
  const e = err as { code?: string; meta?: { target?: unknown } }
  if (e?.code !== 'P2002') return undefined
  const target = e.meta?.target
  return Array.isArray(target) ? target.map(String) : typeof target === 'string' ? [target] : []
}

export const iso = (d: Date | null): string | null => (d ? d.toISOString() : null)

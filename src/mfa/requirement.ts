// When is a second factor required? Any of: the person has a factor enrolled; the client requires
// MFA; one of the person's roles does; the request asks for the MFA acr (acr_values or an
// essential acr claim). When required, a session's second factor counts only while it is younger
// than the request's max_age and the client's step-up age.
import { ACR_MFA } from './acr.ts'

export interface MfaFacts {
  hasVerifiedFactor: boolean
  roleRequiresMfa: boolean
  clientRequiresMfa: boolean
  /** Client step-up age in seconds, if any. */
  clientMaxAge?: number | undefined
  /** The authorization request's parameters (acr_values, claims, max_age). */
  params: { acr_values?: unknown; claims?: unknown; max_age?: unknown }
}

export type MfaReason = 'user_factor' | 'role_policy' | 'client_policy' | 'acr_values' | 'essential_acr'

function requestedAcrs(params: MfaFacts['params']): { values: string[]; essential: string[] } {
  const values = typeof params.acr_values === 'string' ? params.acr_values.split(' ').filter(Boolean) : []
  let essential: string[] = []
  try {
    const claims = typeof params.claims === 'string' ? JSON.parse(params.claims) : params.claims
    const acr = (claims as { id_token?: { acr?: { essential?: boolean; value?: string; values?: string[] } } } | undefined)?.id_token?.acr
    if (acr?.essential) essential = [...(acr.values ?? []), ...(acr.value ? [acr.value] : [])]
  } catch {
    // malformed claims are the provider's to reject
  }
  return { values, essential }
}

/** Why a second factor is needed for this request, or null when it is not. */
export function mfaReason(facts: MfaFacts): MfaReason | null {
  const acrs = requestedAcrs(facts.params)
  if (acrs.essential.length && acrs.essential.every((v) => v === ACR_MFA)) return 'essential_acr'
  // acr_values is a preference list (voluntary): honour it when MFA is the first choice.
  if (acrs.values[0] === ACR_MFA) return 'acr_values'
  if (facts.clientRequiresMfa) return 'client_policy'
  if (facts.roleRequiresMfa) return 'role_policy'
  if (facts.hasVerifiedFactor) return 'user_factor'
  return null
}

/** The oldest a second factor may be, in seconds, for this request (undefined: no limit). */
export function mfaMaxAge(facts: Pick<MfaFacts, 'clientMaxAge' | 'params'>): number | undefined {
  const requested = facts.params.max_age === undefined ? undefined : Number(facts.params.max_age)
  const limits = [requested, facts.clientMaxAge].filter((v): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0)
  return limits.length ? Math.min(...limits) : undefined
}

/** Whether a session's authentication satisfies the requirement. */
export function sessionSatisfiesMfa(session: { acr?: string | undefined; authTime?: number | undefined }, maxAge: number | undefined, now = Math.floor(Date.now() / 1000)): boolean {
  if (session.acr !== ACR_MFA) return false
  if (maxAge === undefined) return true
  return session.authTime !== undefined && now - session.authTime <= maxAge
}

// What the sign-in flow sees of an upstream identity provider, whichever kind it is, and the
// claim helpers both kinds share.
import { normalizeLogin } from '../identity/users.ts'
import type { UpstreamSettings } from './config.ts'
import type { RedeemChecks } from './protocol.ts'

/** Who the upstream says signed in, in our terms. */
export interface UpstreamIdentity {
  /** Stable and never reassigned: Entra `{tid}:{oid}`, otherwise `sub`. The only key for linking. */
  subject: string
  /** Lower-cased; only a hint (display, proposing a link, JIT), never proof of an account. */
  email?: string | undefined
  emailVerified: boolean
  /**
   * Whether the upstream vouches for the email enough to create an account with it (an email is
   * unique here: an unvouched one could squat someone's address). Generic: email_verified; Entra:
   * yes, the tenant is on the allow-list and its directory assigns addresses.
   */
  emailTrusted: boolean
  name?: string | undefined
  givenName?: string | undefined
  familyName?: string | undefined
  /** Group ids and app-role values, for roleMapping. */
  groups: string[]
  roles: string[]
  /** The upstream's amr says it did MFA. Counts only when the upstream's trustMfa is set. */
  mfa: boolean
  /** Non-secret facts for the audit log (e.g. the Entra tenant id). */
  auditFacts: Record<string, string>
}

export interface StartParameters {
  redirectUri: string
  state: string
  nonce: string
  codeChallenge: string
  /** The email the person gave (login_hint or typed), forwarded so they need not type it again. */
  loginHint?: string | undefined
  /** The email domain, for upstreams that route by it (Entra's domain_hint). */
  domainHint?: string | undefined
  /** The relying party asked for a fresh login (prompt=login): ask the upstream for one too. */
  forceLogin?: boolean | undefined
}

export interface Upstream {
  readonly settings: UpstreamSettings
  authorizationUrl(p: StartParameters): Promise<URL>
  /** Redeems the code and validates everything; throws FederationFailure with the reason. */
  signIn(callbackUrl: URL, redirectUri: string, checks: RedeemChecks): Promise<UpstreamIdentity>
}

/** Redirect URI registered at the upstream. */
export function federationRedirectUri(issuer: string, upstreamId: string): string {
  return `${issuer}/federation/${upstreamId}/callback`
}

export function stringClaim(claims: Record<string, unknown>, name: string | undefined): string | undefined {
  const value = name ? claims[name] : undefined
  return typeof value === 'string' && value.trim() ? value.trim().slice(0, 256) : undefined
}

export function stringListClaim(claims: Record<string, unknown>, name: string | undefined): string[] {
  const value = name ? claims[name] : undefined
  if (typeof value === 'string') return [value]
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,253}\.[^\s@]+$/

/** The first of `names` holding something shaped like an email, normalised as logins are. */
export function emailClaim(claims: Record<string, unknown>, names: string[]): string | undefined {
  for (const name of names) {
    const value = stringClaim(claims, name)
    if (value && EMAIL.test(value)) return normalizeLogin(value)
  }
  return undefined
}

/** RFC 8176 amr containing "mfa". */
export function upstreamDidMfa(claims: Record<string, unknown>): boolean {
  return stringListClaim(claims, 'amr').includes('mfa')
}

/** OIDC Core scope parameter from configured scopes (always with openid). */
export function scopeParameter(scopes: string[]): string {
  return [...new Set(['openid', ...scopes])].join(' ')
}

// The configured upstreams, by id, and home-realm discovery: which upstream an email address or a
// domain belongs to (FEDERATION[].domains).
import type { UpstreamSettings } from './config.ts'
import { createEntraUpstream } from './azure-ad.ts'
import { createGenericUpstream } from './generic.ts'
import type { Upstream } from './upstream.ts'

export interface Federation {
  /** In configuration order (the order of the buttons). */
  readonly upstreams: readonly Upstream[]
  get(id: string): Upstream | undefined
  /** The upstream owning this email address's domain (home-realm discovery by email). */
  forEmail(email: string): Upstream | undefined
  /** The upstream owning this domain (a domain_hint). */
  forDomain(domain: string): Upstream | undefined
  /** Display names by id (for pages that list linked identities). */
  nameOf(id: string): string
}

/** The domain of an email address, lower-cased; undefined for anything else (a username). */
export function emailDomain(value: string): string | undefined {
  const trimmed = value.normalize('NFKC').trim().toLowerCase()
  const at = trimmed.lastIndexOf('@')
  return at > 0 ? normalizeDomain(trimmed.slice(at + 1)) : undefined
}

export function normalizeDomain(value: string): string | undefined {
  const domain = value.normalize('NFKC').trim().toLowerCase()
  return domain.includes('.') && !/[\s/@]/.test(domain) ? domain : undefined
}

export function createFederation(settings: readonly UpstreamSettings[]): Federation {
  const upstreams = settings.map((s) => s.type === 'entra' ? createEntraUpstream(s) : createGenericUpstream(s))
  const byId = new Map(upstreams.map((u) => [u.settings.id, u]))
  const byDomain = new Map(upstreams.flatMap((u) => u.settings.domains.map((d) => [d, u] as const)))
  return {
    upstreams,
    get: (id) => byId.get(id),
    forEmail(email) {
      const domain = emailDomain(email)
      return domain ? byDomain.get(domain) : undefined
    },
    forDomain(value) {
      const domain = normalizeDomain(value)
      return domain ? byDomain.get(domain) : undefined
    },
    nameOf: (id) => byId.get(id)?.settings.name ?? id,
  }
}

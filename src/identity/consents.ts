// What a person allowed each application to have (Consent rows), remembered until they revoke it.
// oidc-provider keeps a grant per sign-in (a Grant in the protocol store, with the Grant TTL): a
// remembered consent is what a new sign-in's grant starts from (src/oidc/first-party-grant.ts), so
// the person is asked only for what they did not allow before. Revoking deletes the row and every
// grant (and so every token) the application holds for the person.
import type { Context } from 'koa'
import type Provider from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import { deleteConsent, findConsentOf, listConsentsWithClientName, upsertConsent } from '../queries/consents.ts'
import { listGrantIdsOfUserForClient } from '../queries/user-grants.ts'
import type { AuditWriter } from '../audit/audit.ts'
import { revokeGrant } from './sessions.ts'

/** What was allowed: OpenID scopes, claims by name, and each API's scopes by resource indicator. */
export interface Allowed {
  scopes: Set<string>
  claims: Set<string>
  resources: Map<string, Set<string>>
}

export interface RememberedConsent extends Allowed {
  clientId: string
  clientName: string
  grantedAt: Date
  updatedAt: Date
}

const words = (value: string) => new Set(value.split(' ').filter(Boolean))

// The consent page's words for what an application asks for or was allowed.
const SCOPE_TEXT: Record<string, string> = {
  openid: 'Know who you are when you sign in',
  profile: 'See your name and username',
  email: 'See your email address',
  phone: 'See your phone number',
  roles: 'See your roles',
  tenant: 'See which organisation you belong to',
  offline_access: 'Stay connected while you are away (keep access without asking again)',
}

/** What `allowed` lets an application do, one line each, in words a person understands. */
export function describeAllowed(allowed: Allowed): string[] {
  const items = [...allowed.scopes].map((s) => SCOPE_TEXT[s] ?? `Use the permission “${s}”`)
  if (allowed.claims.size) items.push(`See these details about you: ${[...allowed.claims].join(', ')}`)
  for (const [resource, scopes] of allowed.resources) {
    items.push(`Access ${resource}${scopes.size ? ` with: ${[...scopes].join(', ')}` : ''}`)
  }
  return items
}

function resourcesOf(json: unknown): Map<string, Set<string>> {
  const entries = json && typeof json === 'object' && !Array.isArray(json) ? Object.entries(json as Record<string, unknown>) : []
  return new Map(entries.flatMap(([indicator, scopes]) => (typeof scopes === 'string' ? [[indicator, words(scopes)] as const] : [])))
}

function allowedOf(row: { scopes: string; claims: string; resources: unknown }): Allowed {
  return { scopes: words(row.scopes), claims: words(row.claims), resources: resourcesOf(row.resources) }
}

/** What the person allowed the client, or undefined when they did not (or revoked it). */
export async function findConsent(prisma: Db, userId: string, clientId: string): Promise<Allowed | undefined> {
  const row = await findConsentOf(prisma, userId, clientId)
  return row ? allowedOf(row) : undefined
}

/** Adds what the person allowed now to what they allowed the client before. */
export async function rememberConsent(prisma: Db, userId: string, clientId: string, allowed: Allowed): Promise<void> {
  const before = await findConsent(prisma, userId, clientId)
  const union = (a: Set<string> | undefined, b: Set<string>) => [...new Set([...(a ?? []), ...b])].sort().join(' ')
  const indicators = new Set([...(before?.resources.keys() ?? []), ...allowed.resources.keys()])
  const data = {
    scopes: union(before?.scopes, allowed.scopes),
    claims: union(before?.claims, allowed.claims),
    resources: Object.fromEntries([...indicators].sort().map((i) => [i, union(before?.resources.get(i), allowed.resources.get(i) ?? new Set())])),
  }
  await upsertConsent(prisma, userId, clientId, data)
}

/** The applications the person allowed something, most recently allowed first. */
export async function listConsents(prisma: Db, userId: string): Promise<RememberedConsent[]> {
  const rows = await listConsentsWithClientName(prisma, userId)
  return rows.map((row) => ({ clientId: row.clientId, clientName: row.client.name, grantedAt: row.grantedAt, updatedAt: row.updatedAt, ...allowedOf(row) }))
}

/**
 * Withdraws what the person allowed the client: the remembered consent and every grant the client
 * holds for them, with its tokens (refresh tokens included). False when there was no consent of
 * this person for this client (nothing is changed then).
 */
export async function revokeConsent(
  deps: { prisma: Db; provider: Provider; audit: AuditWriter },
  userId: string,
  clientId: string,
  ctx?: Context,
): Promise<boolean> {
  if (!(await deleteConsent(deps.prisma, userId, clientId))) return false
  const grants = await listGrantIdsOfUserForClient(deps.prisma, userId, clientId)
  for (const grantId of grants) await revokeGrant(deps.provider, grantId)
  await deps.audit.record(ctx, { type: 'consent_revoked', outcome: 'success', userId, actor: userId, clientId, details: { grantsRevoked: grants.length } })
  return true
}

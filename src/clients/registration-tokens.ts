// Initial access tokens for dynamic client registration (RFC 7591 §3): what an administrator
// allows a token's registrations, and the judgement of a registration against it. The token value
// is oidc-provider's InitialAccessToken; this module keeps its policy (the RegistrationToken row).
// Every door (CLI, admin API, console) issues tokens through issueRegistrationToken with the same
// schema. docs/adr/0310-dynamic-client-registration.md
import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { Db } from '../queries/db.ts'
import { insertRegistrationToken, type RegistrationToken } from '../queries/registration-tokens.ts'
import { tenantExists } from '../queries/tenants.ts'
import { grantTypes } from './settings.ts'

export const REGISTRATION_CLIENT_TYPES = ['public', 'confidential', 'any'] as const
export type RegistrationClientType = (typeof REGISTRATION_CLIENT_TYPES)[number]

// A host name or an IP address literal as URL.hostname gives it (IPv6 in brackets).
const host = z.string().trim().toLowerCase().regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$|^\[[0-9a-f:.]+\]$/, 'a host name, e.g. app.example.com or localhost')

export const registrationTokenPolicySchema = z.strictObject({
  /** What the token is for (shown in the list). */
  description: z.string().trim().max(200).default(''),
  /** The tenant every client registered with it belongs to. */
  tenantId: z.string().min(1).optional(),
  /** Hosts the registered clients' redirect and post-logout URIs may name (exact host names). */
  allowedRedirectHosts: z.array(host).max(50).default([]),
  /** Grant types a registration may ask for. */
  allowedGrantTypes: z.array(z.enum(grantTypes)).min(1).default(['authorization_code', 'refresh_token']),
  /** public: token_endpoint_auth_method none only; confidential: a secret or private_key_jwt; any: either. */
  clientType: z.enum(REGISTRATION_CLIENT_TYPES).default('any'),
  /** Seconds the token may be used for (1 minute to 90 days; default a day). */
  expiresIn: z.number().int().min(60).max(90 * 86400).default(86400),
  /** Registrations it allows (default one). */
  maxUses: z.number().int().min(1).max(10_000).default(1),
}).superRefine((p, ctx) => {
  if (p.allowedGrantTypes.includes('authorization_code') && !p.allowedRedirectHosts.length) {
    ctx.addIssue({ code: 'custom', path: ['allowedRedirectHosts'], message: 'authorization_code needs at least one allowed redirect host' })
  }
  if (p.allowedGrantTypes.includes('client_credentials') && p.clientType === 'public') {
    ctx.addIssue({ code: 'custom', path: ['allowedGrantTypes'], message: 'client_credentials needs a confidential client' })
  }
})
export type RegistrationTokenPolicy = z.output<typeof registrationTokenPolicySchema>
export type RegistrationTokenPolicyInput = z.input<typeof registrationTokenPolicySchema>

/** The row id of an initial access token: a hash of its jti, so the table holds no usable token. */
export function registrationTokenIdOf(jti: string): string {
  return createHash('sha256').update(jti).digest('base64url')
}

/** Saves a new InitialAccessToken in the provider's store; returns its value and jti. */
export type SaveInitialAccessToken = (expiresIn: number) => Promise<{ value: string; jti: string }>

export class UnknownTenantError extends Error {
  constructor() { super('no such tenant') }
}

export interface IssuedRegistrationToken {
  /** Shown once: the token is not stored in clear here. */
  token: string
  row: RegistrationToken
}

export async function issueRegistrationToken(db: Db, save: SaveInitialAccessToken, policy: RegistrationTokenPolicy, createdBy: string, now = new Date()): Promise<IssuedRegistrationToken> {
  if (policy.tenantId && !(await tenantExists(db, policy.tenantId))) throw new UnknownTenantError()
  const { value, jti } = await save(policy.expiresIn)
  const row = await insertRegistrationToken(db, {
    id: registrationTokenIdOf(jti),
    tenantId: policy.tenantId ?? null,
    description: policy.description,
    allowedRedirectHosts: [...new Set(policy.allowedRedirectHosts)],
    allowedGrantTypes: [...new Set(policy.allowedGrantTypes)],
    clientType: policy.clientType,
    expiresAt: new Date(now.getTime() + policy.expiresIn * 1000),
    maxUses: policy.maxUses,
    createdBy,
  })
  return { token: value, row }
}

export type RegistrationTokenState = 'active' | 'spent' | 'revoked' | 'expired'

export function registrationTokenState(row: Pick<RegistrationToken, 'revokedAt' | 'expiresAt' | 'uses' | 'maxUses'>, now = new Date()): RegistrationTokenState {
  if (row.revokedAt) return 'revoked'
  if (row.expiresAt.getTime() <= now.getTime()) return 'expired'
  if (row.uses >= row.maxUses) return 'spent'
  return 'active'
}

/** Why a registration is refused, as RFC 7591 §3.2.2 names it. */
export interface RegistrationRefusal { error: 'invalid_redirect_uri' | 'invalid_client_metadata'; description: string }

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])

/**
 * Judges requested client metadata (RFC 7591 names, before the provider fills in defaults)
 * against a token's policy: its redirect hosts, grant types and client type.
 */
export function judgeRegistration(policy: Pick<RegistrationToken, 'allowedRedirectHosts' | 'allowedGrantTypes' | 'clientType'>, metadata: Record<string, unknown>): RegistrationRefusal | undefined {
  const hosts = new Set(policy.allowedRedirectHosts)
  for (const key of ['redirect_uris', 'post_logout_redirect_uris'] as const) {
    for (const uri of strings(metadata[key])) {
      const host = URL.parse(uri)?.hostname.toLowerCase()
      if (!host || !hosts.has(host)) {
        return { error: 'invalid_redirect_uri', description: `${key} may name only the hosts this initial access token allows (${[...hosts].join(', ') || 'none'})` }
      }
    }
  }
  // RFC 7591 §2: grant_types defaults to authorization_code.
  const grants = metadata.grant_types === undefined ? ['authorization_code'] : strings(metadata.grant_types)
  const refused = grants.filter((g) => !policy.allowedGrantTypes.includes(g))
  if (refused.length) {
    return { error: 'invalid_client_metadata', description: `grant_types not allowed by this initial access token: ${refused.join(', ')}` }
  }
  // RFC 7591 §2: token_endpoint_auth_method defaults to client_secret_basic.
  const method = metadata.token_endpoint_auth_method ?? 'client_secret_basic'
  const isPublic = method === 'none'
  if (policy.clientType === 'public' && !isPublic) return { error: 'invalid_client_metadata', description: 'this initial access token registers public clients only (token_endpoint_auth_method none)' }
  if (policy.clientType === 'confidential' && isPublic) return { error: 'invalid_client_metadata', description: 'this initial access token registers confidential clients only' }
  return undefined
}

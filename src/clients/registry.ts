// The OIDC client registry: clients live in the database and are read by the provider at runtime,
// so a client can be added or changed without a restart. Secrets are shown once and stored hashed.
import { BlockList, isIP } from 'node:net'
import { lookup } from 'node:dns/promises'
import { z } from 'zod'
import type { Db } from '../queries/db.ts'
import { findClientById, insertClient, setClientSecretHash } from '../queries/clients.ts'
import { hashClientSecret, randomSecret } from '../security/secrets.ts'

// oidc-provider refuses fragments and script-capable schemes in client URIs; refuse them here so
// a client that could never be used is not stored.
const uri = z.url().refine((u) => !u.includes('#'), 'must not contain a fragment')
  .refine((u) => !/^(javascript|data|vbscript|file):/i.test(u), 'this scheme is not allowed')
export const clientKinds = ['web', 'spa', 'native', 'service'] as const
export type ClientKind = (typeof clientKinds)[number]

export const newClientSchema = z.object({
  clientId: z.string().regex(/^[A-Za-z0-9._~-]{3,128}$/, 'letters, digits and . _ ~ - (3 to 128)').optional(),
  name: z.string().trim().min(1).max(200),
  kind: z.enum(clientKinds),
  redirectUris: z.array(uri).default([]),
  postLogoutRedirectUris: z.array(uri).default([]),
  backchannelLogoutUri: uri.optional(),
  /** Confidential clients: client_secret_basic (default), client_secret_post or private_key_jwt. */
  tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']).optional(),
  jwksUri: uri.optional(),
  /** Restricts the OpenID scopes the client may request (space-separated; API scopes belong to resource servers). */
  scope: z.string().optional(),
  firstParty: z.boolean().default(false),
  mfaPolicy: z.enum(['none', 'required']).default('none'),
  /** Step-up age: ask for the second factor again when the last one is older (seconds). */
  mfaMaxAge: z.number().int().min(0).optional(),
  tenantId: z.string().optional(),
  /** Use this secret instead of generating one (imports from another system). At least 32 characters. */
  secret: z.string().min(32).max(512).optional(),
}).superRefine((c, ctx) => {
  // Only native apps may use private-use schemes (com.example.app:/callback).
  if (c.kind === 'native') return
  c.redirectUris.forEach((u, i) => {
    if (URL.canParse(u) && /^[a-z][a-z0-9+.-]*:/i.test(u) && !/^(https?|javascript|data|vbscript|file):/i.test(u)) ctx.addIssue({ code: 'custom', path: ['redirectUris', i], message: 'must be an http(s) URL for this kind of client' })
  })
})
export type NewClient = z.input<typeof newClientSchema>

/** oidc-provider metadata (RFC 7591 names) for each kind of client (also used by the admin API to re-derive it on change). */
export function metadataFor(c: z.output<typeof newClientSchema>): Record<string, unknown> {
  const common = {
    client_name: c.name,
    ...(c.scope ? { scope: c.scope } : {}),
  }
  switch (c.kind) {
    case 'web':
      return {
        ...common,
        application_type: 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: c.redirectUris,
        post_logout_redirect_uris: c.postLogoutRedirectUris,
        token_endpoint_auth_method: c.tokenEndpointAuthMethod ?? 'client_secret_basic',
        ...(c.jwksUri ? { jwks_uri: c.jwksUri } : {}),
        ...(c.backchannelLogoutUri ? { backchannel_logout_uri: c.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
      }
    case 'spa':
    case 'native':
      return {
        ...common,
        application_type: c.kind === 'spa' ? 'web' : 'native',
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'].slice(0, c.kind === 'spa' ? 2 : 3),
        response_types: ['code'],
        redirect_uris: c.redirectUris,
        post_logout_redirect_uris: c.postLogoutRedirectUris,
        token_endpoint_auth_method: 'none',
        ...(c.backchannelLogoutUri ? { backchannel_logout_uri: c.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
      }
    case 'service':
      return {
        ...common,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: c.tokenEndpointAuthMethod ?? 'client_secret_basic',
        ...(c.jwksUri ? { jwks_uri: c.jwksUri } : {}),
      }
  }
}

export interface CreatedClient {
  clientId: string
  /** Present only for confidential clients, and only here: it is stored hashed. */
  clientSecret?: string
}

export async function createClient(prisma: Db, input: NewClient): Promise<CreatedClient> {
  const c = newClientSchema.parse(input)
  const metadata = metadataFor(c)
  const confidential = metadata.token_endpoint_auth_method !== 'none' && metadata.token_endpoint_auth_method !== 'private_key_jwt'
  const clientId = c.clientId ?? randomSecret(16)
  const clientSecret = confidential ? (c.secret ?? randomSecret(32)) : undefined
  await insertClient(prisma, {
    id: clientId,
    name: c.name,
    metadata: metadata as object,
    secretHash: clientSecret ? hashClientSecret(clientSecret) : null,
    firstParty: c.firstParty,
    mfaPolicy: c.mfaPolicy,
    mfaMaxAge: c.mfaMaxAge ?? null,
    tenantId: c.tenantId ?? null,
  })
  return clientSecret ? { clientId, clientSecret } : { clientId }
}

/** Replaces the secret; the new one is returned once. */
export async function rotateClientSecret(prisma: Db, clientId: string): Promise<string> {
  const secret = randomSecret(32)
  await setClientSecretHash(prisma, clientId, hashClientSecret(secret))
  return secret
}

/**
 * The client as oidc-provider reads it. `client_secret` carries the stored hash: the provider is
 * configured to compare presented secrets against it (see oidc/provider.ts) and has every
 * symmetric algorithm that would need the plaintext disabled.
 */
export async function findClientMetadata(prisma: Db, clientId: string): Promise<Record<string, unknown> | undefined> {
  // PostgreSQL text cannot hold NUL: no client id has one, and the query would fail (found by the fuzz test).
  if (clientId.includes('\u0000')) return undefined
  const row = await findClientById(prisma, clientId)
  if (!row || row.disabled) return undefined
  return {
    ...(row.metadata as Record<string, unknown>),
    client_id: row.id,
    ...(row.secretHash ? { client_secret: row.secretHash } : {}),
    'urn:iam:first_party': row.firstParty,
    'urn:iam:mfa_policy': row.mfaPolicy,
    ...(row.mfaMaxAge !== null ? { 'urn:iam:mfa_max_age': row.mfaMaxAge } : {}),
    ...(row.tenantId ? { 'urn:iam:tenant_id': row.tenantId } : {}),
  }
}

// The addresses oidc-provider's outbound requests refuse (its SSRF guard, helpers/fetch_request.js):
// loopback, private, link-local, shared, documentation and reserved ranges. Kept here only to warn
// at registration; the provider's own guard is what refuses at delivery.
const SPECIAL_USE = new BlockList()
for (const [net, bits] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24],
  ['192.0.2.0', 24], ['192.31.196.0', 24], ['192.52.193.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['192.175.48.0', 24], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['240.0.0.0', 4]] as const) SPECIAL_USE.addSubnet(net, bits, 'ipv4')
for (const [net, bits] of [['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32], ['2002::', 16],
  ['2620:4f:8000::', 48], ['3fff::', 20], ['5f00::', 16], ['fc00::', 7], ['fe80::', 10]] as const) SPECIAL_USE.addSubnet(net, bits, 'ipv6')

function specialUse(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
  if (mapped) return SPECIAL_USE.check(mapped, 'ipv4')
  const family = isIP(address)
  return family === 4 ? SPECIAL_USE.check(address, 'ipv4') : family === 6 ? SPECIAL_USE.check(address, 'ipv6') : false
}

/** Where a host resolves now (a name that does not resolve has nowhere to be refused yet). */
async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host)) return [host]
  if (host === 'localhost' || host.endsWith('.localhost')) return ['127.0.0.1']
  try {
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref())
    return (await Promise.race([lookup(host, { all: true }), timeout])).map((a) => a.address)
  } catch {
    return []
  }
}

export interface RegistrationWarning { path: string; message: string }

/**
 * URIs this server will call for the client (back-channel logout, its JWKS) that the outbound
 * policy refuses: a loopback or private address not named in OUTBOUND_ALLOWED_HOSTS. Registration
 * still succeeds (the policy may change, the name may move), but deliveries would fail, so the
 * person registering is told now rather than finding out from missing logouts.
 */
export async function outboundPolicyWarnings(metadata: Record<string, unknown>, allowedHosts: readonly string[]): Promise<RegistrationWarning[]> {
  const allowed = new Set(allowedHosts.map((h) => h.toLowerCase()))
  const warnings: RegistrationWarning[] = []
  for (const [key, path] of [['backchannel_logout_uri', 'backchannelLogoutUri'], ['jwks_uri', 'jwksUri']] as const) {
    const value = metadata[key]
    if (typeof value !== 'string' || !URL.canParse(value)) continue
    const host = new URL(value).hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1')
    if (allowed.has(host) || allowed.has(`[${host}]`)) continue
    const blocked = (await addressesOf(host)).filter(specialUse)
    if (blocked.length) {
      warnings.push({ path, message: `${host} is a loopback or private address (${blocked[0]}) that the outbound policy refuses: this server will not reach ${value} unless OUTBOUND_ALLOWED_HOSTS names ${host}` })
    }
  }
  return warnings
}

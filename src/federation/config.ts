// The FEDERATION setting: the upstream identity providers people may sign in with (Entra ID and
// generic OpenID Connect). A JSON array, from the FEDERATION variable or the file FEDERATION_FILE,
// validated once at start; each error names the entry (index and id) and the field.
import { z } from 'zod'

export const DEFAULT_ENTRA_AUTHORITY = 'https://login.microsoftonline.com'
export const DEFAULT_GRAPH_URL = 'https://graph.microsoft.com'
export const DEFAULT_SCOPES = ['openid', 'profile', 'email']
/** Entra tenants that accept accounts from any organisation: these need an allow-list. */
export const MULTI_TENANT = ['organizations', 'common'] as const

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const DOMAIN = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).transform((u) => u.replace(/\/+$/, ''))
const guid = z.string().trim().toLowerCase().regex(GUID, 'must be a tenant id (GUID)')
const claimName = z.string().trim().min(1).max(128)
// RFC 6749 §3.3 scope-token characters.
const scope = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be a scope token (no spaces or quotes)')

const common = {
  id: z.string().regex(/^[a-z0-9-]{2,32}$/, 'use 2 to 32 characters: a-z, 0-9, -'),
  /** Shown on the button: "Sign in with {name}". */
  name: z.string().trim().min(1).max(64),
  clientId: z.string().trim().min(1),
  clientSecret: z.string().min(1),
  scopes: z.array(scope).min(1).optional(),
  /** Email domains whose people sign in here (home-realm discovery). */
  domains: z.array(z.string().trim().toLowerCase().regex(DOMAIN, 'must be a domain name like contoso.com')).default([]),
  /** Which upstream claims carry each profile field. */
  claims: z.object({
    email: claimName.optional(),
    emailVerified: claimName.optional(),
    name: claimName.optional(),
    givenName: claimName.optional(),
    familyName: claimName.optional(),
    groups: claimName.optional(),
    roles: claimName.optional(),
  }).strict().default({}),
  /** Upstream group id or app-role value → local role name. */
  roleMapping: z.record(z.string().min(1).max(256), z.string().trim().min(1).max(64)).default({}),
  /** Just-in-time provisioning of people who have no account yet. */
  jit: z.object({
    enabled: z.boolean().default(false),
    tenant: z.string().trim().min(1).default('default'),
    roles: z.array(z.string().trim().min(1).max(64)).default([]),
  }).strict().default({ enabled: false, tenant: 'default', roles: [] }),
  /** Accept the upstream's MFA (amr contains "mfa") instead of asking for a local second factor. */
  trustMfa: z.boolean().default(false),
  /** Permit http:// upstream URLs: development and tests only, refused in production. */
  allowInsecureRequests: z.boolean().default(false),
}

const entraEntry = z.object({
  type: z.literal('entra'),
  ...common,
  tenant: z.union([z.enum(MULTI_TENANT), guid], { error: 'must be "organizations", "common" or a tenant id (GUID)' }),
  authority: httpUrl.default(DEFAULT_ENTRA_AUTHORITY),
  allowedTenants: z.array(guid).min(1).optional(),
  graphUrl: httpUrl.default(DEFAULT_GRAPH_URL),
}).strict()

const oidcEntry = z.object({
  type: z.literal('oidc'),
  ...common,
  issuer: httpUrl,
}).strict()

const entry = z.discriminatedUnion('type', [entraEntry, oidcEntry], { error: 'type must be "entra" or "oidc"' })

export type EntraUpstreamSettings = z.infer<typeof entraEntry>
export type OidcUpstreamSettings = z.infer<typeof oidcEntry>
export type UpstreamSettings = EntraUpstreamSettings | OidcUpstreamSettings

export function isMultiTenant(settings: EntraUpstreamSettings): boolean {
  return (MULTI_TENANT as readonly string[]).includes(settings.tenant)
}

/** Checks across fields and entries that zod's shapes cannot express. Returns `field: message` lines. */
function crossChecks(settings: UpstreamSettings, production: boolean): Array<[string, string]> {
  const problems: Array<[string, string]> = []
  if (settings.type === 'entra' && isMultiTenant(settings) && !settings.allowedTenants) {
    problems.push(['allowedTenants', `required when tenant is "${settings.tenant}": list the tenant ids (GUIDs) that may sign in`])
  }
  const urls = settings.type === 'entra' ? { authority: settings.authority, graphUrl: settings.graphUrl } : { issuer: settings.issuer }
  for (const [field, url] of Object.entries(urls)) {
    if (url.startsWith('http://') && !settings.allowInsecureRequests) problems.push([field, 'http:// needs "allowInsecureRequests": true (development and tests only)'])
  }
  if (settings.allowInsecureRequests && production) problems.push(['allowInsecureRequests', 'not allowed when NODE_ENV=production'])
  return problems
}

/**
 * Parses the FEDERATION JSON text (`source` names where it came from, for messages). Throws an
 * Error whose message lists every problem as `FEDERATION[i] (id).field: message`.
 */
export function parseFederation(text: string, source: string, opts: { production: boolean }): UpstreamSettings[] {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`)
  }
  if (!Array.isArray(json)) throw new Error(`${source}: must be a JSON array of upstream identity providers`)

  const problems: string[] = []
  const label = (i: number) => {
    const id = (json as Array<{ id?: unknown }>)[i]?.id
    return `FEDERATION[${i}]${typeof id === 'string' ? ` (${id})` : ''}`
  }
  const parsed: Array<{ index: number; settings: UpstreamSettings }> = []
  json.forEach((raw, index) => {
    const result = entry.safeParse(raw)
    if (!result.success) {
      for (const issue of result.error.issues) problems.push(`${label(index)}${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}`)
      return
    }
    for (const [field, message] of crossChecks(result.data, opts.production)) problems.push(`${label(index)}.${field}: ${message}`)
    parsed.push({ index, settings: result.data })
  })

  // Ids name routes and link rows; a domain must lead to exactly one upstream.
  const ids = new Set<string>()
  const domainOwner = new Map<string, string>()
  for (const { index, settings } of parsed) {
    if (ids.has(settings.id)) problems.push(`${label(index)}.id: "${settings.id}" is used by another entry`)
    ids.add(settings.id)
    for (const domain of settings.domains) {
      const owner = domainOwner.get(domain)
      if (owner && owner !== settings.id) problems.push(`${label(index)}.domains: "${domain}" already belongs to "${owner}"`)
      domainOwner.set(domain, settings.id)
    }
  }
  if (problems.length) throw new Error(problems.join('\n'))
  return parsed.map((p) => p.settings)
}

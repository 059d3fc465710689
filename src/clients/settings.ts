// The one client model: every setting a client can have, its rules, and how it maps to the RFC 7591
// metadata oidc-provider reads. The CLI (kebab-case flags), the admin API and console (camelCase
// JSON) and the seed all validate with clientSettingsSchema; dynamically registered clients are
// read back into the same settings (settingsOf). Why one model: docs/adr/0291-one-client-model.md.
import { z } from 'zod'
import type { Client } from '../queries/clients.ts'
import { ADMIN_PERMISSIONS, CLIENT_ADMIN_PERMISSIONS_KEY, clientAdminPermissions } from '../admin/permissions.ts'

export { authMethods, clientKinds, DEVICE_CODE, grantTypes, KIND_RULES, signingAlgs, type ClientKind, type GrantType } from './kinds.ts'
import { authMethods, clientKinds, DEVICE_CODE, grantTypes, KIND_RULES, signingAlgs, type ClientKind, type GrantType } from './kinds.ts'

// Our settings that oidc-provider has no standard name for (extraClientMetadata in oidc/provider.ts).
export const EXTRA = {
  pkceOptional: 'urn:iam:pkce_optional',
  accessTokenTtl: 'urn:iam:access_token_ttl',
  idTokenTtl: 'urn:iam:id_token_ttl',
  refreshTokenTtl: 'urn:iam:refresh_token_ttl',
  accessTokenFormat: 'urn:iam:access_token_format',
} as const

// RFC 6749 Appendix A: client_id and client_secret are VSCHAR (%x20-7E). No space at either end:
// it would be lost by every configuration file the value is copied into.
const vschar = (max: number) => z.string().regex(new RegExp(`^[\\x21-\\x7E](?:[\\x20-\\x7E]{0,${max - 2}}[\\x21-\\x7E])?$`), `1 to ${max} printable ASCII characters (RFC 6749 VSCHAR), no space at either end`)

// oidc-provider refuses fragments and script-capable schemes in client URIs; refuse them here so
// a client that could never be used is not stored.
const uri = z.url({ abort: true }).max(2000, { abort: true }).refine((u) => !u.includes('#'), { message: 'must not contain a fragment', abort: true })
  .refine((u) => !/^(javascript|data|vbscript|file):/i.test(u), { message: 'this scheme is not allowed', abort: true })
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])
/** Pages shown to people (the consent page links them): https, or http on the machine itself. */
const webPage = uri.refine((u) => {
  const url = URL.parse(u)
  return url !== null && (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname)))
}, 'must be an https URL')

// A public key of the client (private_key_jwt, signed request objects). Private members would mean
// the client handed us its private key: refused, so it is never stored.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const
const jwk = z.looseObject({
  kty: z.enum(['EC', 'RSA', 'OKP']),
  kid: z.string().max(200).optional(),
  alg: z.enum(signingAlgs).optional(),
  use: z.literal('sig').optional(),
}).superRefine((key, ctx) => {
  const present = PRIVATE_MEMBERS.filter((m) => m in key)
  if (present.length) ctx.addIssue({ code: 'custom', message: `is a private key (it has ${present.join(', ')}): register the public key only` })
  const needed = key.kty === 'RSA' ? ['n', 'e'] : ['crv', 'x', ...(key.kty === 'EC' ? ['y'] : [])]
  const missing = needed.filter((m) => typeof key[m] !== 'string')
  if (missing.length) ctx.addIssue({ code: 'custom', message: `is not a complete ${key.kty} public key (missing ${missing.join(', ')})` })
})
const jwks = z.object({ keys: z.array(jwk).min(1).max(20) })

const seconds = (min: number, max: number) => z.number().int().min(min).max(max)

const fields = {
  clientId: vschar(200).optional().describe('The client_id; give one to keep the id the application already has (bringing it over), else one is generated'),
  name: z.string().trim().min(1).max(200).describe('Shown to people on the sign-in and consent pages'),
  kind: z.enum(clientKinds).describe('web: a server-side app or confidential device client (has a secret or keys); spa: a browser app (public); native: a mobile, desktop, CLI or TV app (public); service: a machine acting for itself (client credentials only)'),
  grantTypes: z.array(z.enum(grantTypes)).min(1).max(4).optional().describe('How the client gets tokens; default: what its kind usually uses. Device code needs no redirect URI; refresh_token needs authorization_code or device code'),
  tokenEndpointAuthMethod: z.enum(authMethods).optional().describe('How a confidential client proves itself at the token endpoint: client_secret_basic (default), client_secret_post, private_key_jwt (with jwks or jwksUri); public clients: none'),
  jwks: jwks.optional().describe('The client’s public keys (private_key_jwt, signed request objects), inline'),
  jwksUri: uri.optional().describe('Where the client publishes its public keys (instead of jwks)'),
  requirePkce: z.boolean().default(true).describe('PKCE on authorization requests; only a confidential client may turn it off, for an application that cannot send it'),
  requestObjectSigningAlg: z.enum(signingAlgs).optional().describe('The one algorithm the client signs request objects (JAR) with'),
  requireSignedRequestObject: z.boolean().default(false).describe('Authorization requests must come as a signed request object (RFC 9101)'),
  requirePushedAuthorizationRequests: z.boolean().default(false).describe('Authorization requests must be pushed first (PAR, RFC 9126)'),
  redirectUris: z.array(uri).max(50).default([]).describe('Where people are sent back after signing in; required with authorization_code, none otherwise'),
  postLogoutRedirectUris: z.array(uri).max(50).default([]).describe('Where people may be sent after signing out'),
  backchannelLogoutUri: uri.optional().describe('Where this server posts a logout token when a person’s session ends'),
  backchannelLogoutSessionRequired: z.boolean().default(true).describe('Logout tokens name the session (sid)'),
  clientUri: webPage.optional().describe('The application’s home page; its domain is shown on the consent page'),
  logoUri: webPage.optional().describe('The logo shown on the consent page'),
  policyUri: webPage.optional().describe('The application’s privacy policy, linked from the consent page'),
  tosUri: webPage.optional().describe('The application’s terms of service, linked from the consent page'),
  contacts: z.array(z.email().max(320)).max(10).default([]).describe('Email addresses of the people responsible for the application'),
  accessTokenTtl: seconds(60, 86_400).optional().describe('Access token lifetime in seconds (never longer than a resource server’s own)'),
  idTokenTtl: seconds(60, 86_400).optional().describe('ID token lifetime in seconds'),
  refreshTokenTtl: seconds(300, 31_536_000).optional().describe('Refresh token lifetime in seconds'),
  accessTokenFormat: z.enum(['opaque', 'jwt']).optional().describe('Format of its access tokens for resource servers (not the admin API); default: the resource server’s'),
  scope: z.string().max(2000).optional().describe('Space-separated OpenID scopes the client may request (API scopes belong to resource servers)'),
  firstParty: z.boolean().default(false).describe('One of your own applications: no consent page (global administrators only)'),
  mfaPolicy: z.enum(['none', 'required']).default('none').describe('required: people need a second factor to sign in to this client'),
  mfaMaxAge: z.number().int().min(0).optional().describe('Ask for the second factor again when the last one is older than this many seconds'),
  tenantId: z.string().optional().describe('The tenant the client belongs to (fixed at registration)'),
  adminPermissions: z.array(z.enum(ADMIN_PERMISSIONS)).default([]).describe('Admin API permissions its client-credentials tokens may hold (global administrators only)'),
  secret: vschar(512).optional().describe('An existing secret to keep (bringing a client over); stored hashed, never shown again; a warning when shorter than 32 characters'),
}

type Fields = z.output<z.ZodObject<typeof fields>>
const issue = (ctx: z.RefinementCtx, path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message })

/** The rules between settings. Messages are for the person registering: what is wrong and what to do. */
function checkCombination(c: Fields, ctx: z.RefinementCtx): void {
  const rules = KIND_RULES[c.kind]
  const grants = c.grantTypes ?? rules.defaultGrants
  if (!grants.length) return
  const has = (g: GrantType) => grants.includes(g)
  grants.forEach((g, i) => {
    if (!rules.grants.includes(g)) issue(ctx, ['grantTypes', i], `a ${c.kind} client cannot use ${g} (it may use: ${rules.grants.join(', ')})`)
  })
  if (new Set(grants).size !== grants.length) issue(ctx, ['grantTypes'], 'lists a grant type twice')
  if (has('refresh_token') && !has('authorization_code') && !has(DEVICE_CODE)) issue(ctx, ['grantTypes'], 'refresh_token needs authorization_code or the device code grant: refresh tokens are issued with them')

  const method = c.tokenEndpointAuthMethod ?? (rules.public ? 'none' : 'client_secret_basic')
  if (rules.public && method !== 'none') issue(ctx, ['tokenEndpointAuthMethod'], `a ${c.kind} client is public (it cannot keep a secret): it must be none`)
  if (!rules.public && method === 'none') issue(ctx, ['tokenEndpointAuthMethod'], `a ${c.kind} client is confidential: choose client_secret_basic, client_secret_post or private_key_jwt`)
  if (c.jwks && c.jwksUri) issue(ctx, ['jwksUri'], 'give the keys either inline (jwks) or by URL (jwksUri), not both')
  const keys = Boolean(c.jwks || c.jwksUri)
  if (method === 'private_key_jwt' && !keys) issue(ctx, ['jwks'], 'private_key_jwt needs the client’s public keys: jwks or jwksUri')
  if (c.secret !== undefined && method !== 'client_secret_basic' && method !== 'client_secret_post') issue(ctx, ['secret'], `a client that authenticates with ${method} has no secret`)
  if (rules.public && keys) issue(ctx, ['jwks'], 'a public client has no keys of its own')

  const code = has('authorization_code')
  if (code && !c.redirectUris.length) issue(ctx, ['redirectUris'], 'required when the client uses authorization_code (where people are sent back after signing in)')
  if (!code && c.redirectUris.length) issue(ctx, ['redirectUris'], 'only clients that use authorization_code have redirect URIs')
  // Only native apps may use private-use schemes (com.example.app:/callback).
  if (c.kind !== 'native') {
    c.redirectUris.forEach((u, i) => {
      if (!/^https?:/i.test(u)) issue(ctx, ['redirectUris', i], `must be an http(s) URL for a ${c.kind} client (private-use schemes are for native apps)`)
    })
  }
  if (!c.requirePkce && (rules.public || !code)) issue(ctx, ['requirePkce'], rules.public ? 'public clients always use PKCE' : 'PKCE applies to authorization_code only')
  if (c.requireSignedRequestObject && !keys) issue(ctx, ['requireSignedRequestObject'], 'signed request objects are verified with the client’s keys: give jwks or jwksUri')
  if (c.requestObjectSigningAlg && !keys) issue(ctx, ['requestObjectSigningAlg'], 'request objects are verified with the client’s keys: give jwks or jwksUri')
  if ((c.requireSignedRequestObject || c.requirePushedAuthorizationRequests) && !code) {
    issue(ctx, [c.requirePushedAuthorizationRequests ? 'requirePushedAuthorizationRequests' : 'requireSignedRequestObject'], 'applies to authorization requests: the client must use authorization_code')
  }
  const people = code || has(DEVICE_CODE)
  if (!people) {
    if (c.postLogoutRedirectUris.length) issue(ctx, ['postLogoutRedirectUris'], 'a client that signs no one in has no logout')
    if (c.backchannelLogoutUri) issue(ctx, ['backchannelLogoutUri'], 'a client that signs no one in has no logout')
  }
  if (c.adminPermissions.length && !has('client_credentials')) issue(ctx, ['adminPermissions'], 'only a client that uses client_credentials acts on the admin API for itself')
}

export const clientSettingsSchema = z.strictObject(fields).superRefine(checkCombination)
export type ClientSettings = z.output<typeof clientSettingsSchema>
export type ClientSettingsInput = z.input<typeof clientSettingsSchema>

/**
 * A change: any setting but the client id and kind (a new kind is a new client), the tenant (fixed
 * at registration) and the secret (rotated, not set). A setting without a default is removed with null.
 */
type Changeable = Exclude<keyof typeof fields, 'clientId' | 'kind' | 'secret' | 'tenantId'>
const FIXED = new Set(['clientId', 'kind', 'secret', 'tenantId'])
const changeable = Object.entries(fields).filter(([k]) => !FIXED.has(k)) as [Changeable, z.ZodType][]
export const clientSettingsPatchSchema = z.strictObject(Object.fromEntries(
  changeable.map(([k, v]) => [k, v instanceof z.ZodOptional ? v.nullable() : v instanceof z.ZodDefault ? (v.unwrap() as z.ZodType).optional() : v.optional()]),
) as { [K in Changeable]: (typeof fields)[K] extends z.ZodOptional<infer T> ? z.ZodOptional<z.ZodNullable<T>> : (typeof fields)[K] extends z.ZodDefault<infer T> ? z.ZodOptional<T> : z.ZodOptional<(typeof fields)[K]> })
export type ClientSettingsPatch = z.output<typeof clientSettingsPatchSchema>

/** The settings a change asks for, before validation: the patch over the current ones (null removes, undefined keeps). */
export function mergeClientPatch(current: ClientSettings, patch: ClientSettingsPatch): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...current }
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key]
    else if (value !== undefined) merged[key] = value
  }
  return merged
}

/** oidc-provider metadata (RFC 7591 names, plus ours under urn:iam:) for a validated client. */
export function metadataFor(c: ClientSettings): Record<string, unknown> {
  const rules = KIND_RULES[c.kind]
  const grants = [...(c.grantTypes ?? rules.defaultGrants)]
  const code = grants.includes('authorization_code')
  const optional = (entries: Record<string, unknown>) => Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined && v !== false && !(Array.isArray(v) && !v.length)))
  return {
    client_name: c.name,
    application_type: c.kind === 'native' ? 'native' : 'web',
    grant_types: grants,
    response_types: code ? ['code'] : [],
    redirect_uris: c.redirectUris,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod ?? (rules.public ? 'none' : 'client_secret_basic'),
    ...optional({
      post_logout_redirect_uris: c.postLogoutRedirectUris,
      jwks: c.jwks,
      jwks_uri: c.jwksUri,
      request_object_signing_alg: c.requestObjectSigningAlg,
      require_signed_request_object: c.requireSignedRequestObject,
      require_pushed_authorization_requests: c.requirePushedAuthorizationRequests,
      client_uri: c.clientUri,
      logo_uri: c.logoUri,
      policy_uri: c.policyUri,
      tos_uri: c.tosUri,
      contacts: c.contacts,
      scope: c.scope,
      [EXTRA.pkceOptional]: !c.requirePkce,
      [EXTRA.accessTokenTtl]: c.accessTokenTtl,
      [EXTRA.idTokenTtl]: c.idTokenTtl,
      [EXTRA.refreshTokenTtl]: c.refreshTokenTtl,
      [EXTRA.accessTokenFormat]: c.accessTokenFormat,
      [CLIENT_ADMIN_PERMISSIONS_KEY]: c.adminPermissions,
    }),
    ...(c.backchannelLogoutUri ? { backchannel_logout_uri: c.backchannelLogoutUri, backchannel_logout_session_required: c.backchannelLogoutSessionRequired } : {}),
  }
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined)
const num = (v: unknown) => (typeof v === 'number' ? v : undefined)
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])

/** The kind a stored registration has (also for clients registered through RFC 7591). */
export function kindOf(metadata: Record<string, unknown>): ClientKind {
  const grants = strings(metadata.grant_types)
  if (metadata.token_endpoint_auth_method === 'none') {
    return metadata.application_type === 'native' || grants.includes(DEVICE_CODE) ? 'native' : 'spa'
  }
  return grants.length === 1 && grants[0] === 'client_credentials' ? 'service' : 'web'
}

/** The settings of a stored client (the reverse of metadataFor, plus the row's own columns). */
export function settingsOf(row: Pick<Client, 'id' | 'name' | 'metadata' | 'firstParty' | 'mfaPolicy' | 'mfaMaxAge' | 'tenantId'>): ClientSettings {
  const m = (row.metadata ?? {}) as Record<string, unknown>
  const method = str(m.token_endpoint_auth_method)
  const alg = str(m.request_object_signing_alg)
  const format = str(m[EXTRA.accessTokenFormat])
  const given = (value: unknown) => (value === undefined ? {} : value)
  return {
    clientId: row.id,
    name: row.name,
    kind: kindOf(m),
    grantTypes: strings(m.grant_types).filter((g): g is GrantType => (grantTypes as readonly string[]).includes(g)),
    tokenEndpointAuthMethod: (authMethods as readonly string[]).includes(method ?? '') ? method as ClientSettings['tokenEndpointAuthMethod'] : 'client_secret_basic',
    ...given(m.jwks && typeof m.jwks === 'object' ? { jwks: m.jwks as ClientSettings['jwks'] } : undefined),
    ...given(str(m.jwks_uri) && { jwksUri: str(m.jwks_uri) }),
    requirePkce: m[EXTRA.pkceOptional] !== true,
    ...given((signingAlgs as readonly string[]).includes(alg ?? '') ? { requestObjectSigningAlg: alg as ClientSettings['requestObjectSigningAlg'] } : undefined),
    requireSignedRequestObject: m.require_signed_request_object === true,
    requirePushedAuthorizationRequests: m.require_pushed_authorization_requests === true,
    redirectUris: strings(m.redirect_uris),
    postLogoutRedirectUris: strings(m.post_logout_redirect_uris),
    ...given(str(m.backchannel_logout_uri) && { backchannelLogoutUri: str(m.backchannel_logout_uri) }),
    backchannelLogoutSessionRequired: m.backchannel_logout_session_required !== false,
    ...given(str(m.client_uri) && { clientUri: str(m.client_uri) }),
    ...given(str(m.logo_uri) && { logoUri: str(m.logo_uri) }),
    ...given(str(m.policy_uri) && { policyUri: str(m.policy_uri) }),
    ...given(str(m.tos_uri) && { tosUri: str(m.tos_uri) }),
    contacts: strings(m.contacts),
    ...given(num(m[EXTRA.accessTokenTtl]) !== undefined ? { accessTokenTtl: num(m[EXTRA.accessTokenTtl]) } : undefined),
    ...given(num(m[EXTRA.idTokenTtl]) !== undefined ? { idTokenTtl: num(m[EXTRA.idTokenTtl]) } : undefined),
    ...given(num(m[EXTRA.refreshTokenTtl]) !== undefined ? { refreshTokenTtl: num(m[EXTRA.refreshTokenTtl]) } : undefined),
    ...given(format === 'opaque' || format === 'jwt' ? { accessTokenFormat: format } : undefined),
    ...given(str(m.scope) && { scope: str(m.scope) }),
    firstParty: row.firstParty,
    mfaPolicy: row.mfaPolicy === 'required' ? 'required' : 'none',
    ...given(row.mfaMaxAge !== null ? { mfaMaxAge: row.mfaMaxAge } : undefined),
    ...given(row.tenantId ? { tenantId: row.tenantId } : undefined),
    adminPermissions: clientAdminPermissions(m),
  }
}

/** Advice that does not stop a registration (the person registering should still read it). */
export interface RegistrationWarning { path: string; message: string }

/** Warnings that follow from the settings alone. */
export function settingsWarnings(c: ClientSettings): RegistrationWarning[] {
  const warnings: RegistrationWarning[] = []
  if (!c.requirePkce) warnings.push({ path: 'requirePkce', message: 'PKCE is off for this client: an intercepted authorization code can be redeemed by whoever holds the client secret. Turn it back on once the application sends code_challenge (RFC 9700 §2.1.1).' })
  if (c.secret !== undefined && c.secret.length < 32) warnings.push({ path: 'secret', message: `the imported secret has ${c.secret.length} characters: a secret shorter than 32 random characters can be guessed; rotate it once the application can take a new one` })
  return warnings
}

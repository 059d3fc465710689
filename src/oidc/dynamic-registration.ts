// Dynamic client registration (RFC 7591) and its management API (RFC 7592), on oidc-provider's own
// `features.registration` and `features.registrationManagement`: the provider runs the protocol;
// this module adds what our registry needs around it (docs/adr/0310-dynamic-client-registration.md):
// - every registration presents an initial access token an administrator issued, whose policy
//   (RegistrationToken row: redirect hosts, grant types, public or confidential, tenant, expiry,
//   uses) the one registration policy enforces, on registration and on every RFC 7592 update;
// - a registrant sets standard metadata only: no `urn:iam:*` setting (first-party standing, admin
//   permissions, PKCE opt-out, lifetimes), so a registered client obeys the model's defaults;
// - the client is stored by the Client adapter (adapters/client-registry.ts → storeRegisteredClient)
//   with its secret hashed, a use of the token spent in the same transaction;
// - stored secrets are hashes: RFC 7592 reads and updates never echo one, and a client_secret in an
//   update is checked against the hash here, before the provider compares it.
import type { Context, Next } from 'koa'
import type Provider from 'oidc-provider'
import type { Client, ClientMetadata, KoaContextWithOIDC } from 'oidc-provider'
import { errors, type Configuration } from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import type { AuditWriter } from '../audit/audit.ts'
import { findClientById } from '../queries/clients.ts'
import { tenantExists } from '../queries/tenants.ts'
import { clientSettingsSchema, settingsOf } from '../clients/registry.ts'
import { deleteDynamicClient, findRegistrationToken, findRegistrationTokenOfClient, insertDynamicClientSpendingToken, updateDynamicClient } from '../queries/registration-tokens.ts'
import { judgeRegistration, registrationTokenIdOf, registrationTokenState, type SaveInitialAccessToken } from '../clients/registration-tokens.ts'
import { hashClientSecret, randomSecret, verifyClientSecret } from '../security/secrets.ts'
import { endClientTokens } from './client-metadata.ts'
import {
  currentProviderRequest, initialAccessTokenJti, managedClient, managementClientId, providerOf, readJsonBodyForProvider, registrationRouteOf,
} from './provider-internals.ts'

/** The one registration policy every initial access token carries (its parameters are in its row). */
export const REGISTRATION_POLICY = 'iam-registration-token'

// The metadata a registrant may send (RFC 7591 §2, OpenID Connect Dynamic Registration §2 and the
// features this server enables); anything else is dropped before the provider reads it. Keys the
// provider itself sets on a registration or update (client_id, client_secret and their times) are
// kept for it.
const REGISTRABLE = new Set([
  'redirect_uris', 'token_endpoint_auth_method', 'grant_types', 'response_types', 'client_name', 'client_uri', 'logo_uri', 'scope',
  'contacts', 'tos_uri', 'policy_uri', 'jwks_uri', 'jwks', 'software_id', 'software_version', 'application_type',
  'id_token_signed_response_alg', 'userinfo_signed_response_alg', 'token_endpoint_auth_signing_alg', 'request_object_signing_alg',
  'introspection_signed_response_alg', 'authorization_signed_response_alg', 'default_max_age', 'require_auth_time', 'default_acr_values',
  'post_logout_redirect_uris', 'backchannel_logout_uri', 'backchannel_logout_session_required', 'require_signed_request_object',
  'require_pushed_authorization_requests', 'dpop_bound_access_tokens',
])
const SET_BY_PROVIDER = new Set(['client_id', 'client_secret', 'client_id_issued_at', 'client_secret_expires_at'])
// Kept in the stored row whatever the registrant sent: what the client is.
const ESSENTIAL = ['redirect_uris', 'grant_types', 'response_types', 'token_endpoint_auth_method', 'application_type', 'client_id_issued_at']

const isOurs = (key: string) => key.startsWith('urn:iam:')

/** Drops, in place, every key a registrant may not set: ours (`urn:iam:*`) and anything non-standard. */
export function dropUnregistrable(properties: Record<string, unknown>): void {
  for (const key of Object.keys(properties)) {
    if (isOurs(key) || (!REGISTRABLE.has(key) && !SET_BY_PROVIDER.has(key))) delete properties[key]
  }
}

/** What the registration policy decided for a request, for the adapter's write and the audit. */
type Decision =
  | { kind: 'create'; tokenId: string; tenantId: string | null; requested: string[] }
  | { kind: 'update'; tokenId: string; tenantId: string | null; requested: string[] }
const decisions = new WeakMap<object, Decision>()

// RFC 7591 §2 defaults, for judging a registration that leaves them out as the provider will read it.
const RFC7591_DEFAULTS = { grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }

/**
 * The rules of the one client model (src/clients/settings.ts), as for a client an administrator
 * registers: the metadata read as settings must pass clientSettingsSchema (kinds and their grant
 * types, redirect URIs per kind, jwks, URIs shown to people…). A refusal names the setting.
 */
function refuseOutsideModel(clientId: string, properties: Record<string, unknown>): void {
  const metadata = { ...RFC7591_DEFAULTS, ...properties }
  const name = typeof properties.client_name === 'string' && properties.client_name.trim() ? properties.client_name : clientId
  const parsed = clientSettingsSchema.safeParse(settingsOf({ id: clientId, name, metadata: metadata as object, firstParty: false, mfaPolicy: 'none', mfaMaxAge: null, tenantId: null }))
  if (parsed.success) return
  const issue = parsed.error.issues[0]!
  const path = issue.path.map(String).join('.')
  const description = `${path ? `${path}: ` : ''}${issue.message}`
  throw /^(redirectUris|postLogoutRedirectUris)\b/.test(path) ? new errors.InvalidRedirectUri(description) : new errors.InvalidClientMetadata(description)
}

function refuseOutsidePolicy(refusal: ReturnType<typeof judgeRegistration>): void {
  if (!refusal) return
  throw refusal.error === 'invalid_redirect_uri' ? new errors.InvalidRedirectUri(refusal.description) : new errors.InvalidClientMetadata(refusal.description)
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])
const stringsOf = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])

/**
 * What a token's host list means for the URIs a registrant names, beyond the host itself:
 * - redirect and post-logout URIs are https, or http on the machine itself (RFC 8252 §7.3). A
 *   private-use scheme names no host anyone owns (`com.evil.app://allowed.example.com/` is
 *   delivered to whichever app claims the scheme), and plain http on the network hands codes
 *   to anyone on the path: both would empty the host policy.
 * - the URIs this server itself calls (jwks_uri, backchannel_logout_uri) name an allowed host too:
 *   otherwise a registrant points the server at any host, including those OUTBOUND_ALLOWED_HOSTS
 *   exempts from the provider's SSRF guard (internal services the operator trusts).
 */
function refuseOutsideHosts(token: { allowedRedirectHosts: string[] }, properties: Record<string, unknown>): void {
  for (const key of ['redirect_uris', 'post_logout_redirect_uris'] as const) {
    for (const uri of stringsOf(properties[key])) {
      const url = URL.parse(uri)
      if (url?.protocol === 'https:' || (url?.protocol === 'http:' && LOOPBACK.has(url.hostname))) continue
      throw new errors.InvalidRedirectUri(`${key} must be https URLs (http only on localhost, 127.0.0.1 or [::1]) on the hosts this initial access token allows`)
    }
  }
  const hosts = new Set(token.allowedRedirectHosts)
  for (const key of ['jwks_uri', 'backchannel_logout_uri'] as const) {
    const value = properties[key]
    if (value === undefined) continue
    const host = typeof value === 'string' ? URL.parse(value)?.hostname.toLowerCase() : undefined
    if (!host || !hosts.has(host)) {
      throw new errors.InvalidClientMetadata(`${key} may name only the hosts this initial access token allows (${[...hosts].join(', ') || 'none'})`)
    }
  }
}

/** The policy of features.registration.policies: runs on POST /reg and PUT /reg/:id, before the provider validates and stores. */
function createRegistrationPolicy(prisma: Db) {
  return async function registrationPolicy(oidcCtx: KoaContextWithOIDC, metadata: ClientMetadata): Promise<void> {
    const ctx = oidcCtx as unknown as Context
    const properties = metadata as Record<string, unknown>
    dropUnregistrable(properties)
    const requested = Object.keys(properties).filter((k) => REGISTRABLE.has(k))
    const route = registrationRouteOf(ctx)
    if (route === 'registration') {
      const jti = initialAccessTokenJti(ctx)
      const token = jti ? await findRegistrationToken(prisma, registrationTokenIdOf(jti)) : null
      if (!token) throw new errors.InvalidToken('initial access token not found')
      const state = registrationTokenState(token)
      if (state !== 'active') throw new errors.InvalidToken(`initial access token ${state}`)
      // A tenant deleted since the token was issued takes the token's power with it.
      if (token.tenantId && !(await tenantExists(prisma, token.tenantId))) throw new errors.InvalidToken('the tenant of this initial access token no longer exists')
      refuseOutsidePolicy(judgeRegistration(token, properties))
      refuseOutsideHosts(token, properties)
      refuseOutsideModel(String(properties.client_id), properties)
      decisions.set(ctx, { kind: 'create', tokenId: token.id, tenantId: token.tenantId, requested })
      return
    }
    if (route === 'client_update') {
      // An update is held to the policy the client was registered under (not to its expiry or uses).
      const clientId = managedClient(ctx)?.clientId
      const token = clientId ? await findRegistrationTokenOfClient(prisma, clientId) : null
      if (!token) throw new errors.InvalidToken('this client was not registered with an initial access token')
      refuseOutsidePolicy(judgeRegistration(token, properties))
      refuseOutsideHosts(token, properties)
      refuseOutsideModel(clientId!, properties)
      decisions.set(ctx, { kind: 'update', tokenId: token.id, tenantId: token.tenantId, requested })
      return
    }
    throw new errors.InvalidRequest('registration policy outside the registration endpoints')
  }
}

/** oidc-provider's `features.registration` and `features.registrationManagement` (src/oidc/provider.ts). */
export function registrationFeatures(enabled: boolean, prisma: Db) {
  const registration: NonNullable<NonNullable<Configuration['features']>['registration']> = {
    enabled,
    // Adapter-backed initial access tokens only (administrators issue them): no open registration.
    initialAccessToken: true,
    policies: { [REGISTRATION_POLICY]: createRegistrationPolicy(prisma) },
    issueRegistrationAccessToken: true,
    // The same strength as the secrets the admin doors generate (stored as a salted SHA-256).
    secretFactory: async () => randomSecret(32),
  }
  const registrationManagement: NonNullable<NonNullable<Configuration['features']>['registrationManagement']> = {
    enabled,
    rotateRegistrationAccessToken: true,
  }
  return { registration, registrationManagement }
}

/** Saves initial access tokens in `provider`'s store, with the registration policy. */
export function initialAccessTokenSaver(provider: Provider): SaveInitialAccessToken {
  return async (expiresIn) => {
    const iat = new provider.InitialAccessToken({ expiresIn, policies: [REGISTRATION_POLICY] })
    const value = await iat.save()
    return { value, jti: iat.jti }
  }
}

// --- The Client adapter's writes ----------------------------------------------------------------

/** What the Client row keeps of the provider's metadata: the registrant's (cleaned) keys and the essentials, never a secret or ours. */
function storableMetadata(payload: Record<string, unknown>, requested: string[]): Record<string, unknown> {
  const keep = new Set([...requested, ...ESSENTIAL])
  return Object.fromEntries(Object.entries(payload).filter(([k, v]) => (keep.has(k) && REGISTRABLE.has(k)) || (k === 'client_id_issued_at' && v !== undefined)))
}

/**
 * The Client adapter's upsert: only the registration endpoints write, and only after the
 * registration policy ran on the same request. A new client spends a use of its token in the same
 * transaction (spent, revoked or expired meanwhile: invalid_token, nothing stored).
 */
export async function storeRegisteredClient(prisma: Db, id: string, payload: Record<string, unknown>): Promise<void> {
  const ctx = currentProviderRequest()
  const decision = ctx && decisions.get(ctx)
  if (!decision) throw new Error('the client registry takes writes from the registration endpoints only')
  const metadata = storableMetadata(payload, decision.requested)
  const name = typeof payload.client_name === 'string' && payload.client_name.trim() ? payload.client_name.trim().slice(0, 200) : id
  const presented = typeof payload.client_secret === 'string' ? payload.client_secret : undefined
  if (decision.kind === 'create') {
    const stored = await insertDynamicClientSpendingToken(prisma, decision.tokenId, new Date(), {
      id, name, metadata, secretHash: presented ? hashClientSecret(presented) : null, tenantId: decision.tenantId,
    })
    if (!stored) throw new errors.InvalidToken('initial access token spent, revoked or expired')
    return
  }
  const row = await findClientById(prisma, id)
  if (!row || row.registeredBy !== 'dynamic') throw new errors.InvalidRequest('this client is not managed through the registration endpoint')
  // The provider hands the secret it found back (our hash): keep the stored one. A secret it made
  // because the client became confidential is new, in clear: hash it.
  const known = presented !== undefined && (presented === row.secretHash || presented === managedClient(ctx)?.clientSecret)
  const secretHash = presented === undefined ? null : known ? row.secretHash : hashClientSecret(presented)
  // Settings an administrator gave the client (`urn:iam:*`, e.g. lifetimes) survive the registrant's update.
  const ours = Object.fromEntries(Object.entries(row.metadata as Record<string, unknown>).filter(([k]) => isOurs(k)))
  if (!(await updateDynamicClient(prisma, id, { name, metadata: { ...metadata, ...ours }, secretHash }))) {
    throw new errors.InvalidRequest('this client is not managed through the registration endpoint')
  }
}

/** The Client adapter's destroy: RFC 7592 delete only; the client's grants and tokens end first. */
export async function removeRegisteredClient(prisma: Db, id: string): Promise<void> {
  const ctx = currentProviderRequest()
  const provider = ctx && registrationRouteOf(ctx) === 'client_delete' ? providerOf(ctx) : undefined
  if (!provider) throw new Error('the client registry deletes through the registration endpoint only')
  await endClientTokens(prisma, provider, id)
  if (!(await deleteDynamicClient(prisma, id))) throw new errors.InvalidRequest('this client is not managed through the registration endpoint')
}

// --- Around the provider's endpoints ------------------------------------------------------------

const REGISTRATION_PATH = /^\/reg\/?$/i
// Compared with a stored hash by the provider, never equal to one (or to a missing secret's '').
const NEVER_MATCHES = '\u0000'
const STORED_SECRET_FORM = /^(sha256|scrypt)\$/

/**
 * RFC 7592 §2.2: a client_secret in an update must be the client's current one. The provider
 * compares it with what the adapter gave it, our hash; so it is checked here against the hash
 * and, when right, removed before the provider reads the body (its equality check then has nothing
 * to compare). A wrong one is replaced by a value that never matches: the provider refuses it
 * after it checked the registration access token, as it would have.
 */
async function checkPresentedSecret(prisma: Db, ctx: Context, clientId: string): Promise<void> {
  const body = await readJsonBodyForProvider(ctx)
  if (!body || typeof body.client_secret !== 'string' || body.client_secret === '') return
  const row = clientId.includes('\u0000') ? null : await findClientById(prisma, clientId)
  if (row?.secretHash && await verifyClientSecret(row.secretHash, body.client_secret)) delete body.client_secret
  else body.client_secret = NEVER_MATCHES
}

/**
 * A registration response without our settings and, on the management route (`managing`), without
 * the stored hash posing as the client's secret. A secret the provider just made (a registration,
 * or an update that made a public client confidential) is in clear and shown this once.
 */
function redact(ctx: Context, managing: boolean): void {
  const body = ctx.body as Record<string, unknown>
  for (const key of Object.keys(body)) if (isOurs(key)) delete body[key]
  const secret = body.client_secret
  if (typeof secret === 'string' && (STORED_SECRET_FORM.test(secret) || (managing && secret === managedClient(ctx)?.clientSecret))) {
    delete body.client_secret
    delete body.client_secret_expires_at
  }
}

export interface DynamicRegistrationDeps {
  prisma: Db
  audit: AuditWriter
}

/** Middleware around the registration endpoints, and audit rows for what they did. */
export function attachDynamicRegistration(provider: Provider, { prisma, audit }: DynamicRegistrationDeps): void {
  provider.use(async (ctx: Context, next: Next) => {
    const clientId = managementClientId(ctx.path)
    if (clientId === undefined && !REGISTRATION_PATH.test(ctx.path)) return next()
    if (clientId !== undefined && ctx.method === 'PUT') await checkPresentedSecret(prisma, ctx, clientId)
    await next()
    if (ctx.status < 300 && ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body)) redact(ctx, clientId !== undefined)
  })

  const summary = (client: Client) => ({
    name: client.clientName, grantTypes: client.grantTypes, redirectUris: client.redirectUris, tokenEndpointAuthMethod: client.tokenEndpointAuthMethod,
  })
  const koa = (ctx: KoaContextWithOIDC) => ctx as unknown as Context

  provider.on('registration_create.success', (ctx, client) => {
    const d = decisions.get(ctx)
    void audit.record(koa(ctx), {
      type: 'client_dynamic_register', outcome: 'success', clientId: client.clientId, tenantId: d?.tenantId ?? undefined,
      actor: d ? `registration-token:${d.tokenId}` : undefined, details: { ...summary(client), registrationToken: d?.tokenId },
    })
  })
  provider.on('registration_update.success', (ctx, client) => {
    const d = decisions.get(ctx)
    void audit.record(koa(ctx), { type: 'client_dynamic_update', outcome: 'success', clientId: client.clientId, actor: client.clientId, tenantId: d?.tenantId ?? undefined, details: summary(client) })
  })
  provider.on('registration_delete.success', (ctx, client) => {
    void audit.record(koa(ctx), { type: 'client_dynamic_delete', outcome: 'success', clientId: client.clientId, actor: client.clientId })
  })
  const failed = (type: string) => (ctx: KoaContextWithOIDC, err: { error?: string; error_description?: string }) => {
    void audit.record(koa(ctx), { type, outcome: 'failure', clientId: managedClient(koa(ctx))?.clientId, details: { error: err.error, description: err.error_description } })
  }
  provider.on('registration_create.error', failed('client_dynamic_register'))
  provider.on('registration_update.error', failed('client_dynamic_update'))
  provider.on('registration_delete.error', failed('client_dynamic_delete'))
}

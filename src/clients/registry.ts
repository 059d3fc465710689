// The OIDC client registry: clients live in the database and are read by the provider at runtime,
// so a client can be added or changed without a restart. Secrets are shown once and stored hashed.
// The settings a client can have and their rules are in settings.ts (one model for every door).
import { BlockList, isIP } from 'node:net'
import { lookup } from 'node:dns/promises'
import type { Db } from '../queries/db.ts'
import { findClientById, findClientSecretHashes, insertClient, replaceClientSecret, updateClientSettings } from '../queries/clients.ts'
import { hashClientSecret, hashImportedClientSecret, randomSecret, verifyClientSecret } from '../security/secrets.ts'
import { clientSettingsSchema, mergeClientPatch, metadataFor, settingsOf, settingsWarnings, type ClientSettings, type ClientSettingsInput, type ClientSettingsPatch, type RegistrationWarning } from './settings.ts'
import { BUILT_IN_CLIENTS } from './first-party.ts'

export { clientKinds, clientSettingsSchema, clientSettingsPatchSchema, mergeClientPatch, metadataFor, settingsOf, settingsWarnings, kindOf, KIND_RULES, DEVICE_CODE, EXTRA } from './settings.ts'
export type { ClientKind, ClientSettings, ClientSettingsInput, ClientSettingsPatch, GrantType, RegistrationWarning } from './settings.ts'
/** The settings a registration is given in (CLI, admin API, console, seed). */
export type NewClient = ClientSettingsInput

export class ClientNotFound extends Error {
  readonly clientId: string
  constructor(clientId: string) {
    super(`no client ${clientId}`)
    this.clientId = clientId
  }
}

/** The server's own applications (src/clients/first-party.ts): no door may change, disable or delete them. */
export function isBuiltInClient(clientId: string): boolean {
  return (Object.values(BUILT_IN_CLIENTS) as string[]).includes(clientId)
}

/** Whether the client authenticates with a secret (client_secret_basic or client_secret_post). */
function usesSecret(metadata: Record<string, unknown>): boolean {
  const method = metadata.token_endpoint_auth_method
  return method === 'client_secret_basic' || method === 'client_secret_post'
}

export interface CreatedClient {
  clientId: string
  /** Present only when the server generated it, and only here: it is stored hashed. */
  clientSecret?: string
  warnings: RegistrationWarning[]
}

/** Registers a client (throws the schema's ZodError when the settings are not valid). */
export async function createClient(prisma: Db, input: NewClient): Promise<CreatedClient> {
  const c = clientSettingsSchema.parse(input)
  const metadata = metadataFor(c)
  const secretful = usesSecret(metadata)
  const clientId = c.clientId ?? randomSecret(16)
  const generated = secretful && c.secret === undefined ? randomSecret(32) : undefined
  const secretHash = generated ? hashClientSecret(generated) : secretful && c.secret !== undefined ? await hashImportedClientSecret(c.secret) : null
  await insertClient(prisma, {
    id: clientId,
    name: c.name,
    metadata: metadata as object,
    secretHash,
    firstParty: c.firstParty,
    mfaPolicy: c.mfaPolicy,
    mfaMaxAge: c.mfaMaxAge ?? null,
    tenantId: c.tenantId ?? null,
  })
  return { clientId, ...(generated ? { clientSecret: generated } : {}), warnings: settingsWarnings(c) }
}

/**
 * Changes a client: the patch is laid over its settings as they are and the whole is validated as a
 * new registration would be. A change that makes a confidential client need a secret it lacks
 * (private_key_jwt → client_secret_basic) generates one, returned once.
 */
export async function changeClient(prisma: Db, clientId: string, patch: ClientSettingsPatch): Promise<{ settings: ClientSettings; clientSecret?: string; warnings: RegistrationWarning[] }> {
  const row = await findClientById(prisma, clientId)
  if (!row) throw new ClientNotFound(clientId)
  const c = clientSettingsSchema.parse(mergeClientPatch(settingsOf(row), patch))
  const metadata = metadataFor(c)
  const secretful = usesSecret(metadata)
  const generated = secretful && !row.secretHash ? randomSecret(32) : undefined
  await updateClientSettings(prisma, clientId, {
    name: c.name,
    metadata: metadata as object,
    firstParty: c.firstParty,
    mfaPolicy: c.mfaPolicy,
    mfaMaxAge: c.mfaMaxAge ?? null,
    // A client that no longer uses a secret must not keep one that still works.
    ...(secretful ? (generated ? { secretHash: hashClientSecret(generated) } : {}) : { secretHash: null, previousSecretHash: null, previousSecretExpiresAt: null }),
  })
  return { settings: c, ...(generated ? { clientSecret: generated } : {}), warnings: settingsWarnings(c) }
}

/** Longest time a replaced secret may keep working: long enough for any planned roll-out. */
export const MAX_KEEP_PREVIOUS_SECONDS = 30 * 24 * 3600

/**
 * Replaces the secret; the new one is returned once. With keepPreviousFor the replaced secret keeps
 * working that many seconds (both are accepted meanwhile), so a relying party can be moved to the
 * new one without downtime; without it the old one stops at once (a leaked secret).
 */
export async function rotateClientSecret(prisma: Db, clientId: string, options: { keepPreviousFor?: number; now?: Date } = {}): Promise<{ clientSecret: string; previousExpiresAt: Date | null }> {
  const keep = options.keepPreviousFor ?? 0
  if (!Number.isInteger(keep) || keep < 0 || keep > MAX_KEEP_PREVIOUS_SECONDS) throw new RangeError(`keepPreviousFor must be 0 to ${MAX_KEEP_PREVIOUS_SECONDS} seconds`)
  const row = await findClientById(prisma, clientId)
  if (!row) throw new ClientNotFound(clientId)
  if (!row.secretHash) throw new RangeError('this client authenticates without a secret (public client or private_key_jwt)')
  const clientSecret = randomSecret(32)
  const previousExpiresAt = keep > 0 ? new Date((options.now ?? new Date()).getTime() + keep * 1000) : null
  await replaceClientSecret(prisma, clientId, {
    secretHash: hashClientSecret(clientSecret),
    previousSecretHash: previousExpiresAt ? row.secretHash : null,
    previousSecretExpiresAt: previousExpiresAt,
  })
  return { clientSecret, previousExpiresAt }
}

/**
 * Whether `presented` is one of the client's secrets as stored now: the current one, or the one a
 * rotation replaced while it still works. Asked only when the provider's copy of the client (up to
 * a second old: oidc/adapters/client-registry.ts) did not match, so a secret rotated a moment ago
 * works at once.
 */
export async function matchesStoredClientSecret(prisma: Db, clientId: string, presented: string, now = new Date()): Promise<boolean> {
  const stored = await findClientSecretHashes(prisma, clientId)
  if (!stored) return false
  if (await verifyClientSecret(stored.secretHash, presented)) return true
  if (!stored.previousSecretHash || !stored.previousSecretExpiresAt || stored.previousSecretExpiresAt <= now) return false
  return verifyClientSecret(stored.previousSecretHash, presented)
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

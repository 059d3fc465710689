// The client registry within a tenant scope. Metadata is validated and derived by
// clients/registry.ts, the same code the CLI and seed use; secrets are shown once and stored hashed.
import type { z } from 'zod'
import { createClient, metadataFor, newClientSchema, outboundPolicyWarnings, rotateClientSecret, type ClientKind, type NewClient, type RegistrationWarning } from '../../clients/registry.ts'
import { fieldErrors, problems } from '../problem.ts'
import { decodeCursor, toPage, type Page } from '../page.ts'
import type { clientJson, clientPatchBody, newClientBody } from '../schemas.ts'
import { tenantForNewRow, type TenantScope } from '../../queries/admin-scope.ts'
import { findClientInScope, listClientsInScope, updateClientRegistration, type Client } from '../../queries/admin-clients.ts'
import { clientIdTaken, deleteClient, setClientMetadata } from '../../queries/clients.ts'
import { tenantExists } from '../../queries/tenants.ts'
import { isUniqueViolation } from '../../queries/errors.ts'
import type { AdminDataDeps } from './deps.ts'
import { CLIENT_ADMIN_PERMISSIONS_KEY, clientAdminPermissions } from '../permissions.ts'
import { endClientTokens } from '../../oidc/client-metadata.ts'

export type ClientJson = z.output<typeof clientJson>
type Metadata = Record<string, unknown>

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])

export function kindOf(metadata: Metadata): ClientKind {
  const grants = strings(metadata.grant_types)
  if (grants.includes('client_credentials') && !grants.includes('authorization_code')) return 'service'
  if (metadata.token_endpoint_auth_method === 'none') return metadata.application_type === 'native' ? 'native' : 'spa'
  return 'web'
}

export function toClientJson(c: Client): ClientJson {
  const m = c.metadata as Metadata
  return {
    id: c.id, name: c.name, kind: kindOf(m), tenantId: c.tenantId,
    redirectUris: strings(m.redirect_uris), postLogoutRedirectUris: strings(m.post_logout_redirect_uris),
    backchannelLogoutUri: typeof m.backchannel_logout_uri === 'string' ? m.backchannel_logout_uri : null, grantTypes: strings(m.grant_types),
    scope: typeof m.scope === 'string' ? m.scope : null,
    adminPermissions: clientAdminPermissions(m),
    firstParty: c.firstParty, mfaPolicy: c.mfaPolicy, disabled: c.disabled, hasSecret: c.secretHash !== null,
    createdAt: c.createdAt.toISOString(), updatedAt: c.updatedAt.toISOString(),
  }
}

/** Validates with the registry's schema; its issues become field errors. */
function validated(input: NewClient) {
  const parsed = newClientSchema.safeParse(input)
  if (!parsed.success) throw problems.validation('the client registration is not valid', fieldErrors(parsed.error))
  return parsed.data
}

/** The kind's grant types narrowed to `wanted` (which must be a subset). */
function narrowGrants(metadata: Metadata, wanted: string[] | undefined): Metadata {
  if (!wanted) return metadata
  const allowed = strings(metadata.grant_types)
  const errors = wanted.flatMap((g, i) => (allowed.includes(g) ? [] : [{ path: `grantTypes.${i}`, message: `not available to this kind of client (allowed: ${allowed.join(', ')})` }]))
  if (errors.length) throw problems.validation('some grant types are not available to this kind of client', errors)
  if (allowed.includes('authorization_code') && !wanted.includes('authorization_code')) throw problems.validation('this kind of client needs authorization_code', [{ path: 'grantTypes', message: 'must include authorization_code' }])
  if (!wanted.length) throw problems.validation('at least one grant type is needed', [{ path: 'grantTypes', message: 'must not be empty' }])
  return { ...metadata, grant_types: [...new Set(wanted)] }
}

function conflict(): never {
  throw problems.conflict('a client with this id already exists', [{ path: 'clientId', message: 'already taken' }])
}

/** A registration or change checked in full, not stored yet (route `load` → handler). */
type Registration = z.output<typeof newClientSchema>
export interface PreparedClient { input: z.output<typeof newClientBody>; c: Registration; metadata: Metadata }
export interface PreparedChange { current: Client; patch: z.output<typeof clientPatchBody>; c: Registration; metadata: Metadata }

export function clientsData(deps: AdminDataDeps, scope: TenantScope) {
  const { prisma } = deps

  async function row(id: string): Promise<Client> {
    const client = await findClientInScope(prisma, scope, id)
    if (!client) throw problems.notFound('the client')
    return client
  }

  return {
    async list(query: { limit: number; cursor?: string | undefined }): Promise<Page<ClientJson>> {
      const rows = await listClientsInScope(prisma, scope, { take: query.limit + 1, after: decodeCursor(query.cursor) })
      return toPage(rows, query.limit, (r) => r.createdAt, toClientJson)
    },

    async get(id: string): Promise<ClientJson> {
      return toClientJson(await row(id))
    },

    /** A new registration checked in full (scope, tenant, metadata), nothing stored yet. */
    async prepareCreate(input: z.output<typeof newClientBody>): Promise<PreparedClient> {
      const decided = tenantForNewRow(scope, input.tenantId)
      if (!decided.ok) throw problems.forbidden('a tenant administrator registers clients in their own tenant only')
      if (decided.tenantId && !(await tenantExists(prisma, decided.tenantId))) throw problems.validation('no such tenant', [{ path: 'tenantId', message: 'no such tenant' }])
      const c = validated({
        clientId: input.clientId, name: input.name, kind: input.kind, redirectUris: input.redirectUris ?? [], postLogoutRedirectUris: input.postLogoutRedirectUris ?? [],
        backchannelLogoutUri: input.backchannelLogoutUri ?? undefined,
        scope: input.scope, firstParty: input.firstParty ?? false, mfaPolicy: input.mfaPolicy ?? 'none', tenantId: decided.tenantId ?? undefined,
      })
      // Checked before anything is stored: a bad grant type must not leave a half-made client.
      const metadata = { ...narrowGrants(metadataFor(c), input.grantTypes), ...(input.adminPermissions ? { [CLIENT_ADMIN_PERMISSIONS_KEY]: [...new Set(input.adminPermissions)] } : {}) }
      if (c.clientId && (await clientIdTaken(prisma, c.clientId))) conflict()
      return { input, c, metadata }
    },

    async create({ input, c, metadata }: PreparedClient): Promise<{ client: ClientJson; clientSecret?: string; warnings: RegistrationWarning[] }> {
      let created
      try {
        created = await createClient(prisma, c)
      } catch (err) {
        if (isUniqueViolation(err)) conflict()
        throw err
      }
      if (input.grantTypes || input.adminPermissions) await setClientMetadata(prisma, created.clientId, metadata)
      const client = toClientJson(await row(created.clientId))
      const warnings = await outboundPolicyWarnings(metadata, deps.outboundAllowedHosts ?? [])
      return { client, ...(created.clientSecret ? { clientSecret: created.clientSecret } : {}), warnings }
    },

    /** A change checked in full against the registration as it is, nothing stored yet. */
    async prepareUpdate(id: string, patch: z.output<typeof clientPatchBody>): Promise<PreparedChange> {
      const current = await row(id)
      const m = current.metadata as Metadata
      const auth = m.token_endpoint_auth_method
      // Re-derive the metadata from the merged registration, so a change is validated exactly as a new client would be.
      const c = validated({
        name: patch.name ?? current.name,
        kind: kindOf(m),
        redirectUris: patch.redirectUris ?? strings(m.redirect_uris),
        postLogoutRedirectUris: patch.postLogoutRedirectUris ?? strings(m.post_logout_redirect_uris),
        backchannelLogoutUri: patch.backchannelLogoutUri === null ? undefined : (patch.backchannelLogoutUri ?? (typeof m.backchannel_logout_uri === 'string' ? m.backchannel_logout_uri : undefined)),
        tokenEndpointAuthMethod: auth === 'client_secret_basic' || auth === 'client_secret_post' || auth === 'private_key_jwt' ? auth : undefined,
        jwksUri: typeof m.jwks_uri === 'string' ? m.jwks_uri : undefined,
        scope: patch.scope === null ? undefined : (patch.scope ?? (typeof m.scope === 'string' ? m.scope : undefined)),
        firstParty: patch.firstParty ?? current.firstParty,
        mfaPolicy: patch.mfaPolicy ?? (current.mfaPolicy === 'required' ? 'required' : 'none'),
        mfaMaxAge: current.mfaMaxAge ?? undefined,
      })
      const derived = metadataFor(c)
      const keptGrants = strings(m.grant_types).filter((g) => strings(derived.grant_types).includes(g))
      const metadata = { ...narrowGrants(derived, patch.grantTypes ?? keptGrants), [CLIENT_ADMIN_PERMISSIONS_KEY]: patch.adminPermissions ? [...new Set(patch.adminPermissions)] : clientAdminPermissions(m) }
      return { current, patch, c, metadata }
    },

    async update({ current, patch, c, metadata }: PreparedChange): Promise<{ client: ClientJson; changed: string[]; warnings: RegistrationWarning[] }> {
      const id = current.id
      await updateClientRegistration(prisma, current.id, { name: c.name, metadata, firstParty: c.firstParty, mfaPolicy: c.mfaPolicy, disabled: patch.disabled })
      if (patch.disabled === true) await endClientTokens(prisma, deps.provider, current.id)
      const changed = Object.entries(patch).filter(([, v]) => v !== undefined).map(([k]) => k)
      return { client: toClientJson(await row(id)), changed, warnings: await outboundPolicyWarnings(metadata, deps.outboundAllowedHosts ?? []) }
    },

    async remove(id: string): Promise<ClientJson> {
      const client = await row(id)
      await endClientTokens(prisma, deps.provider, client.id)
      await deleteClient(prisma, client.id)
      return toClientJson(client)
    },

    async rotateSecret(id: string): Promise<{ client: ClientJson; clientSecret: string }> {
      const client = await row(id)
      if (client.secretHash === null) throw problems.conflict('this client authenticates without a secret (public client or private_key_jwt)')
      const clientSecret = await rotateClientSecret(prisma, client.id)
      return { client: toClientJson(await row(id)), clientSecret }
    },
  }
}

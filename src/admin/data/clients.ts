// The client registry within a tenant scope, over the one client model (clients/registry.ts): a
// client reads as settingsOf(row), and registrations, changes and rotations are the registry's
// createClient, changeClient and rotateClientSecret, so nothing here validates or derives metadata
// a second time. Secrets are shown once and stored hashed.
import { ZodError, type z } from 'zod'
import {
  changeClient, ClientNotFound, clientSettingsSchema, createClient, isBuiltInClient, mergeClientPatch, metadataFor, outboundPolicyWarnings, rotateClientSecret,
  settingsOf, settingsWarnings, type ClientSettings, type ClientSettingsPatch, type RegistrationWarning,
} from '../../clients/registry.ts'
import { fieldErrors, problems } from '../problem.ts'
import { decodeCursor, toPage, type Page } from '../page.ts'
import type { clientJson, clientPatchBody, newClientBody } from '../schemas.ts'
import { tenantForNewRow, type TenantScope } from '../../queries/admin-scope.ts'
import { findClientInScope, listClientsInScope, setClientDisabled, type Client } from '../../queries/admin-clients.ts'
import { clientIdTaken, deleteClient } from '../../queries/clients.ts'
import { tenantExists } from '../../queries/tenants.ts'
import { isUniqueViolation } from '../../queries/errors.ts'
import type { AdminDataDeps } from './deps.ts'
import { endClientTokens } from '../../oidc/client-metadata.ts'

export type ClientJson = z.output<typeof clientJson>
type NewClientBody = z.output<typeof newClientBody>
type ClientPatchBody = z.output<typeof clientPatchBody>

/**
 * The client as the API shows it: its settings (never its secret) and its state. `now` is the
 * system clock's, as the token endpoint's when it accepts a replaced secret (clients/registry.ts).
 */
export function toClientJson(row: Client, now = new Date()): ClientJson {
  const settings = settingsOf(row)
  const warnings = settingsWarnings(settings)
  const rotating = row.previousSecretHash !== null && row.previousSecretExpiresAt !== null && row.previousSecretExpiresAt > now
  return {
    ...settings,
    id: row.id,
    disabled: row.disabled,
    hasSecret: row.secretHash !== null,
    secretRotation: rotating ? { previousExpiresAt: row.previousSecretExpiresAt!.toISOString() } : null,
    builtIn: isBuiltInClient(row.id),
    registeredBy: row.registeredBy === 'dynamic' ? 'dynamic' : 'admin',
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    ...(warnings.length ? { warnings } : {}),
  }
}

const invalid = (error: ZodError) => problems.validation('the client’s settings are not valid: errors names each setting and what is wrong', fieldErrors(error))

function conflict(): never {
  throw problems.conflict('a client with this id already exists', [{ path: 'clientId', message: 'this client id is already taken: choose another, or change the existing client' }])
}

/** A registration checked in full (scope, tenant, id), nothing stored yet (route `load` → handler). */
export interface PreparedClient { settings: NewClientBody }
/** A change checked in full against the client as it is, nothing stored yet. */
export interface PreparedChange { current: Client; patch: ClientSettingsPatch; disabled: boolean | undefined; settings: ClientSettings }

export function clientsData(deps: AdminDataDeps, scope: TenantScope) {
  const { prisma } = deps
  const outbound = (settings: ClientSettings) => outboundPolicyWarnings(metadataFor(settings), deps.outboundAllowedHosts ?? [])

  async function row(id: string): Promise<Client> {
    const client = await findClientInScope(prisma, scope, id)
    if (!client) throw problems.notFound('the client')
    return client
  }

  return {
    async list(query: { limit: number; cursor?: string | undefined }): Promise<Page<ClientJson>> {
      const rows = await listClientsInScope(prisma, scope, { take: query.limit + 1, after: decodeCursor(query.cursor) })
      const now = new Date()
      return toPage(rows, query.limit, (r) => r.createdAt, (r) => toClientJson(r, now))
    },

    async get(id: string): Promise<ClientJson> {
      return toClientJson(await row(id))
    },

    /** The server's own applications are the same for every door: not changed, disabled, rotated or deleted. */
    refuseBuiltIn(client: ClientJson, action: string): void {
      if (client.builtIn) throw problems.conflict(`${client.id} is one of this server’s own applications (${client.name}): it cannot be ${action}, or the server itself would stop working as shipped`)
    },

    /** A new registration checked in full (scope, tenant, id), nothing stored yet. The body is the model's schema already. */
    async prepareCreate(input: NewClientBody): Promise<PreparedClient> {
      const decided = tenantForNewRow(scope, input.tenantId)
      if (!decided.ok) throw problems.forbidden('a tenant administrator registers clients in their own tenant only', { errors: [{ path: 'tenantId', message: 'must be your own tenant (or left out)' }] })
      if (decided.tenantId && !(await tenantExists(prisma, decided.tenantId))) throw problems.validation('no such tenant', [{ path: 'tenantId', message: 'no such tenant' }])
      if (input.clientId !== undefined && (await clientIdTaken(prisma, input.clientId))) conflict()
      const { tenantId: _asked, ...rest } = input
      return { settings: { ...rest, ...(decided.tenantId ? { tenantId: decided.tenantId } : {}) } }
    },

    async create({ settings }: PreparedClient): Promise<{ client: ClientJson; clientSecret?: string; warnings: RegistrationWarning[] }> {
      let created
      try {
        created = await createClient(prisma, settings)
      } catch (err) {
        if (isUniqueViolation(err)) conflict()
        if (err instanceof ZodError) throw invalid(err)
        throw err
      }
      const client = toClientJson(await row(created.clientId))
      // The client's own warnings (PKCE off) are on it; the registration's add the imported secret's and the outbound policy's.
      const warnings = [...created.warnings, ...(await outbound(settings as ClientSettings))]
      return { client, ...(created.clientSecret ? { clientSecret: created.clientSecret } : {}), warnings }
    },

    /** A change checked in full against the client as it is, nothing stored yet. */
    async prepareUpdate(id: string, body: ClientPatchBody): Promise<PreparedChange> {
      const current = await row(id)
      const { disabled, ...patch } = body
      const settings = settingsOf(current)
      // Disabling or enabling alone changes no setting: it must work even for a registration that
      // today's rules would not accept as it stands (one made by an older version, or by RFC 7591).
      if (!Object.values(patch).some((v) => v !== undefined)) return { current, patch, disabled, settings }
      // Judged as changeClient will judge it, here in `load`: a change that breaks a rule is refused
      // before the step-up is asked for, whatever the caller's token.
      const parsed = clientSettingsSchema.safeParse(mergeClientPatch(settings, patch))
      if (!parsed.success) throw invalid(parsed.error)
      return { current, patch, disabled, settings: parsed.data }
    },

    async update({ current, patch, disabled, settings }: PreparedChange): Promise<{ client: ClientJson; clientSecret?: string; changed: string[]; warnings: RegistrationWarning[] }> {
      const changed = Object.entries(patch).filter(([, v]) => v !== undefined).map(([k]) => k)
      const patchesSettings = changed.length > 0
      let clientSecret: string | undefined
      if (patchesSettings) {
        try {
          clientSecret = (await changeClient(prisma, current.id, patch)).clientSecret
        } catch (err) {
          if (err instanceof ClientNotFound) throw problems.notFound('the client')
          if (err instanceof ZodError) throw invalid(err)
          throw err
        }
      }
      if (disabled !== undefined && disabled !== current.disabled) {
        await setClientDisabled(prisma, current.id, disabled)
        // Disabled first (the provider no longer finds it on any worker or instance), then its grants and tokens end.
        if (disabled) await endClientTokens(prisma, deps.provider, current.id)
        changed.push('disabled')
      }
      const client = toClientJson(await row(current.id))
      const warnings = [...(client.warnings ?? []), ...(patchesSettings ? await outbound(settings) : [])]
      return { client, ...(clientSecret ? { clientSecret } : {}), changed, warnings }
    },

    /** Ends every grant and token of the client, then deletes it. */
    async remove(id: string): Promise<ClientJson> {
      const client = await row(id)
      await endClientTokens(prisma, deps.provider, client.id)
      await deleteClient(prisma, client.id)
      return toClientJson(client)
    },

    /** Whether the client has a secret to rotate (a public or private_key_jwt client has none). */
    refuseWithoutSecret(client: ClientJson): void {
      if (!client.hasSecret) throw problems.conflict(`this client authenticates without a secret (${client.tokenEndpointAuthMethod ?? 'none'}): there is nothing to rotate`)
    },

    async rotateSecret(id: string, keepPreviousFor: number | undefined): Promise<{ client: ClientJson; clientSecret: string; previousExpiresAt: string | null }> {
      const client = await row(id)
      const { clientSecret, previousExpiresAt } = await rotateClientSecret(prisma, client.id, keepPreviousFor !== undefined ? { keepPreviousFor } : {})
      return { client: toClientJson(await row(id)), clientSecret, previousExpiresAt: previousExpiresAt ? previousExpiresAt.toISOString() : null }
    },
  }
}

// The admin API's request and response shapes. The same schemas validate requests (router.ts),
// describe them in the OpenAPI document (openapi.ts) and are the console's types (console/api.ts,
// type-only: ADR 0241).
import { z } from 'zod'
import { emailSchema, usernameSchema, MAX_PASSWORD_LENGTH } from '../identity/users.ts'
import { clientSettingsPatchSchema, clientSettingsSchema, MAX_KEEP_PREVIOUS_SECONDS } from '../clients/registry.ts'
import { pageQuery } from './page.ts'
import { LOCALES } from '../i18n/locales.ts'

const id = z.string().min(1).max(128)
export const idParams = z.object({ id })
export const sessionParams = z.object({ id, sessionId: id })

const nullableText = (max: number) => z.string().trim().max(max).nullable()
// E.164-ish: what the SMS and WhatsApp channels can reach.
const phone = z.string().trim().regex(/^\+[1-9]\d{6,14}$/, 'an international number such as +14155550123')
export const userStatus = z.enum(['active', 'disabled'])
// The pages' languages (src/i18n/locales.ts); null: the browser's language decides.
const userLocale = z.enum(LOCALES, `one of the supported languages: ${LOCALES.join(', ')}`)

// ---- users
export const userJson = z.object({
  id: z.string(), tenantId: z.string(), email: z.string(), emailVerified: z.boolean(),
  username: z.string().nullable(), displayName: z.string().nullable(), givenName: z.string().nullable(), familyName: z.string().nullable(),
  phone: z.string().nullable(), locale: z.string().nullable(), status: userStatus, locked: z.boolean(), lockedUntil: z.string().nullable(), failedLogins: z.number().int(),
  lastLoginAt: z.string().nullable(), createdAt: z.string(), updatedAt: z.string(),
  roles: z.array(z.object({ id: z.string(), name: z.string() })),
}).meta({ id: 'User' })

export const userListQuery = z.object({
  q: z.string().trim().min(1).max(200).optional().describe('Searches email, username and display name'),
  email: z.string().trim().max(254).optional(),
  role: z.string().max(128).optional().describe('Role id or name'),
  status: userStatus.optional(),
  tenantId: id.optional(),
  ...pageQuery,
})

// Fields a user is created with and changed by alike. The password's length here only bounds the
// request; the password policy (PASSWORD_MIN_LENGTH, breached list, not the person's own name or
// address) is checked by the admin repositories (data/users.ts), as for every other way a password is set.
const userFields = {
  displayName: nullableText(200).optional(),
  givenName: nullableText(100).optional(),
  familyName: nullableText(100).optional(),
  phone: phone.nullable().optional(),
  locale: userLocale.nullable().optional().describe('The language of the person’s pages and their locale claim; null: their browser’s'),
  password: z.string().min(1).max(MAX_PASSWORD_LENGTH).optional().describe('Checked against the password policy'),
  emailVerified: z.boolean().optional(),
  roleIds: z.array(id).max(50).optional(),
}

export const newUserBody = z.object({
  email: emailSchema,
  username: usernameSchema.optional(),
  ...userFields,
  tenantId: id.optional().describe('Global administrators only; default: the default tenant'),
}).strict()

export const userPatchBody = z.object({
  email: emailSchema.optional(),
  username: usernameSchema.nullable().optional(),
  ...userFields,
  status: userStatus.optional(),
}).strict()

export const roleIdsBody = z.object({ roleIds: z.array(id).max(50) }).strict()

export const sessionJson = z.object({
  id: z.string(), browser: z.string().nullable(), os: z.string().nullable(), ip: z.string().nullable(),
  createdAt: z.string(), lastSeenAt: z.string(),
}).meta({ id: 'Session' })

export const factorJson = z.object({
  id: z.string(), kind: z.string(), label: z.string(), createdAt: z.string(), lastUsedAt: z.string().nullable(),
}).meta({ id: 'Factor' })

// ---- roles and permissions
const permissionName = z.string().regex(/^[a-z0-9_.-]+(:[a-z0-9_.-]+)*$/, 'lower-case words separated by colons, e.g. users:read').max(100)
export const roleJson = z.object({
  id: z.string(), tenantId: z.string().nullable(), name: z.string(), description: z.string().nullable(),
  mfaRequired: z.boolean(), permissions: z.array(z.string()), userCount: z.number().int(),
}).meta({ id: 'Role' })
export const newRoleBody = z.object({
  name: z.string().trim().min(1).max(100),
  description: nullableText(500).optional(),
  permissions: z.array(permissionName).max(100),
  mfaRequired: z.boolean().optional(),
  tenantId: id.nullable().optional().describe('null or absent for a global role (global administrators only)'),
}).strict()
export const rolePatchBody = z.object({
  name: z.string().trim().min(1).max(100).optional(),
  description: nullableText(500).optional(),
  permissions: z.array(permissionName).max(100).optional(),
  mfaRequired: z.boolean().optional(),
}).strict()
export const permissionJson = z.object({ name: z.string(), description: z.string().nullable() }).meta({ id: 'Permission' })

// ---- tenants
export const registrationMode = z.enum(['closed', 'invite', 'open'])
export const tenantJson = z.object({
  id: z.string(), slug: z.string(), name: z.string(), registrationMode: registrationMode.nullable(), userCount: z.number().int(), createdAt: z.string(),
}).meta({ id: 'Tenant' })
const slug = z.string().trim().toLowerCase().regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'lower-case letters, digits and - (1 to 64)')
export const newTenantBody = z.object({ slug, name: z.string().trim().min(1).max(200), registrationMode: registrationMode.optional() }).strict()
export const tenantPatchBody = z.object({ name: z.string().trim().min(1).max(200).optional(), registrationMode: registrationMode.nullable().optional() }).strict()

// ---- clients
// The one client model (src/clients/settings.ts) is the request: its schema, rules, messages and the
// plain-language description of each setting, which the OpenAPI document shows. Nothing here adds a
// rule of its own.
type SettingName = keyof typeof clientSettingsSchema.shape

/** Each field of `shape` carrying the model's description of that setting (a patch's wrappers drop it). */
function describedSettings<S extends Partial<Record<SettingName, z.ZodType>>>(shape: S): S {
  return Object.fromEntries(Object.entries(shape).map(([key, field]) => {
    const description = clientSettingsSchema.shape[key as SettingName].description
    return [key, description ? (field as z.ZodType).describe(description) : field]
  })) as S
}

/** POST /clients: the model's settings, validated by its schema (the rules between settings included). */
export const newClientBody = clientSettingsSchema

/** PATCH /clients/:id: any setting but the id, kind, tenant and secret (null removes one without a default), and disabled. */
export const clientPatchBody = z.strictObject({
  ...describedSettings(clientSettingsPatchSchema.shape),
  disabled: z.boolean().optional().describe('true: the client can no longer sign anyone in or get tokens, and every grant and token it holds ends at once; false: enabled again (its old tokens stay ended)'),
})

/** Advice that did not stop the change: PKCE off, a short imported secret, URIs the outbound policy will not reach. */
const warnings = z.array(z.object({ path: z.string().describe('The setting it is about'), message: z.string() })).optional()
  .describe('Advice that did not stop the registration or change')

const { secret: _neverShown, ...settingsShape } = clientSettingsSchema.shape
export const clientJson = z.object({
  ...settingsShape,
  id: z.string().describe('The client_id'),
  disabled: z.boolean(),
  hasSecret: z.boolean().describe('Whether it authenticates with a client secret (which is never shown again)'),
  secretRotation: z.object({ previousExpiresAt: z.string().describe('Until when the replaced secret still works') }).nullable()
    .describe('A rotation in progress: the previous secret still works beside the new one; null when none'),
  builtIn: z.boolean().describe('One of the server’s own applications (the admin console, the account area): cannot be changed, disabled or deleted'),
  registeredBy: z.enum(['admin', 'dynamic']).describe('admin: registered by an administrator (API, console, command line); dynamic: registered itself through RFC 7591'),
  createdAt: z.string(),
  updatedAt: z.string(),
  warnings,
}).meta({ id: 'Client' })
export const createdClientJson = z.object({
  client: clientJson,
  clientSecret: z.string().optional().describe('The generated secret, shown this once (absent for public and private_key_jwt clients, and when a secret was imported)'),
  warnings,
})
export const changedClientJson = z.object({
  ...clientJson.shape,
  clientSecret: z.string().optional().describe('Generated when the change makes the client use a secret it did not have; shown this once'),
})
export const rotateSecretBody = z.strictObject({
  keepPreviousFor: z.number().int().min(0).max(MAX_KEEP_PREVIOUS_SECONDS).optional()
    .describe(`Seconds the replaced secret keeps working beside the new one (0 to ${MAX_KEEP_PREVIOUS_SECONDS}, 30 days), so the application can be moved to the new one without downtime. Default 0: the old secret stops at once (for a leaked secret)`),
})
export const clientSecretJson = z.object({
  clientSecret: z.string().describe('The new secret, shown this once'),
  previousExpiresAt: z.string().nullable().describe('Until when the replaced secret still works; null: it stopped at once'),
})

// ---- audit
export const auditEventJson = z.object({
  id: z.string(), at: z.string(), type: z.string(), outcome: z.string(), actor: z.string().nullable(), userId: z.string().nullable(),
  tenantId: z.string().nullable(), clientId: z.string().nullable(), ip: z.string().nullable(), userAgent: z.string().nullable(),
  requestId: z.string().nullable(), details: z.unknown(),
}).meta({ id: 'AuditEvent' })
const auditFilters = {
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  type: z.string().max(100).optional(),
  userId: id.optional(),
  clientId: z.string().max(128).optional(),
  outcome: z.enum(['success', 'failure']).optional(),
}
export const auditQuery = z.object({ ...auditFilters, ...pageQuery })
export const auditExportQuery = z.object({ ...auditFilters, format: z.enum(['csv', 'json']).default('csv') })
export type AuditFilters = Pick<z.output<typeof auditQuery>, 'from' | 'to' | 'type' | 'userId' | 'clientId' | 'outcome'>

// ---- me and stats
export const meJson = z.object({
  sub: z.string(), kind: z.enum(['person', 'service']), email: z.string().optional(), displayName: z.string().nullable().optional(),
  scope: z.enum(['global', 'tenant']), tenant: z.object({ id: z.string(), slug: z.string(), name: z.string() }).nullable(),
  permissions: z.array(z.string()),
}).meta({ id: 'Me' })
export const statsJson = z.object({
  users: z.number().int(), clients: z.number().int(), tenants: z.number().int(), roles: z.number().int(),
  recentSignIns: z.array(auditEventJson), recentFailures: z.array(auditEventJson),
}).meta({ id: 'Stats' })

export const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() })
export const itemsOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) })

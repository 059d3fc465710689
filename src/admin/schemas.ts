// The admin API's request and response shapes. The same schemas validate requests (router.ts),
// describe them in the OpenAPI document (openapi.ts) and are the console's types (console/api.ts,
// type-only: ADR 0241).
import { z } from 'zod'
import { emailSchema, usernameSchema, MAX_PASSWORD_LENGTH } from '../identity/users.ts'
import { clientKinds } from '../clients/registry.ts'
import { pageQuery } from './page.ts'
import { ADMIN_PERMISSIONS } from './permissions.ts'

const id = z.string().min(1).max(128)
export const idParams = z.object({ id })
export const sessionParams = z.object({ id, sessionId: id })

const nullableText = (max: number) => z.string().trim().max(max).nullable()
// E.164-ish: what the SMS and WhatsApp channels can reach.
const phone = z.string().trim().regex(/^\+[1-9]\d{6,14}$/, 'an international number such as +14155550123')
export const userStatus = z.enum(['active', 'disabled'])

// ---- users
export const userJson = z.object({
  id: z.string(), tenantId: z.string(), email: z.string(), emailVerified: z.boolean(),
  username: z.string().nullable(), displayName: z.string().nullable(), givenName: z.string().nullable(), familyName: z.string().nullable(),
  phone: z.string().nullable(), status: userStatus, locked: z.boolean(), lockedUntil: z.string().nullable(), failedLogins: z.number().int(),
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
const uri = z.string().max(2000)
export const grantType = z.enum(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'])
export const clientJson = z.object({
  id: z.string(), name: z.string(), kind: z.enum(clientKinds), tenantId: z.string().nullable(),
  redirectUris: z.array(z.string()), postLogoutRedirectUris: z.array(z.string()), backchannelLogoutUri: z.string().nullable(), grantTypes: z.array(z.string()),
  scope: z.string().nullable(), adminPermissions: z.array(z.string()), firstParty: z.boolean(), mfaPolicy: z.string(), disabled: z.boolean(), hasSecret: z.boolean(),
  createdAt: z.string(), updatedAt: z.string(),
}).meta({ id: 'Client' })
export const newClientBody = z.object({
  clientId: z.string().optional(),
  name: z.string(),
  kind: z.enum(clientKinds),
  redirectUris: z.array(uri).max(50).optional(),
  postLogoutRedirectUris: z.array(uri).max(50).optional(),
  backchannelLogoutUri: uri.optional().describe('Web, SPA and native clients: where this server posts logout tokens'),
  grantTypes: z.array(grantType).max(4).optional().describe('A subset of what the kind allows; default: all of them'),
  scope: z.string().max(2000).optional().describe('Space-separated OpenID scopes the client may request'),
  adminPermissions: z.array(z.enum(ADMIN_PERMISSIONS)).optional().describe('Service clients: the admin API permissions its client-credentials tokens may hold (global administrators only)'),
  firstParty: z.boolean().optional().describe('No consent page (global administrators only)'),
  mfaPolicy: z.enum(['none', 'required']).optional(),
  tenantId: id.optional(),
}).strict()
export const clientPatchBody = z.object({
  name: z.string().optional(),
  redirectUris: z.array(uri).max(50).optional(),
  postLogoutRedirectUris: z.array(uri).max(50).optional(),
  backchannelLogoutUri: uri.nullable().optional(),
  grantTypes: z.array(grantType).max(4).optional(),
  scope: z.string().max(2000).nullable().optional(),
  adminPermissions: z.array(z.enum(ADMIN_PERMISSIONS)).optional(),
  firstParty: z.boolean().optional(),
  mfaPolicy: z.enum(['none', 'required']).optional(),
  disabled: z.boolean().optional(),
}).strict()
/** Advice that did not stop the change: URIs this server will be refused to call (outbound policy). */
const warnings = z.array(z.object({ path: z.string(), message: z.string() })).optional()
export const createdClientJson = z.object({ client: clientJson, clientSecret: z.string().optional(), warnings })
export const changedClientJson = z.object({ ...clientJson.shape, warnings })
export const clientSecretJson = z.object({ clientSecret: z.string() })

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

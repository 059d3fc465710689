// Initial access tokens for dynamic client registration (RFC 7591 §3): an administrator issues one
// with a policy (redirect hosts, grant types, public or confidential, tenant, expiry, uses), lists
// them and revokes one. Issuing asks for a step-up as registering a client does: a token registers
// clients. The token is in the issue response once.
import { z } from 'zod'
import { route } from '../route.ts'
import { pageQuery } from '../page.ts'
import { pageOf } from '../schemas.ts'
import { REGISTRATION_CLIENT_TYPES, registrationTokenPolicySchema } from '../../clients/registration-tokens.ts'

export const registrationTokenJson = z.object({
  id: z.string().describe('Identifies the token here (a hash of it): not the token'),
  description: z.string(),
  tenantId: z.string().nullable().describe('The tenant every client registered with it belongs to'),
  allowedRedirectHosts: z.array(z.string()),
  allowedGrantTypes: z.array(z.string()),
  clientType: z.enum(REGISTRATION_CLIENT_TYPES),
  expiresAt: z.string(),
  maxUses: z.number().int(),
  uses: z.number().int(),
  clientIds: z.array(z.string()).describe('The clients registered with it'),
  revokedAt: z.string().nullable(),
  state: z.enum(['active', 'spent', 'revoked', 'expired']),
  createdBy: z.string(),
  createdAt: z.string(),
}).meta({ id: 'RegistrationToken' })

const issuedRegistrationTokenJson = z.object({
  token: z.string().describe('The initial access token, shown once: the registrant sends it as a Bearer token to the registration endpoint'),
  registrationToken: registrationTokenJson,
}).meta({ id: 'IssuedRegistrationToken' })

const tokenParams = z.object({ id: z.string().min(1).max(128) })

export const registrationTokenRoutes = [
  route({
    method: 'get', path: '/registration-tokens', tag: 'clients', summary: 'List initial access tokens for dynamic client registration', permission: 'clients:read',
    query: z.object({ ...pageQuery }), response: pageOf(registrationTokenJson),
    handler: ({ data, query }) => data.registrationTokens.list(query),
  }),
  route({
    method: 'post', path: '/registration-tokens', tag: 'clients', summary: 'Issue an initial access token for dynamic client registration (shown once)', permission: 'clients:write', status: 201,
    body: registrationTokenPolicySchema.meta({ id: 'RegistrationTokenPolicy' }), response: issuedRegistrationTokenJson,
    load: async (a) => a.data.registrationTokens.prepareIssue(a.body),
    stepUp: { always: 'issuing a registration token' },
    async handler(a, policy) {
      const issued = await a.data.registrationTokens.issue(policy, a.principal.actor)
      const t = issued.registrationToken
      await a.record('admin_registration_token_issue', {
        tenantId: t.tenantId ?? undefined,
        details: { id: t.id, description: t.description, allowedRedirectHosts: t.allowedRedirectHosts, allowedGrantTypes: t.allowedGrantTypes, clientType: t.clientType, expiresAt: t.expiresAt, maxUses: t.maxUses },
      })
      a.ctx.set('Cache-Control', 'no-store')
      return issued
    },
  }),
  route({
    method: 'get', path: '/registration-tokens/:id', tag: 'clients', summary: 'Read an initial access token’s policy and use', permission: 'clients:read',
    params: tokenParams, response: registrationTokenJson,
    handler: ({ data, params }) => data.registrationTokens.get(params.id),
  }),
  route({
    method: 'delete', path: '/registration-tokens/:id', tag: 'clients', summary: 'Revoke an initial access token (clients registered with it stay)', permission: 'clients:write',
    params: tokenParams, response: registrationTokenJson,
    load: (a) => a.data.registrationTokens.get(a.params.id),
    stepUp: { never: 'revoking only takes away the power to register more clients' },
    async handler(a) {
      const t = await a.data.registrationTokens.revoke(a.params.id)
      await a.record('admin_registration_token_revoke', { tenantId: t.tenantId ?? undefined, details: { id: t.id } })
      return t
    },
  }),
]

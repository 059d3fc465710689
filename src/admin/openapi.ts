// The OpenAPI 3.1 document, generated from the route table and the zod schemas that validate
// requests (zod 4's JSON Schema output is draft 2020-12, the dialect OpenAPI 3.1 uses).
import { z } from 'zod'
import type { AdminRoute } from './route.ts'
import { problemSchema } from './problem.ts'
import { ADMIN_PERMISSION_DESCRIPTIONS } from './permissions.ts'

export const API_BASE = '/admin/api/v1'

/** `/users/:id` → `/users/{id}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_]\w*)/g, '{$1}')
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', reused: 'inline' }) as Record<string, unknown>
  return rest
}

function parameters(route: AdminRoute) {
  const out: Array<Record<string, unknown>> = []
  for (const [where, schema] of [['path', route.params], ['query', route.query]] as const) {
    if (!schema) continue
    for (const [name, field] of Object.entries(schema.shape)) {
      const s = jsonSchema(field as z.ZodType, 'input')
      const optional = (field as z.ZodType).safeParse(undefined).success
      out.push({ name, in: where, required: where === 'path' || !optional, schema: s, ...(typeof s.description === 'string' ? { description: s.description } : {}) })
    }
  }
  return out
}

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } })

export function buildOpenApi(routes: AdminRoute[], issuer: string, resource: string) {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of routes) {
    const status = route.status ?? 200
    const rule = route.stepUp
    // A sentence for people: 'always: …' or 'when …'.
    const stepUp = !rule || 'never' in rule ? undefined : 'always' in rule ? `always: ${rule.always}` : rule.when
    const responses: Record<string, unknown> = {
      [status]: status === 204
        ? { description: 'Done' }
        : route.produces
          ? { description: 'The export, streamed', content: Object.fromEntries(route.produces.map((t) => [t, { schema: { type: 'string' } }])) }
          : { description: 'OK', content: { 'application/json': { schema: route.response ? jsonSchema(route.response, 'output') : {} } } },
      401: problem('No valid access token (WWW-Authenticate says why)' + (stepUp ? ', or a step-up is needed: insufficient_user_authentication with acr_values and max_age' : '')),
      403: problem(route.permission ? `The token lacks ${route.permission}, or the operation is outside the caller’s scope` : 'Not allowed'),
    }
    if (route.params) responses[404] = problem('Not found (or outside the caller’s tenant)')
    if (route.body || route.query) responses[400] = problem('The request is not valid: errors lists the fields')
    if (route.method === 'post' || route.method === 'patch' || route.method === 'put' || route.method === 'delete') responses[409] = problem('Conflicts with the current state')
    const operation: Record<string, unknown> = {
      operationId: `${route.method}${route.path.replace(/\/:?([a-zA-Z]+)/g, (_, w: string) => w[0]!.toUpperCase() + w.slice(1))}`,
      summary: route.summary,
      tags: [route.tag],
      security: [{ adminToken: route.permission ? [route.permission] : [] }],
      ...(route.permission ? { 'x-permission': route.permission } : {}),
      ...(stepUp ? { 'x-step-up': stepUp } : {}),
      parameters: parameters(route),
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } } : {}),
      responses,
    }
    const path = `${API_BASE}${openApiPath(route.path)}`
    paths[path] = { ...paths[path], [route.method]: operation }
  }
  return {
    openapi: '3.1.1',
    info: {
      title: 'Admin API',
      version: '1',
      description: `Bearer access tokens from this server for the resource ${resource}; scopes are the permissions. Errors are RFC 9457 problem details.`,
    },
    servers: [{ url: issuer }],
    paths,
    components: {
      schemas: { Problem: jsonSchema(problemSchema, 'output') },
      securitySchemes: {
        adminToken: {
          type: 'oauth2',
          description: `JWT access tokens for the resource indicator ${resource}`,
          flows: {
            authorizationCode: { authorizationUrl: `${issuer}/auth`, tokenUrl: `${issuer}/token`, scopes: { ...ADMIN_PERMISSION_DESCRIPTIONS } },
            clientCredentials: { tokenUrl: `${issuer}/token`, scopes: { ...ADMIN_PERMISSION_DESCRIPTIONS } },
          },
        },
      },
    },
  }
}

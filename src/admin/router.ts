// The admin API, its area's routes (src/app.ts mounts it at /admin/api behind problemErrors):
//   /admin/api/openapi.json   the document (no token needed: it holds no data)
//   /admin/api/v1/...         bearer token → principal → permission → validation → load → step-up → handler
// Bearer-only: nothing here reads cookies, so cross-site requests carry no authority (no CSRF), and
// no CORS headers are sent (the console is served from this origin).
import Router from '@koa/router'
import { bodyParser } from '@koa/bodyparser'
import type { Context, Middleware } from 'koa'
import type Provider from 'oidc-provider'
import { z } from 'zod'
import type { Logger } from '../observability/logger.ts'
import { accessTokenVerifier, bearerCredentials, InvalidTokenError, type VerifiedAccessToken } from '../middleware/bearer.ts'
import { ACR_MFA, ACR_VALUES } from '../mfa/acr.ts'
import { adminResource, isAdminPermission } from './permissions.ts'
import { fieldErrors, ProblemError, problems } from './problem.ts'
import { resolvePrincipal, PrincipalGoneError, type Principal } from './data/principal.ts'
import { scopedData, type AdminDataDeps } from './data/index.ts'
import { stepUpNeeded, type AdminRoute, type HandlerArgs } from './route.ts'
import { ADMIN_ROUTES } from './routes/index.ts'
import { API_BASE, buildOpenApi } from './openapi.ts'

/** Step-up: a second factor (acr) within this many seconds (auth_time). */
export const STEP_UP_MAX_AGE = 600

export interface AdminApiDeps extends AdminDataDeps {
  logger: Logger
  issuer: string
}

/** `key="value"` as an RFC 9110 quoted-string; header values must be visible ASCII (’ would make Node throw). */
const quoted = (key: string, value: string) => `${key}="${value.replace(/[‘’]/g, "'").replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, '\\$&')}"`

function invalidToken(description: string): ProblemError {
  return problems.unauthorized(description, `Bearer ${quoted('error', 'invalid_token')}, ${quoted('error_description', description)}`)
}

async function authenticate(ctx: Context, verify: ReturnType<typeof accessTokenVerifier>, resource: string): Promise<VerifiedAccessToken> {
  const presented = bearerCredentials(ctx)
  // RFC 6750 §3.1: no error code when the request has no credentials at all.
  if (presented.kind === 'none') throw problems.unauthorized('a bearer access token for the admin API is required', 'Bearer')
  if (presented.kind === 'invalid') throw invalidToken(presented.reason)
  try {
    return await verify(presented.value, resource)
  } catch (err) {
    if (err instanceof InvalidTokenError) throw invalidToken(err.message)
    throw err
  }
}

/** RFC 9470: a person whose token shows a second factor within STEP_UP_MAX_AGE seconds (by the server's clock). */
function stepUpCheck(principal: Principal, reason: string, nowMs: number): void {
  if (principal.kind === 'service') {
    throw problems.forbidden(`${reason} needs a person who signed in with a second factor; a service token cannot do it`)
  }
  const { acr, authTime } = principal.token
  const strong = acr !== undefined && (ACR_VALUES as readonly string[]).indexOf(acr) >= ACR_VALUES.indexOf(ACR_MFA)
  const recent = authTime !== undefined && Math.floor(nowMs / 1000) - authTime <= STEP_UP_MAX_AGE
  if (strong && recent) return
  const description = strong
    ? `${reason} needs a recent authentication: at most ${STEP_UP_MAX_AGE} seconds ago`
    : `${reason} needs a sign-in with a second factor`
  throw new ProblemError(401, 'insufficient-user-authentication', 'Stronger authentication required', description, {
    wwwAuthenticate: `Bearer ${quoted('error', 'insufficient_user_authentication')}, ${quoted('error_description', description)}, ${quoted('acr_values', ACR_MFA)}, max_age=${STEP_UP_MAX_AGE}`,
    acr_values: ACR_MFA,
    max_age: STEP_UP_MAX_AGE,
  })
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.output<T> | undefined {
  if (!schema) return undefined
  const result = schema.safeParse(value)
  if (!result.success) throw problems.validation(`the ${where} is not valid`, fieldErrors(result.error))
  return result.data
}

/** Koa query values are string | string[]; a repeated single-valued parameter is an error, not an array. */
function queryObject(ctx: Context): Record<string, unknown> {
  return Object.fromEntries(Object.entries(ctx.query).map(([k, v]) => [k, Array.isArray(v) && v.length === 1 ? v[0] : v]))
}

function handlerFor(route: AdminRoute, deps: AdminApiDeps) {
  return async function adminRoute(ctx: Context) {
    const principal = ctx.state.adminPrincipal as Principal
    if (route.permission && !principal.permissions.has(route.permission)) throw problems.missingPermission(route.permission)
    if (!route.permission && principal.permissions.size === 0 && route.path !== '/me') throw problems.forbidden('the token carries no admin permission')
    const params = parse(route.params, ctx.params, 'path') ?? {}
    const query = parse(route.query, queryObject(ctx), 'query') ?? {}
    const body = parse(route.body, (ctx.request as { body?: unknown }).body ?? {}, 'body')
    const args: HandlerArgs<unknown, unknown, unknown> = {
      ctx, params, query, body, principal,
      data: scopedData(deps, principal.scope),
      cannotGrantBeyondOwn(permissions, what) {
        const beyond = [...new Set(permissions)].filter((p) => isAdminPermission(p) && !principal.permissions.has(p))
        if (beyond.length) throw problems.forbidden(`${what} would give permissions you do not hold: ${beyond.join(' ')}`, { permissions: beyond })
      },
      record: (type, event = {}) => deps.audit.record(ctx, {
        ...event, type, outcome: 'success', actor: principal.actor,
        details: { ...event.details, ...(principal.kind === 'person' ? { via: principal.token.clientId } : {}) },
      }),
    }
    const loaded = route.load ? await route.load(args) : undefined
    const action = await stepUpNeeded(route.stepUp, args, loaded)
    if (action) stepUpCheck(principal, action, deps.clock?.now() ?? Date.now())
    const result = await route.handler(args, loaded)
    if (route.produces) return // the handler wrote the (streamed) body
    ctx.status = route.status ?? 200
    ctx.set('Cache-Control', 'no-store')
    if (ctx.status !== 204) ctx.body = result
  }
}

/** Every route that changes something states its step-up rule (route.ts): one that does not is a bug, found at start. */
export function assertStepUpRules(routes: readonly AdminRoute[]): void {
  const missing = routes.filter((r) => r.method !== 'get' && !r.stepUp).map((r) => `${r.method.toUpperCase()} ${r.path}`)
  if (missing.length) throw new Error(`admin routes without a step-up rule: ${missing.join(', ')}`)
}

export function createAdminApi(deps: AdminApiDeps) {
  assertStepUpRules(ADMIN_ROUTES)
  const resource = adminResource(deps.issuer)
  const verify = accessTokenVerifier(deps.provider)
  const document = buildOpenApi(ADMIN_ROUTES, deps.issuer, resource)

  const router = new Router({ prefix: API_BASE })
  for (const route of ADMIN_ROUTES) router[route.method](route.path, handlerFor(route, deps))
  const routes = router.routes() as Middleware
  const parseBody = bodyParser({
    enableTypes: ['json'], jsonLimit: '256kb', encoding: 'utf-8',
    onError: () => { throw problems.validation('the body is not valid JSON', [{ path: '', message: 'malformed JSON' }]) },
  }) as Middleware

  // The area's error handler (problemErrors, problem.ts) answers every error thrown here.
  return async function adminApi(ctx: Context) {
    if (ctx.path === '/admin/api/openapi.json' && ctx.method === 'GET') {
      ctx.set('Cache-Control', 'no-cache')
      ctx.body = document
      return
    }
    if (ctx.path !== API_BASE && !ctx.path.startsWith(`${API_BASE}/`)) throw new ProblemError(404, 'not-found', 'Not found', `no admin API route ${ctx.method} ${ctx.path}`)
    const token = await authenticate(ctx, verify, resource)
    try {
      ctx.state.adminPrincipal = await resolvePrincipal(deps.prisma, token)
    } catch (err) {
      if (err instanceof PrincipalGoneError) throw invalidToken(err.message)
      throw err
    }
    await parseBody(ctx, async () => {
      await routes(ctx, async () => {
        // A path the table has with other methods: 405 with Allow, not 404.
        const allowed = ADMIN_ROUTES.filter((r) => router.match(ctx.path, r.method.toUpperCase()).pathAndMethod.some((l) => l.methods.includes(r.method.toUpperCase())))
        if (allowed.length) {
          ctx.set('Allow', [...new Set(allowed.map((r) => r.method.toUpperCase()))].join(', '))
          throw new ProblemError(405, 'method-not-allowed', 'Method not allowed', `${ctx.method} is not allowed on ${ctx.path}`)
        }
        throw new ProblemError(404, 'not-found', 'Not found', `no admin API route ${ctx.method} ${ctx.path}`)
      })
    })
  }
}

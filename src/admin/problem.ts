// RFC 9457 problem details: the admin API's one error type. Handlers and the data layer throw
// ProblemError; the area's one error handler (problemErrors) turns it, HTTP errors, a store that
// is away and anything else into application/problem+json (docs/adr/0250-one-error-model.md).
import type { Context, Middleware, Next } from 'koa'
import { z } from 'zod'
import type { Logger } from '../observability/logger.ts'
import { answerUnavailableStatus, storeUnavailableOf } from '../store/unavailable.ts'

const BASE = 'https://iam.dev/problems/'

export interface FieldError { path: string; message: string }

export class ProblemError extends Error {
  override name = 'ProblemError'
  readonly status: number
  readonly slug: string
  readonly title: string
  readonly extra: { errors?: FieldError[]; wwwAuthenticate?: string; [key: string]: unknown }

  constructor(status: number, slug: string, title: string, detail: string, extra: ProblemError['extra'] = {}) {
    super(detail)
    this.status = status
    this.slug = slug
    this.title = title
    this.extra = extra
  }
}

export const problems = {
  validation: (detail: string, errors: FieldError[] = []) => new ProblemError(400, 'validation-error', 'Your request is not valid', detail, { errors }),
  unauthorized: (detail: string, wwwAuthenticate: string) => new ProblemError(401, 'unauthorized', 'Authentication required', detail, { wwwAuthenticate }),
  forbidden: (detail: string, extra: Record<string, unknown> = {}) => new ProblemError(403, 'forbidden', 'Not allowed', detail, extra),
  missingPermission: (permission: string) => new ProblemError(403, 'missing-permission', 'Missing permission', `this operation needs the permission ${permission}`, { permission }),
  notFound: (what: string) => new ProblemError(404, 'not-found', 'Not found', `${what} does not exist`),
  conflict: (detail: string, errors: FieldError[] = []) => new ProblemError(409, 'conflict', 'Conflict', detail, { errors }),
}

/** zod issues as field errors: `roleIds.2`, `email`; the root is ''. An unknown field is named by its own path. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  const join = (path: PropertyKey[]) => path.map(String).join('.')
  return error.issues.flatMap((issue) => issue.code === 'unrecognized_keys'
    ? issue.keys.map((key) => ({ path: join([...issue.path, key]), message: 'is not a field of this request' }))
    : [{ path: join(issue.path), message: issue.message }])
}

export function writeProblem(ctx: Context, err: ProblemError): void {
  const { errors, wwwAuthenticate, ...extra } = err.extra
  ctx.status = err.status
  if (wwwAuthenticate) ctx.set('WWW-Authenticate', wwwAuthenticate)
  ctx.set('Cache-Control', 'no-store')
  ctx.body = {
    type: `${BASE}${err.slug}`,
    title: err.title,
    status: err.status,
    detail: err.message,
    instance: ctx.path,
    ...extra,
    ...(errors && errors.length ? { errors } : {}),
  }
  // After the body: Koa sets application/json for an object body.
  ctx.type = 'application/problem+json'
}

/** The admin API's error handler: every error it meets, as a problem. */
export function problemErrors(logger: Logger): Middleware {
  return async function problemErrorsMiddleware(ctx: Context, next: Next) {
    try {
      await next()
    } catch (err) {
      if (err instanceof ProblemError) return writeProblem(ctx, err)
      if (storeUnavailableOf(err)) {
        logger.warn({ err, reqId: ctx.state.requestId }, 'store unavailable')
        answerUnavailableStatus(ctx)
        ctx.body = { type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'a store this server depends on is unavailable; retry shortly' }
        ctx.type = 'application/problem+json'
        return
      }
      const e = err as { status?: number; expose?: boolean; message?: string }
      // allowedMethods throws 405 / 501 as HTTP errors.
      if (e.status && e.status < 500 && e.expose) return writeProblem(ctx, new ProblemError(e.status, e.status === 405 ? 'method-not-allowed' : 'bad-request', e.status === 405 ? 'Method not allowed' : 'Bad request', e.message ?? 'bad request'))
      logger.error({ err, reqId: ctx.state.requestId }, 'admin API request failed')
      writeProblem(ctx, new ProblemError(500, 'server-error', 'Server error', `the request could not be completed (request id ${String(ctx.state.requestId)})`))
    }
  }
}

/** The problem shape, for the OpenAPI document. */
export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string(),
  permission: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
}).meta({ id: 'Problem' })

// RFC 9457 problem details: the admin API's one error type. Handlers and the data layer throw
// ProblemError; the router turns it (and zod and body-parser errors) into application/problem+json.
import type { Context } from 'koa'
import { z } from 'zod'

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

/** zod issues as field errors: `roleIds.2`, `email`; the root is ''. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }))
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

// The admin API client (/admin/api/v1): bearer token from auth.ts, JSON in and out, RFC 9457
// problem+json errors as ApiProblem, RFC 9470 step-up challenges answered by re-authorizing.
import type { z } from 'zod'
import type { problemSchema } from '../problem.ts'
import type {
  auditEventJson, changedClientJson, clientJson, clientSecretJson, createdClientJson, factorJson, itemsOf, meJson, pageOf, permissionJson, roleJson,
  sessionJson, statsJson, tenantJson, userJson,
} from '../schemas.ts'
import { authorize, basePath, issuer, oauth, resourceRequest } from './auth.ts'

export const API_BASE = `${basePath}/api/v1`

/** An RFC 9457 problem as the admin API writes it; any field may be missing from another server's (a proxy's) answer. */
type ProblemBody = Partial<z.output<typeof problemSchema>>
export type FieldError = NonNullable<ProblemBody['errors']>[number]

/** An RFC 9457 problem the API answered (or one we made up for a network failure). */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined,
    readonly errors: FieldError[] = [],
    readonly type?: string,
  ) {
    super(detail ?? title)
  }

  /** The message for a field (`email`, `roleIds.0`…), if the API named it. */
  fieldError(field: string): string | undefined {
    return this.errors.find((e) => e.path === field || e.path.startsWith(`${field}.`) || e.path === `/${field}`)?.message
  }
}

export type Query = Record<string, string | number | boolean | undefined | null>

function urlFor(path: string, query?: Query): URL {
  const url = new URL(`${API_BASE}${path}`, issuer)
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v))
  }
  return url
}

async function problemOf(response: Response): Promise<ApiProblem> {
  const type = response.headers.get('content-type') ?? ''
  if (type.includes('json')) {
    try {
      const p = await response.json() as ProblemBody
      return new ApiProblem(response.status, p.title ?? response.statusText, p.detail, Array.isArray(p.errors) ? p.errors : [], p.type)
    } catch {
      // fall through
    }
  }
  return new ApiProblem(response.status, response.statusText || 'Request failed', undefined)
}

/** Sends the request; on a challenge, re-authorizes (step-up or a fresh token) and never returns. */
async function send(method: string, path: string, opts: { query?: Query; body?: unknown; accept?: string } = {}): Promise<Response> {
  const headers = new Headers({ accept: opts.accept ?? 'application/json, application/problem+json' })
  let body: string | undefined
  if (opts.body !== undefined) {
    headers.set('content-type', 'application/json')
    body = JSON.stringify(opts.body)
  }
  let response: Response
  try {
    response = await resourceRequest(method, urlFor(path, opts.query), headers, body)
  } catch (err) {
    if (err instanceof oauth.WWWAuthenticateChallengeError) {
      const bearer = err.cause.find((c) => c.scheme === 'bearer')
      const error = bearer?.parameters.error
      if (error === 'insufficient_user_authentication') {
        const maxAge = bearer?.parameters.max_age
        return authorize({
          acrValues: bearer?.parameters.acr_values,
          maxAge: maxAge !== undefined && /^\d+$/.test(maxAge) ? Number(maxAge) : undefined,
        })
      }
      if (err.status === 401) return authorize({ silent: true }) // expired or revoked token
      // 403 insufficient_scope and others: the problem body says why.
      throw await problemOf(err.response)
    }
    if (err instanceof TypeError) throw new ApiProblem(0, 'The server could not be reached', 'Check your connection and try again.')
    throw err
  }
  if (!response.ok) throw await problemOf(response)
  return response
}

export async function apiGet<T>(path: string, query?: Query): Promise<T> {
  return (await send('GET', path, { ...(query ? { query } : {}) })).json() as Promise<T>
}

export async function apiSend<T>(method: 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T | undefined> {
  const response = await send(method, path, { body })
  if (response.status === 204 || response.headers.get('content-length') === '0') return undefined
  const text = await response.text()
  return text ? JSON.parse(text) as T : undefined
}

/** A download that needs the bearer token (a plain link cannot carry it): fetch, then save a Blob. */
export async function apiDownload(path: string, query: Query, fallbackName: string): Promise<void> {
  const response = await send('GET', path, { query, accept: '*/*' })
  const blob = await response.blob()
  const disposition = response.headers.get('content-disposition') ?? ''
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallbackName
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

// ---- the API's resources: the types of the admin API's own schemas (src/admin/schemas.ts), so
// the console and the API cannot disagree. Type-only imports: nothing of zod or the server reaches
// the bundle (verbatimModuleSyntax erases them). See docs/adr/0241-console-types-from-api-schemas.md.

type Json<S extends z.ZodType> = z.output<S>

/** A page of a listing (pageOf): `nextCursor` goes back as `cursor` for the next one. */
export type Page<T> = Json<ReturnType<typeof pageOf<z.ZodType<T>>>>
/** A whole list (itemsOf). */
export type Items<T> = Json<ReturnType<typeof itemsOf<z.ZodType<T>>>>

export type Me = Json<typeof meJson>
export type Stats = Json<typeof statsJson>
export type AuditEvent = Json<typeof auditEventJson>
export type User = Json<typeof userJson>
export type Session = Json<typeof sessionJson>
export type Factor = Json<typeof factorJson>
export type Role = Json<typeof roleJson>
export type Permission = Json<typeof permissionJson>
export type Tenant = Json<typeof tenantJson>
export type Client = Json<typeof clientJson>
export type CreatedClient = Json<typeof createdClientJson>
export type ChangedClient = Json<typeof changedClientJson>
export type ClientSecret = Json<typeof clientSecretJson>

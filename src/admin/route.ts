// One admin route: its method and path, the permission it needs, the schemas of what it takes
// and returns, and its handler. The route table (routes/index.ts) drives both the Koa router
// (router.ts) and the OpenAPI document (openapi.ts), so the two cannot drift apart.
import type { Context } from 'koa'
import type { z } from 'zod'
import type { AuditEventInput } from '../audit/audit.ts'
import type { AdminPermission } from './permissions.ts'
import type { Principal } from './data/principal.ts'
import type { ScopedData } from './data/index.ts'

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete'
type AnyObject = z.ZodObject<z.ZodRawShape>

export interface HandlerArgs<P, Q, B> {
  ctx: Context
  params: P
  query: Q
  body: B
  principal: Principal
  /** Repositories bound to the caller's tenant scope: the only way to the data. */
  data: ScopedData
  /** Throws the RFC 9470 challenge (401) or 403 (no person behind the token) unless the token is MFA and recent. */
  stepUp(reason: string): void
  /** Refuses (403) a change that would hand out admin permissions the caller does not hold. */
  cannotGrantBeyondOwn(permissions: Iterable<string>, what: string): void
  /** Audits a successful change with the caller as actor. */
  record(type: string, event?: Omit<AuditEventInput, 'type' | 'outcome' | 'actor'>): Promise<void>
}

export interface AdminRoute<P = unknown, Q = unknown, B = unknown> {
  method: Method
  /** Koa style, relative to /admin/api/v1: `/users/:id`. */
  path: string
  summary: string
  tag: string
  /** null: any valid token (GET /me). */
  permission: AdminPermission | null
  /** For the document: 'always' or when (a sentence). */
  stepUp?: string | undefined
  params?: AnyObject | undefined
  query?: AnyObject | undefined
  body?: z.ZodType | undefined
  /** 200 by default; 204 for no content. */
  status?: number | undefined
  response?: z.ZodType | undefined
  /** Other content types than JSON (exports). */
  produces?: string[] | undefined
  handler(args: HandlerArgs<P, Q, B>): Promise<unknown>
}

/** Declares a route with its handler's argument types inferred from its schemas. */
export function route<
  PS extends AnyObject | undefined = undefined,
  QS extends AnyObject | undefined = undefined,
  BS extends z.ZodType | undefined = undefined,
>(def: Omit<AdminRoute, 'handler' | 'params' | 'query' | 'body'> & {
  params?: PS; query?: QS; body?: BS
  handler(args: HandlerArgs<
    PS extends z.ZodType ? z.output<PS> : Record<string, never>,
    QS extends z.ZodType ? z.output<QS> : Record<string, never>,
    BS extends z.ZodType ? z.output<BS> : undefined
  >): Promise<unknown>
}): AdminRoute {
  return def as unknown as AdminRoute
}

// One admin route: its method and path, the permission it needs, when it needs a step-up, the
// schemas of what it takes and returns, what it checks before changing anything, and its handler. The route table (routes/index.ts) drives both the Koa router
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
  /** Refuses (403) a change that would hand out admin permissions the caller does not hold. */
  cannotGrantBeyondOwn(permissions: Iterable<string>, what: string): void
  /** Audits a successful change with the caller as actor. */
  record(type: string, event?: Omit<AuditEventInput, 'type' | 'outcome' | 'actor'>): Promise<void>
}

/**
 * When a route needs a step-up: a second factor within STEP_UP_MAX_AGE seconds (RFC 9470), which a
 * service token can never show. The rule is the route's, not its handler's: the router applies it
 * after `load` and before the handler, so a handler cannot forget it and a new route cannot leave
 * it out (a route that changes anything without a rule does not start, router.ts). The class it
 * guards: a change that creates, deletes or widens a credential or a permission (ADR 0130).
 */
export type StepUpRule<A = HandlerArgs<unknown, unknown, unknown>, L = unknown> =
  /** Every call: the sentence names the action, for the problem's detail. */
  | { always: string }
  /** `needs` names the action when this call calls for it (undefined: it does not); `when` says so for the document. */
  | { when: string; needs(args: A, loaded: L): string | undefined | Promise<string | undefined> }
  /** Why this change creates, deletes and widens nothing. */
  | { never: string }

export interface AdminRoute<P = unknown, Q = unknown, B = unknown> {
  method: Method
  /** Koa style, relative to /admin/api/v1: `/users/:id`. */
  path: string
  summary: string
  tag: string
  /** null: any valid token (GET /me). */
  permission: AdminPermission | null
  /** Required on every route but GET. */
  stepUp?: StepUpRule | undefined
  params?: AnyObject | undefined
  query?: AnyObject | undefined
  body?: z.ZodType | undefined
  /** 200 by default; 204 for no content. */
  status?: number | undefined
  response?: z.ZodType | undefined
  /** Other content types than JSON (exports). */
  produces?: string[] | undefined
  /**
   * Reads and checks, never writes: the row in scope (404), input the schemas cannot judge (400),
   * what the caller may not do at all (403). Runs before the step-up, so those answers do not
   * depend on how the caller signed in; its result is the handler's second argument.
   */
  load?(args: HandlerArgs<P, Q, B>): Promise<unknown>
  handler(args: HandlerArgs<P, Q, B>, loaded: unknown): Promise<unknown>
}

type ArgsOf<PS, QS, BS> = HandlerArgs<
  PS extends z.ZodType ? z.output<PS> : Record<string, never>,
  QS extends z.ZodType ? z.output<QS> : Record<string, never>,
  BS extends z.ZodType ? z.output<BS> : undefined
>

/** Declares a route with its handler's argument types inferred from its schemas and its `load`. */
export function route<
  PS extends AnyObject | undefined = undefined,
  QS extends AnyObject | undefined = undefined,
  BS extends z.ZodType | undefined = undefined,
  L = undefined,
>(def: Omit<AdminRoute, 'handler' | 'params' | 'query' | 'body' | 'load' | 'stepUp'> & {
  params?: PS; query?: QS; body?: BS
  load?(args: ArgsOf<PS, QS, BS>): Promise<L>
  stepUp?: StepUpRule<ArgsOf<PS, QS, BS>, L>
  handler(args: ArgsOf<PS, QS, BS>, loaded: L): Promise<unknown>
}): AdminRoute {
  return def as unknown as AdminRoute
}

/** The action that needs a step-up on this call, if any. */
export async function stepUpNeeded(rule: StepUpRule | undefined, args: HandlerArgs<unknown, unknown, unknown>, loaded: unknown): Promise<string | undefined> {
  if (!rule || 'never' in rule) return undefined
  if ('always' in rule) return rule.always
  return rule.needs(args, loaded)
}

// What every interaction handler shares: rendering a page (with its CSRF token), loading the
// interaction this browser is in, keeping per-interaction state server-side, and handing a
// result back to the provider.
import type { Context, Next } from 'koa'
import { errors, type default as Provider, type InteractionResults } from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import type { AuditWriter } from '../audit/audit.ts'
import type { Csrf } from '../security/csrf.ts'
import type { Logger } from '../observability/logger.ts'
import type { Clock } from '../security/clock.ts'
import type { RateLimits } from '../security/rate-limits.ts'
import type { LockoutSettings } from '../security/lockout.ts'
import { pageContext, renderPage, type PageName } from '../pages/render.ts'
import { stateOfResult, stateResult, type InteractionState } from './state.ts'
import { findUserLocale } from '../queries/users.ts'

export interface InteractionDeps {
  provider: Provider
  prisma: Db
  audit: AuditWriter
  csrf: Csrf
  logger: Logger
  siteName: string
  /** The clock time-window rules read (lockout, links); tests may move it (src/security/clock.ts). */
  clock: Clock
  /** Rate limits per IP, account and client: `limits.consume('registration', { ip: ctx.ip, account: email })` (src/security/rate-limits.ts). */
  limits: RateLimits
  /** Brute-force lockout settings (config.lockout), for authenticateWithPassword. */
  lockout: LockoutSettings
}

export type Details = Awaited<ReturnType<Provider['interactionDetails']>>

export function createInteractionKit(deps: InteractionDeps) {
  const { provider, csrf, siteName } = deps

  function page(ctx: Context, name: PageName, data: Record<string, unknown>) {
    ctx.set('Cache-Control', 'no-store')
    ctx.type = 'html'
    // The form token is for the area's scope, this interaction's uid (src/pages/render.ts).
    ctx.body = renderPage(name, pageContext(ctx, siteName, csrf), data)
  }

  return {
    ...deps,
    page,

    /** Finishes the interaction with `result` and sends the browser back to the provider. */
    async finish(ctx: Context, result: InteractionResults) {
      const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false })
      ctx.status = 303
      ctx.redirect(to)
    },

    /** Stores the interaction's state (server-side, expires with it) without leaving this response. */
    async keepState(ctx: Context, state: InteractionState) {
      await provider.interactionResult(ctx.req, ctx.res, stateResult(state), { mergeWithLastSubmission: false })
    },

    /**
     * Stores the interaction's state and shows the interaction page again, which renders the step
     * the state describes.
     */
    async saveState(ctx: Context, details: Details, state: InteractionState) {
      await provider.interactionResult(ctx.req, ctx.res, stateResult(state), { mergeWithLastSubmission: false })
      ctx.status = 303
      ctx.redirect(`/interaction/${details.uid}`)
    },

    /** The state this interaction is in (src/interaction/state.ts), if any. */
    readState(details: Details): InteractionState | undefined {
      return stateOfResult(details.result)
    },

    /**
     * Loads the interaction this browser is in. (POSTs reach here only with this interaction's
     * CSRF token: src/middleware/csrf-guard.ts checks it for every POST under /interaction/.)
     */
    async load(ctx: Context, next: Next) {
      const details = await provider.interactionDetails(ctx.req, ctx.res)
      if (details.uid !== ctx.params.uid) throw new errors.SessionNotFound('interaction mismatch')
      ctx.state.interaction = details
      // The signed-in person's saved language, one of the sources of the page's (src/i18n/negotiate.ts).
      const accountId = details.session?.accountId
      if (accountId) ctx.state.savedLocale = await findUserLocale(deps.prisma, accountId)
      await next()
    },

    async clientName(details: Details): Promise<string> {
      const client = await provider.Client.find(String(details.params.client_id))
      return client?.clientName ?? String(details.params.client_id)
    },
  }
}
export type InteractionKit = ReturnType<typeof createInteractionKit>

/** The form body as a plain record (bodyparser gives `unknown`). */
export function formBody(ctx: Context): Record<string, unknown> {
  const body = ctx.request.body
  return body && typeof body === 'object' ? body as Record<string, unknown> : {}
}

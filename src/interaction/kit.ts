// What every interaction handler shares: rendering a page (with its CSRF token), loading the
// interaction this browser is in, keeping per-interaction state server-side, and handing a
// result back to the provider.
import type { Context, Next } from 'koa'
import { errors, type default as Provider, type InteractionResults } from 'oidc-provider'
import type { PrismaClient } from '../store/database.ts'
import type { AuditWriter } from '../audit/audit.ts'
import type { Csrf } from '../security/csrf.ts'
import type { Logger } from '../observability/logger.ts'
import type { Clock } from '../security/clock.ts'
import type { RateLimits } from '../security/rate-limits.ts'
import type { LockoutSettings } from '../security/lockout.ts'
import { renderPage, type PageName } from '../pages/render.ts'

export interface InteractionDeps {
  provider: Provider
  prisma: PrismaClient
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

  function page(ctx: Context, name: PageName, data: Record<string, unknown>, uid: string) {
    ctx.set('Cache-Control', 'no-store')
    ctx.type = 'html'
    ctx.body = renderPage(name, { siteName, csrfToken: csrf.issue(ctx, uid), nonce: ctx.state.cspNonce as string | undefined }, data)
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

    /**
     * Stores step state in the interaction itself (server-side, expires with it) and shows the
     * interaction page again, which renders the step the state describes.
     */
    async saveState(ctx: Context, details: Details, key: string, value: unknown) {
      await provider.interactionResult(ctx.req, ctx.res, { [key]: value }, { mergeWithLastSubmission: false })
      ctx.status = 303
      ctx.redirect(`/interaction/${details.uid}`)
    },

    readState<T>(details: Details, key: string): T | undefined {
      return (details.result as Record<string, T> | undefined)?.[key]
    },

    /**
     * Loads the interaction this browser is in. (POSTs reach here only with this interaction's
     * CSRF token: src/security/csrf-guard.ts checks it for every POST under /interaction/.)
     */
    async load(ctx: Context, next: Next) {
      const details = await provider.interactionDetails(ctx.req, ctx.res)
      if (details.uid !== ctx.params.uid) throw new errors.SessionNotFound('interaction mismatch')
      ctx.state.interaction = details
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

// What every interaction handler shares: rendering a page (with its CSRF token), loading the
// interaction this browser is in, keeping per-interaction state server-side, and handing a
// result back to the provider.
import { bodyParser } from '@koa/bodyparser'
import type { Context, Next } from 'koa'
import { errors, type default as Provider, type InteractionResults } from 'oidc-provider'
import type { PrismaClient } from '../store/database.ts'
import type { AuditWriter } from '../audit/audit.ts'
import type { Csrf } from '../security/csrf.ts'
import type { Logger } from '../observability/logger.ts'
import type { Clock } from '../security/clock.ts'
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
}

export type Details = Awaited<ReturnType<Provider['interactionDetails']>>

export function createInteractionKit(deps: InteractionDeps) {
  const { provider, csrf, siteName } = deps

  function page(ctx: Context, name: PageName, data: Record<string, unknown>, uid: string) {
    ctx.set('Cache-Control', 'no-store')
    ctx.type = 'html'
    ctx.body = renderPage(name, { siteName, csrfToken: csrf.issue(ctx, uid) }, data)
  }

  return {
    ...deps,
    page,
    forms: bodyParser({ enableTypes: ['form'], formLimit: '16kb', onError: (err, ctx) => ctx.throw(413, 'The form was too large.') }),

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

    /** Loads the interaction this browser is in, and checks the form's CSRF token on POST. */
    async load(ctx: Context, next: Next) {
      const details = await provider.interactionDetails(ctx.req, ctx.res)
      if (details.uid !== ctx.params.uid) throw new errors.SessionNotFound('interaction mismatch')
      if (ctx.method === 'POST' && !csrf.verify(ctx, details.uid, (ctx.request.body as Record<string, unknown> | undefined)?.csrf)) {
        await deps.audit.record(ctx, { type: 'csrf_rejected', outcome: 'failure', userId: details.session?.accountId, clientId: String(details.params.client_id), details: { path: ctx.path } })
        ctx.status = 403
        page(ctx, 'error', { title: 'Form expired', message: 'This form was not accepted because it did not come from this page, or it has expired. Go back to the application and try again.' }, details.uid)
        return
      }
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

// The error handler of the areas people see (interaction pages and the federation return, the
// account area, self-service): every error becomes a page of the site's layout, never a stack
// trace or a JSON body a person cannot read. A store that is away is a 503 + Retry-After page (JSON
// for a page's script); docs/adr/0250-one-error-model.md.
import type { Context, Middleware, Next } from 'koa'
import { errors } from 'oidc-provider'
import type { Logger } from '../observability/logger.ts'
import { pageContext, renderPage } from '../pages/render.ts'
import { pageText } from '../pages/page-text.ts'
import { answerUnavailableJson, answerUnavailableStatus, storeUnavailableOf } from '../store/unavailable.ts'

export interface PageErrorDeps {
  logger: Logger
  siteName: string
  /** SITE_HOME_URL: the 404 page links to it too. */
  siteHome?: string | undefined
}

/**
 * The site's error page with `title` and `message` (from the catalogs, in the language of this
 * request: pageText(ctx)), as the body of this response. The page is in the request's language
 * wherever it is rendered, inside an interaction or not (src/i18n/request.ts).
 */
export function errorPage(ctx: Context, siteName: string, text: { title: string; message: string; backHref?: string; backLabel?: string; siteHome?: string | undefined }): void {
  ctx.set('Cache-Control', 'no-store')
  ctx.type = 'html'
  ctx.body = renderPage('error', pageContext(ctx, siteName), { ...text, requestId: ctx.state.requestId })
}

/**
 * A browser's GET that no route answered (Koa's bare "Not Found" text): the site's 404 page, with a
 * way on. Only for a request that asks for HTML, so scripts and API clients keep their plain 404.
 */
export function answerNotFoundPage(ctx: Context, siteName: string, siteHome: string | undefined): void {
  if (ctx.status !== 404 || ctx.body != null || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return
  if (!/\btext\/html\b/.test(ctx.get('Accept'))) return
  const tr = pageText(ctx)
  errorPage(ctx, siteName, { title: tr.t('error.notFoundTitle'), message: tr.t('error.notFoundMessage'), backHref: '/account', backLabel: tr.t('error.toAccount'), siteHome })
  ctx.status = 404
}

/** 503 + Retry-After as the site's page. */
export function unavailablePage(ctx: Context, siteName: string): void {
  answerUnavailableStatus(ctx)
  const tr = pageText(ctx)
  ctx.type = 'html'
  ctx.body = renderPage('error', pageContext(ctx, siteName), { title: tr.t('error.unavailableTitle'), message: tr.t('error.unavailableMessage'), requestId: ctx.state.requestId })
}

export function pageErrors({ logger, siteName, siteHome }: PageErrorDeps): Middleware {
  return async function pageErrorsMiddleware(ctx: Context, next: Next) {
    try {
      await next()
      answerNotFoundPage(ctx, siteName, siteHome)
    } catch (err) {
      const e = err as { status?: number; expose?: boolean; message?: string }
      if (err instanceof errors.SessionNotFound || err instanceof errors.InvalidRequest) {
        errorPage(ctx, siteName, { title: pageText(ctx).t('error.expiredTitle'), message: pageText(ctx).t('error.expiredMessage') })
        ctx.status = 400
      } else if (storeUnavailableOf(err)) {
        logger.warn({ err, reqId: ctx.state.requestId }, 'store unavailable')
        // A page's script (WebAuthn) sent JSON and reads JSON back.
        if (ctx.is('json') === 'json') {
          answerUnavailableJson(ctx)
        } else unavailablePage(ctx, siteName)
      } else if (e.status && e.status < 500 && e.expose) {
        // The message is the thrower's (ctx.throw(400, …)): ours come from the catalogs.
        errorPage(ctx, siteName, { title: pageText(ctx).t('error.notAcceptedTitle'), message: e.message ?? '' })
        ctx.status = e.status
      } else {
        logger.error({ err, reqId: ctx.state.requestId }, 'interaction failed')
        errorPage(ctx, siteName, { title: pageText(ctx).t('error.failedTitle'), message: pageText(ctx).t('error.failedMessage') })
        ctx.status = 500
      }
    }
  }
}

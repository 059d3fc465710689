// The error handler of the areas people see (interaction pages and the federation return, the
// account area, self-service): every error becomes a page of the site's layout, never a stack
// trace or a JSON body a person cannot read. A store that is away is a 503 + Retry-After page (JSON
// for a page's script); docs/adr/0250-one-error-model.md.
import type { Context, Middleware, Next } from 'koa'
import { errors } from 'oidc-provider'
import type { Logger } from '../observability/logger.ts'
import { renderPage } from '../pages/render.ts'
import { answerUnavailableJson, answerUnavailableStatus, storeUnavailableOf } from '../store/unavailable.ts'

export interface PageErrorDeps {
  logger: Logger
  siteName: string
  /** SITE_HOME_URL: the 404 page links to it too. */
  siteHome?: string | undefined
}

/** The site's error page with `title` and `message`, as the body of this response. */
export function errorPage(ctx: Context, siteName: string, text: { title: string; message: string; backHref?: string; backLabel?: string; siteHome?: string | undefined }): void {
  ctx.set('Cache-Control', 'no-store')
  ctx.type = 'html'
  ctx.body = renderPage('error', { siteName }, { ...text, requestId: ctx.state.requestId })
}

export const NOT_FOUND_PAGE = {
  title: 'Page not found',
  message: 'There is no page at this address. Check the address, or go to your account.',
  backHref: '/account', backLabel: 'Go to your account',
}

/**
 * A browser's GET that no route answered (Koa's bare "Not Found" text): the site's 404 page, with a
 * way on. Only for a request that asks for HTML, so scripts and API clients keep their plain 404.
 */
export function answerNotFoundPage(ctx: Context, siteName: string, siteHome: string | undefined): void {
  if (ctx.status !== 404 || ctx.body != null || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return
  if (!/\btext\/html\b/.test(ctx.get('Accept'))) return
  errorPage(ctx, siteName, { ...NOT_FOUND_PAGE, siteHome })
  ctx.status = 404
}

export const UNAVAILABLE_PAGE = { title: 'Temporarily unavailable', message: 'This service is briefly unavailable. Please try again in a moment.' }

/** 503 + Retry-After as the site's page. */
export function unavailablePage(ctx: Context, siteName: string): void {
  answerUnavailableStatus(ctx)
  ctx.type = 'html'
  ctx.body = renderPage('error', { siteName }, { ...UNAVAILABLE_PAGE, requestId: ctx.state.requestId })
}

export function pageErrors({ logger, siteName, siteHome }: PageErrorDeps): Middleware {
  return async function pageErrorsMiddleware(ctx: Context, next: Next) {
    try {
      await next()
      answerNotFoundPage(ctx, siteName, siteHome)
    } catch (err) {
      const e = err as { status?: number; expose?: boolean; message?: string }
      if (err instanceof errors.SessionNotFound || err instanceof errors.InvalidRequest) {
        errorPage(ctx, siteName, { title: 'Sign-in expired', message: 'This sign-in page has expired or was opened in another browser. Go back to the application and sign in again.' })
        ctx.status = 400
      } else if (storeUnavailableOf(err)) {
        logger.warn({ err, reqId: ctx.state.requestId }, 'store unavailable')
        // A page's script (WebAuthn) sent JSON and reads JSON back.
        if (ctx.is('json') === 'json') {
          answerUnavailableJson(ctx)
        } else unavailablePage(ctx, siteName)
      } else if (e.status && e.status < 500 && e.expose) {
        errorPage(ctx, siteName, { title: 'Request not accepted', message: e.message ?? '' })
        ctx.status = e.status
      } else {
        logger.error({ err, reqId: ctx.state.requestId }, 'interaction failed')
        errorPage(ctx, siteName, { title: 'Something went wrong', message: 'We could not complete this step. Please try again in a moment.' })
        ctx.status = 500
      }
    }
  }
}

// The provider area's error handling. oidc-provider answers its own errors in OAuth's formats (JSON
// at its endpoints, a redirect to the client at the authorization endpoint, its error page for
// people), and calls every other error a 500 `server_error`; this server adds only what that
// leaves out (docs/adr/0250-one-error-model.md):
//   - a store that is away: the provider's `server_error` event marks the request, and the 500 (or
//     the redirect with error=server_error) becomes a 503 + Retry-After in the same format;
//     a store error thrown by our middleware in front of it (rate limits, the code check) becomes
//     the OAuth JSON 503;
//   - the two errors that escape oidc-provider 9 as a bare 500 (src/oidc/provider-internals.ts).
import type { Context, Middleware, Next } from 'koa'
import type Provider from 'oidc-provider'
import type { Logger } from '../observability/logger.ts'
import { isDeviceResumeWithoutState, isProviderPageRoute, isUnsavedSessionAfterAnswer } from '../oidc/provider-internals.ts'
import { answerUnavailableJson, RETRY_AFTER_SECONDS, storeUnavailableOf } from '../store/unavailable.ts'
import { answerNotFoundPage, errorPage, unavailablePage } from './page-errors.ts'
import { pageText } from '../pages/page-text.ts'

export interface ProviderErrorDeps {
  provider: Provider
  logger: Logger
  siteName: string
  /** SITE_HOME_URL, for the 404 page. */
  siteHome?: string | undefined
}

/** The provider's `server_error` event: logged, and a store error marked for providerErrors() to answer as 503. */
function watchServerErrors({ provider, logger }: ProviderErrorDeps): void {
  provider.on('server_error', (ctx: Context, err: Error) => {
    if (storeUnavailableOf(err)) {
      ctx.state.storeUnavailable = true
      logger.warn({ err, reqId: ctx.state.requestId }, 'store unavailable')
    } else logger.error({ err, reqId: ctx.state.requestId }, 'provider server error')
  })
}

/** The provider area's one error handler: outermost in the area, around our middleware and the provider. */
export function providerErrors(deps: ProviderErrorDeps): Middleware {
  watchServerErrors(deps)
  const { logger, siteName, siteHome } = deps
  return async function providerErrorsMiddleware(ctx: Context, next: Next) {
    try {
      await next()
    } catch (err) {
      if (storeUnavailableOf(err)) {
        logger.warn({ err, reqId: ctx.state.requestId }, 'store unavailable')
        // OAuth JSON, but a page for a person's browser at the provider's pages (a session save that failed after the route).
        if (isProviderPageRoute(ctx) && ctx.is('json') !== 'json') return unavailablePage(ctx, siteName)
        answerUnavailableJson(ctx)
        return
      }
      if (isUnsavedSessionAfterAnswer(err, ctx)) {
        logger.warn({ err, reqId: ctx.state.requestId, status: ctx.status }, 'provider error answer kept (unsaved session)')
        return
      }
      if (isDeviceResumeWithoutState(err, ctx)) {
        logger.warn({ err, reqId: ctx.state.requestId }, 'device resume failed')
        errorPage(ctx, siteName, { title: pageText(ctx).t('error.expiredTitle'), message: pageText(ctx).t('error.deviceExpiredMessage') })
        ctx.status = 400
        return
      }
      throw err
    }
    if (ctx.state.storeUnavailable) answerProviderUnavailable(ctx, siteName)
    // A path the provider has no route for (/nope): a page for a person, not Koa's bare text.
    answerNotFoundPage(ctx, siteName, siteHome)
  }
}

/**
 * The provider answered 500 (JSON or its error page) or, at the authorization endpoint, sent the
 * browser back to the client with error=server_error, and a store was the cause: the same answer
 * as a 503.
 */
function answerProviderUnavailable(ctx: Context, siteName: string): void {
  if (ctx.status === 500) {
    if (ctx.response.is('json') !== false) {
      answerUnavailableJson(ctx)
    } else unavailablePage(ctx, siteName)
  } else if (ctx.status >= 300 && ctx.status < 400) {
    const location = ctx.response.get('Location')
    if (location && /[?&#]error=server_error\b/.test(location)) {
      // RFC 6749 §4.1.2.1: temporarily_unavailable is the authorization endpoint's code for this.
      ctx.redirect(location.replace(/([?&#]error=)server_error\b/, '$1temporarily_unavailable').replace(/([?&#]error_description=)[^&#]*/, '$1the+service+is+temporarily+unavailable%3B+retry+shortly'))
      ctx.set('Retry-After', String(RETRY_AFTER_SECONDS))
    }
  }
}

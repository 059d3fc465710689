// The pages oidc-provider itself shows (the sign-out question, "you are signed out", its error
// page), rendered from our templates in the page's language: the browser's (switcher, cookie,
// Accept-Language) and, when the browser has a session, the signed-in person's saved one.
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider'
import type { Translator } from '../i18n/catalogs.ts'
import { pageContext, renderPage, type PageContext } from '../pages/render.ts'
import { pageText } from '../pages/page-text.ts'
import type { Db } from '../queries/db.ts'
import { findUserLocale } from '../queries/users.ts'

type RpLogout = NonNullable<NonNullable<Configuration['features']>['rpInitiatedLogout']>
type LogoutPages = Required<Pick<RpLogout, 'logoutSource' | 'postLogoutSuccessSource'>>

export function providerPages(siteName: string, siteHome: string | undefined, prisma: Db): LogoutPages & Required<Pick<Configuration, 'renderError'>> {
  async function context(ctx: KoaContextWithOIDC): Promise<PageContext> {
    const accountId = ctx.oidc?.session?.accountId
    if (accountId) ctx.state.savedLocale = await findUserLocale(prisma, accountId)
    return pageContext(ctx, siteName)
  }
  return {
    async logoutSource(ctx, form) {
      ctx.body = renderPage('logout', await context(ctx), { form, client: ctx.oidc.client?.clientName })
    },
    async postLogoutSuccessSource(ctx) {
      const client = ctx.oidc.client
      ctx.body = renderPage('logged-out', await context(ctx), { client: client?.clientName, clientUri: client?.clientUri, siteHome })
    },
    async renderError(ctx, out) {
      // The error may come before any session is read (a bad authorization request): the browser's language.
      const page = pageContext(ctx, siteName)
      ctx.type = 'html'
      ctx.body = renderPage('error', page, {
        title: pageText(ctx).t('error.failedTitle'),
        message: humanOAuthError(pageText(ctx), out.error, out.error_description),
        detail: out.error,
        requestId: ctx.state.requestId,
      })
    },
  }
}

/**
 * Messages for people, keyed by OAuth error code; the code itself is shown too. The provider's
 * error_description is English (it is meant for developers): it is shown only where we have
 * nothing better to say.
 */
function humanOAuthError(tr: Translator, error: string, description?: string): string {
  switch (error) {
    case 'invalid_client':
      return tr.t('error.oauthInvalidClient')
    case 'invalid_redirect_uri':
      return tr.t('error.oauthInvalidRedirectUri')
    case 'invalid_request':
      return description ? tr.t('error.oauthInvalidRequestWhy', { description }) : tr.t('error.oauthInvalidRequest')
    case 'access_denied':
      return tr.t('error.oauthAccessDenied')
    case 'session_not_found':
    case 'invalid_session':
      return tr.t('error.oauthSessionExpired')
    default:
      return description ?? tr.t('error.oauthFailed')
  }
}

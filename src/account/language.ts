// /account/language: the person chooses the language of their pages (User.locale), or leaves it to
// the browser. The account area and the sign-in pages then speak it (src/i18n/negotiate.ts: it
// ranks after an application's ui_locales), and it is the `locale` claim applications receive.
import type Router from '@koa/router'
import type { Context } from 'koa'
import { updateUserColumns } from '../queries/users.ts'
import { isLocale, LOCALE_NAMES, LOCALES } from '../i18n/locales.ts'
import { ACCOUNT_CLIENT_ID } from './relying-party.ts'
import { signedInOrRedirect, type AccountAreaDeps } from './pages.ts'

const LANGUAGE = '/account/language'

/** What the account page's language form shows: each language in its own name, and the saved one. */
export function languageChoices(saved: string | null) {
  return {
    savedLocale: isLocale(saved) ? saved : undefined,
    languageChoices: LOCALES.map((locale) => ({ locale, name: LOCALE_NAMES[locale] })),
  }
}

export interface LanguageDeps extends AccountAreaDeps {
  /** Shows the account page again, saying the language chosen is not one of ours. */
  showAccount(ctx: Context, userId: string, options: { unsupportedLanguage: true }): Promise<void>
}

export function registerLanguageRoutes(router: Router, deps: LanguageDeps): void {
  router.post(LANGUAGE, async (ctx) => {
    const user = (await signedInOrRedirect(ctx, deps, deps.readSession(ctx), '/account'))?.user
    if (!user) return
    const body = ctx.request.body as Record<string, unknown> | undefined
    const chosen = body?.locale
    // Empty: no preference, the browser's language decides. Anything else must be a catalog's tag.
    if (chosen !== '' && !isLocale(chosen)) {
      await deps.audit.record(ctx, { type: 'locale_change', outcome: 'failure', userId: user.id, clientId: ACCOUNT_CLIENT_ID, details: { reason: 'unsupported' } })
      ctx.status = 400
      return deps.showAccount(ctx, user.id, { unsupportedLanguage: true })
    }
    const locale = chosen === '' ? null : chosen
    await updateUserColumns(deps.prisma, user.id, { locale })
    await deps.audit.record(ctx, { type: 'locale_change', outcome: 'success', userId: user.id, clientId: ACCOUNT_CLIENT_ID, details: { locale, previous: user.locale } })
    // The page after the change is already in the new language: the account area reads it per request.
    ctx.status = 303
    ctx.redirect('/account?done=language')
  })
}

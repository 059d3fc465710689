// The locale of one page request (negotiate.ts's sources read from the request) and the language
// switcher's links. The switcher is plain links, so it works without JavaScript and needs no
// CSRF token: `?lang=xx` on a GET renders this page in that language and remembers the choice
// in a cookie. At worst a cross-site link changes the language a browser sees the pages in.
import type { Context } from 'koa'
import { hostCookieName } from '../security/cookie-names.ts'
import { defaultLocale } from './catalogs.ts'
import { isLocale, LOCALE_NAMES, LOCALES, type Locale } from './locales.ts'
import { negotiateLocale } from './negotiate.ts'

/** The query parameter the switcher's links carry. */
export const SWITCH_PARAM = 'lang'
const COOKIE = 'locale'
const REMEMBER_MS = 365 * 24 * 3600 * 1000

export interface LanguageLink { locale: Locale; name: string; href: string; current: boolean }

/** What the request says about its language: ctx.state.interaction's params, the saved preference the interaction kit read. */
export function localeOfRequest(ctx: Context): Locale {
  const chosen = ctx.method === 'GET' ? ctx.query[SWITCH_PARAM] : undefined
  const cookie = hostCookieName(COOKIE, ctx.secure)
  if (isLocale(chosen)) {
    // Chosen on this very page: it beats every other source for this page, and is remembered.
    ctx.cookies.set(cookie, chosen, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/', maxAge: REMEMBER_MS, overwrite: true })
    return chosen
  }
  const params = (ctx.state.interaction as { params?: Record<string, unknown> } | undefined)?.params
  return negotiateLocale({
    uiLocales: typeof params?.ui_locales === 'string' ? params.ui_locales : undefined,
    saved: ctx.state.savedLocale as string | undefined,
    remembered: ctx.cookies.get(cookie),
    acceptLanguage: ctx.get('Accept-Language') || undefined,
    fallback: defaultLocale(),
  })
}

/**
 * The switcher's links: this page again with `lang` set. A page that answered a POST (a form
 * with an error) links to its interaction's page instead, which a GET can show; outside an
 * interaction such a page has no switcher.
 */
export function languageLinks(ctx: Context, current: Locale): LanguageLink[] {
  const uid = (ctx.state.interaction as { uid?: string } | undefined)?.uid
  let base: URL
  if (ctx.method === 'GET') base = new URL(ctx.url, 'http://page.invalid')
  else if (uid) base = new URL(`/interaction/${uid}`, 'http://page.invalid')
  else return []
  return LOCALES.map((locale) => {
    base.searchParams.set(SWITCH_PARAM, locale)
    return { locale, name: LOCALE_NAMES[locale], href: `${base.pathname}${base.search}`, current: locale === current }
  })
}

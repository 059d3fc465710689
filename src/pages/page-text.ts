// The words a route puts on its page (an error, a prompt) in the page's own language: the
// translator for the locale pageContext gives the page of this request (src/i18n/request.ts).
import type { Context } from 'koa'
import { translator, type Translator } from '../i18n/catalogs.ts'
import { localeOfRequest } from '../i18n/request.ts'
import { pageTranslator, type PageName } from './render.ts'

export function pageText(ctx: Context): Translator {
  return translator(localeOfRequest(ctx))
}

/**
 * The translator of page `name` for this request: a route's words for a page in the catalogs are
 * in the request's language; for a page still written in English, in English.
 */
export function pageWords(ctx: Context, name: PageName): Translator {
  return pageTranslator(name, localeOfRequest(ctx))
}

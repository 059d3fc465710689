// The words a route puts on its page (an error, a prompt) in the page's own language: the
// translator for the locale pageContext gives the page of this request (src/i18n/request.ts).
import type { Context } from 'koa'
import { translator, type Translator } from '../i18n/catalogs.ts'
import { localeOfRequest } from '../i18n/request.ts'

export function pageText(ctx: Context): Translator {
  return translator(localeOfRequest(ctx))
}


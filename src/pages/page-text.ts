// The words a route puts on its page (an error, a prompt) in the page's own language: the
// translator for the locale pageContext gives the page of this request (src/i18n/request.ts).
import type { Context } from 'koa'
import { translator, type Translator } from '../i18n/catalogs.ts'
import { localeOfRequest } from '../i18n/request.ts'

export function pageText(ctx: Context): Translator {
  return translator(localeOfRequest(ctx))
}

/**
 * "30 seconds", "4 minutes", "2 hours" in the page's language: how long to wait after a limit
 * refused the request, rounded up (the same steps as describeWait in src/security/rate-limits.ts).
 */
export function waitText(tr: Translator, seconds: number): string {
  if (seconds < 60) return tr.t('signin.waitSeconds', { count: seconds })
  const minutes = Math.ceil(seconds / 60)
  if (minutes < 60) return tr.t('signin.waitMinutes', { count: minutes })
  return tr.t('signin.waitHours', { count: Math.ceil(minutes / 60) })
}

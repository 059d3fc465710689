// Which language a page is rendered in. In order, the first that names a language we have:
//   1. `ui_locales` of the authorization request (OIDC Core §3.1.2.1: space-separated, in order of
//      preference): the relying party knows what its own pages were just shown in;
//   2. the person's saved preference (User.locale);
//   3. the choice remembered from the language switcher (a cookie);
//   4. the browser's Accept-Language (RFC 9110 §12.5.4, q-values);
//   5. the server default (DEFAULT_LOCALE).
// A tag matches a locale by its primary language subtag (RFC 4647 lookup, cut down to the one
// subtag our catalogs have): de-CH and de-DE both read the German catalog.
import { isLocale, type Locale } from './locales.ts'

export interface LocaleSources {
  uiLocales?: string | undefined
  saved?: string | null | undefined
  remembered?: string | undefined
  acceptLanguage?: string | undefined
  fallback: Locale
}

/** The locale a language tag (BCP 47) falls back to, if we have one. */
export function localeOfTag(tag: string): Locale | undefined {
  const primary = tag.trim().toLowerCase().split(/[-_]/)[0]
  return isLocale(primary) ? primary : undefined
}

/** The first of these tags that we have, in their order. */
function firstSupported(tags: Iterable<string>): Locale | undefined {
  for (const tag of tags) {
    const locale = localeOfTag(tag)
    if (locale) return locale
  }
  return undefined
}

/**
 * Accept-Language's ranges by preference: q descending, header order among equals; q=0 (not
 * acceptable) and the wildcard dropped (it names no language, so the next source decides).
 */
export function acceptedLanguages(header: string): string[] {
  const ranges: Array<{ tag: string; q: number; at: number }> = []
  header.split(',').forEach((part, at) => {
    const [tag, ...params] = part.trim().split(';')
    if (!tag || tag.trim() === '*') return
    let q = 1
    for (const param of params) {
      const [name, value] = param.trim().split('=')
      if (name?.trim().toLowerCase() === 'q') q = Number(value)
    }
    if (Number.isFinite(q) && q > 0 && q <= 1) ranges.push({ tag: tag.trim(), q, at })
  })
  return ranges.sort((a, b) => b.q - a.q || a.at - b.at).map((r) => r.tag)
}

export function negotiateLocale(sources: LocaleSources): Locale {
  return (sources.uiLocales ? firstSupported(sources.uiLocales.split(' ').filter(Boolean)) : undefined)
    ?? (sources.saved ? localeOfTag(sources.saved) : undefined)
    ?? (sources.remembered ? localeOfTag(sources.remembered) : undefined)
    ?? (sources.acceptLanguage ? firstSupported(acceptedLanguages(sources.acceptLanguage)) : undefined)
    ?? sources.fallback
}

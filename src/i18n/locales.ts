// The languages the pages speak, and which way each is written. A locale here has a catalog in
// locales/<tag>/ (test/unit/catalogs.test.ts holds them to the same keys).

export const LOCALES = ['en', 'de', 'fr', 'es', 'nl', 'vi', 'ar'] as const
export type Locale = (typeof LOCALES)[number]

/**
 * Each language's name in itself, for the language switcher: a reader looks for their own
 * language's name, whatever the page is in, so these are not translated.
 */
export const LOCALE_NAMES: Record<Locale, string> = {
  en: 'English', de: 'Deutsch', fr: 'Français', es: 'Español', nl: 'Nederlands', vi: 'Tiếng Việt', ar: 'العربية',
}

const RIGHT_TO_LEFT: ReadonlySet<Locale> = new Set(['ar'])

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value)
}

/** The value of the page's `dir` attribute. */
export function directionOf(locale: Locale): 'ltr' | 'rtl' {
  return RIGHT_TO_LEFT.has(locale) ? 'rtl' : 'ltr'
}

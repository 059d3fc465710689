// Which language a page gets: ui_locales, then the saved preference, then the switcher's cookie,
// then Accept-Language, then the server default; tags match by their primary language.
import { describe, expect, it } from 'vitest'
import { acceptedLanguages, localeOfTag, negotiateLocale } from '../../src/i18n/negotiate.ts'
import { directionOf, LOCALES } from '../../src/i18n/locales.ts'

describe('negotiateLocale', () => {
  const all = { uiLocales: 'de', saved: 'fr', remembered: 'es', acceptLanguage: 'nl', fallback: 'en' as const }

  it('takes the sources in order: ui_locales, saved, remembered, Accept-Language, default', () => {
    expect(negotiateLocale(all)).toBe('de')
    expect(negotiateLocale({ ...all, uiLocales: undefined })).toBe('fr')
    expect(negotiateLocale({ ...all, uiLocales: undefined, saved: null })).toBe('es')
    expect(negotiateLocale({ ...all, uiLocales: undefined, saved: null, remembered: undefined })).toBe('nl')
    expect(negotiateLocale({ fallback: 'vi' })).toBe('vi')
  })

  it('passes over a source naming only languages it does not have', () => {
    expect(negotiateLocale({ ...all, uiLocales: 'ja zh-Hant' })).toBe('fr')
    expect(negotiateLocale({ ...all, uiLocales: undefined, saved: 'pt-BR' })).toBe('es')
    expect(negotiateLocale({ uiLocales: '', remembered: 'xx', acceptLanguage: 'ja, *;q=0.5', fallback: 'ar' })).toBe('ar')
  })

  it('ui_locales: space-separated, the first supported wins, regions fall back to the language', () => {
    expect(negotiateLocale({ uiLocales: 'ja  fr-CA de', fallback: 'en' })).toBe('fr')
    expect(negotiateLocale({ uiLocales: 'de-CH', fallback: 'en' })).toBe('de')
    expect(negotiateLocale({ uiLocales: 'AR-eg', fallback: 'en' })).toBe('ar')
  })

  it('Accept-Language: by q-value, header order among equals, q=0 never', () => {
    expect(negotiateLocale({ acceptLanguage: 'ja, fr;q=0.4, de-CH;q=0.8', fallback: 'en' })).toBe('de')
    expect(negotiateLocale({ acceptLanguage: 'nl;q=0.5, es;q=0.5', fallback: 'en' })).toBe('nl')
    expect(negotiateLocale({ acceptLanguage: 'de;q=0, vi;q=0.1', fallback: 'en' })).toBe('vi')
    expect(negotiateLocale({ acceptLanguage: 'de;q=0', fallback: 'en' })).toBe('en')
    expect(negotiateLocale({ acceptLanguage: 'fr;q=banana, es', fallback: 'en' })).toBe('es')
  })
})

describe('parts', () => {
  it('orders Accept-Language ranges and drops the wildcard', () => {
    expect(acceptedLanguages('en-GB;q=0.7, de , *;q=0.1, fr;Q=0.9')).toEqual(['de', 'fr', 'en-GB'])
    expect(acceptedLanguages('')).toEqual([])
  })

  it('matches a tag by its primary language subtag only', () => {
    expect(localeOfTag('de-CH')).toBe('de')
    expect(localeOfTag('vi_VN')).toBe('vi')
    expect(localeOfTag('deu')).toBeUndefined()
    expect(localeOfTag('')).toBeUndefined()
  })

  it('Arabic alone is right-to-left', () => {
    expect(LOCALES.filter((l) => directionOf(l) === 'rtl')).toEqual(['ar'])
  })
})

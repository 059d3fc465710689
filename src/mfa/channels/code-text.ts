// The SMS and WhatsApp text that carries a one-time code, from the `sms` catalog area.
//
// Short on purpose: one SMS segment is 160 characters in GSM-7, which covers English, German,
// French, Spanish and Dutch as written here (accented letters outside GSM-7, like ç or ú, would
// switch the whole text to UCS-2: the catalogs avoid them in these messages where they can; a
// long SITE_NAME can still make a second segment). Vietnamese and Arabic need UCS-2 whatever we
// do, where one segment is 70 characters: their texts are shorter still.
import { translator } from '../../i18n/catalogs.ts'
import type { Locale } from '../../i18n/locales.ts'
import { spellDuration } from '../../i18n/durations.ts'

export function codeText(locale: Locale, site: string, code: string, ttlSeconds: number): string {
  return translator(locale).t('sms.code', { code, site, duration: spellDuration(ttlSeconds, locale) })
}

// "24 hours", "24 Stunden", "٢٤ ساعة": how long a link or code works, in the message's language,
// through Intl's unit formatting (the runtime's ICU data knows each language's plural forms).
import type { Locale } from '../i18n/locales.ts'

/** The largest whole unit: 7 days, 24 hours, 15 minutes, 90 seconds. */
export function spellDuration(seconds: number, locale: Locale): string {
  const [value, unit] = seconds % 86_400 === 0 && seconds >= 2 * 86_400 ? [seconds / 86_400, 'day']
    : seconds % 3600 === 0 ? [seconds / 3600, 'hour']
    : seconds % 60 === 0 ? [seconds / 60, 'minute']
    : [seconds, 'second']
  return new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'long' }).format(value)
}

// "24 hours", "24 Stunden", "٢٤ ساعة": durations in a message's language, through Intl's unit
// formatting (the runtime's ICU data knows each language's plural forms). For pages, emails and
// texts alike.
import type { Locale } from './locales.ts'

type Unit = 'second' | 'minute' | 'hour' | 'day'

function spell(value: number, unit: Unit, locale: Locale): string {
  return new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'long' }).format(value)
}

/** How long a link or code works, in its largest whole unit: 7 days, 24 hours, 15 minutes, 90 seconds. */
export function spellDuration(seconds: number, locale: Locale): string {
  if (seconds % 86_400 === 0 && seconds >= 2 * 86_400) return spell(seconds / 86_400, 'day', locale)
  if (seconds % 3600 === 0) return spell(seconds / 3600, 'hour', locale)
  if (seconds % 60 === 0) return spell(seconds / 60, 'minute', locale)
  return spell(seconds, 'second', locale)
}

/**
 * How long to wait after a limit refused a request, rounded up: 30 seconds, 4 minutes, 2 hours
 * (the steps of describeWait in src/security/rate-limits.ts, which words it for the CLI and API).
 */
export function spellWait(seconds: number, locale: Locale): string {
  if (seconds < 60) return spell(seconds, 'second', locale)
  const minutes = Math.ceil(seconds / 60)
  if (minutes < 60) return spell(minutes, 'minute', locale)
  return spell(Math.ceil(minutes / 60), 'hour', locale)
}

// The message catalogs (locales/<locale>/<area>.json: flat keys that start with `<area>.`, ICU
// MessageFormat messages; a locale's files make one catalog) and the
// translator a page renders with: messages through @formatjs/intl, dates and numbers through
// Intl for the same locale (docs/adr/0390-message-catalogs.md).
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { createIntl, createIntlCache, type IntlShape } from '@formatjs/intl'
import { PROJECT_ROOT } from '../project-root.ts'
import { directionOf, LOCALES, type Locale } from './locales.ts'

export const CATALOGS_DIR = path.join(PROJECT_ROOT, 'locales')

export type Catalog = Record<string, string>

/** The areas a locale's catalog is split into (one file each): `login`, `consent`, … */
export function catalogAreas(locale: Locale): string[] {
  return readdirSync(path.join(CATALOGS_DIR, locale)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort()
}

/** One area's messages (locales/<locale>/<area>.json). */
export function readCatalogArea(locale: Locale, area: string): Catalog {
  return JSON.parse(readFileSync(path.join(CATALOGS_DIR, locale, `${area}.json`), 'utf8')) as Catalog
}

/** A locale's whole catalog: its areas' messages together. */
export function readCatalog(locale: Locale): Catalog {
  return Object.assign({}, ...catalogAreas(locale).map((area) => readCatalogArea(locale, area))) as Catalog
}

/** Values a message's placeholders take. */
export type MessageValues = Record<string, string | number | Date>

/** Wraps a rich-text tag's content (`<strong>…</strong>` in a message) in our own markup. */
export type HtmlTag = (innerHtml: string) => string

export interface Translator {
  locale: Locale
  dir: 'ltr' | 'rtl'
  /** The message `key` with its placeholders filled in, as plain text (the template escapes it). */
  t(key: string, values?: MessageValues): string
  /**
   * The message as HTML: its text and values escaped, its rich-text tags (`<name>…</name>`)
   * replaced by `tags[name]`, markup we build ourselves.
   */
  html(key: string, values?: MessageValues, tags?: Record<string, HtmlTag>): string
  date(value: Date | number, options?: Intl.DateTimeFormatOptions): string
  number(value: number, options?: Intl.NumberFormatOptions): string
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)
}

/** An `<a>` tag for html(): the href is ours or validated by the caller, and escaped here. */
export function linkTag(href: string, attributes = ''): HtmlTag {
  return (inner) => `<a href="${escapeHtml(href)}"${attributes ? ` ${attributes}` : ''}>${inner}</a>`
}

export const strongTag: HtmlTag = (inner) => `<strong>${inner}</strong>`

// Pieces of html()'s output that are already markup; everything else is text to escape.
class Markup {
  readonly html: string
  constructor(html: string) { this.html = html }
}
function joinParts(parts: unknown): string {
  const list = Array.isArray(parts) ? parts : [parts]
  return list.map((p) => p instanceof Markup ? p.html : escapeHtml(String(p))).join('')
}

const english = readCatalog('en')
const cache = createIntlCache()
const translators = new Map<Locale, Translator>()

function createTranslator(locale: Locale): Translator {
  const intl: IntlShape<string> = createIntl({
    locale,
    messages: locale === 'en' ? english : readCatalog(locale),
    // A catalog is complete (test/unit/catalogs.test.ts); should a key still be missing, the
    // English message stands in rather than the page failing.
    onError: (err) => { if (err.code !== 'MISSING_TRANSLATION') throw err },
  }, cache)
  // In a right-to-left page each text value (a client's name, an address) is a bidi isolate
  // (U+2068 … U+2069), so its left-to-right run does not carry the punctuation around it along.
  const isolate = directionOf(locale) === 'rtl'
    ? (values: MessageValues = {}) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === 'string' ? `\u2068${v}\u2069` : v]))
    : (values: MessageValues = {}) => values
  const descriptor = (key: string) => {
    const defaultMessage = english[key]
    if (defaultMessage === undefined) throw new Error(`No message "${key}" in locales/en/`)
    return { id: key, defaultMessage }
  }
  return {
    locale,
    dir: directionOf(locale),
    t: (key, values) => String(intl.formatMessage(descriptor(key), isolate(values))),
    html(key, values = {}, tags = {}) {
      const richValues: Record<string, unknown> = { ...isolate(values) }
      for (const [name, tag] of Object.entries(tags)) richValues[name] = (chunks: unknown[]) => new Markup(tag(joinParts(chunks)))
      return joinParts(intl.formatMessage(descriptor(key), richValues as Parameters<IntlShape['formatMessage']>[1]))
    },
    date: (value, options) => new Intl.DateTimeFormat(locale, options).format(value),
    number: (value, options) => new Intl.NumberFormat(locale, options).format(value),
  }
}

/** The translator for `locale` (made once per locale and process). */
export function translator(locale: Locale): Translator {
  let found = translators.get(locale)
  if (!found) translators.set(locale, found = createTranslator(locale))
  return found
}

let serverDefault: Locale = 'en'

/** DEFAULT_LOCALE, the last source negotiation falls back to; set once by createApp. */
export function setDefaultLocale(locale: Locale): void { serverDefault = locale }
export function defaultLocale(): Locale { return serverDefault }

export { LOCALES }

// The catalogs in locales/ are complete and correct: every locale has exactly English's keys,
// each message parses as ICU MessageFormat and uses the same placeholders and tags as English,
// every key is used in src/ or interactions/, and every key the code asks for exists.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { isArgumentElement, isDateElement, isNumberElement, isPluralElement, isSelectElement, isTagElement, isTimeElement, parse, type MessageFormatElement } from '@formatjs/icu-messageformat-parser'
import { catalogAreas, linkTag, readCatalog, readCatalogArea, strongTag, translator, type Catalog } from '../../src/i18n/catalogs.ts'
import { LOCALES } from '../../src/i18n/locales.ts'
import { PROJECT_ROOT } from '../../src/project-root.ts'

/** What a message's translations must keep: its placeholders (by kind) and rich-text tags. */
function placeholdersOf(elements: MessageFormatElement[], into = new Set<string>()): Set<string> {
  for (const el of elements) {
    if (isArgumentElement(el)) into.add(`{${el.value}}`)
    else if (isNumberElement(el)) into.add(`{${el.value}, number}`)
    else if (isDateElement(el)) into.add(`{${el.value}, date}`)
    else if (isTimeElement(el)) into.add(`{${el.value}, time}`)
    else if (isTagElement(el)) { into.add(`<${el.value}>`); placeholdersOf(el.children, into) }
    else if (isPluralElement(el) || isSelectElement(el)) {
      into.add(`{${el.value}, ${isPluralElement(el) ? 'plural' : 'select'}}`)
      for (const option of Object.values(el.options)) placeholdersOf(option.value, into)
    }
  }
  return into
}

/** Every problem of these catalogs against English and the source text (empty: all is well). */
function problemsOf(catalogs: Record<string, Catalog>, sourceText: string): string[] {
  const problems: string[] = []
  const english = catalogs.en!
  const signature = (locale: string, key: string, message: string): string | undefined => {
    try {
      return [...placeholdersOf(parse(message))].sort().join(' ')
    } catch (err) {
      problems.push(`${locale}: ${key} is not ICU MessageFormat (${(err as Error).message})`)
      return undefined
    }
  }
  for (const [locale, catalog] of Object.entries(catalogs)) {
    for (const key of Object.keys(english)) if (!(key in catalog)) problems.push(`${locale}: missing ${key}`)
    for (const [key, message] of Object.entries(catalog)) {
      if (!(key in english)) { problems.push(`${locale}: extra ${key}`); continue }
      if (typeof message !== 'string' || message.trim() === '') { problems.push(`${locale}: ${key} is empty`); continue }
      const theirs = signature(locale, key, message)
      const ours = locale === 'en' ? theirs : signature('en', key, english[key]!)
      if (theirs !== undefined && ours !== undefined && theirs !== ours) problems.push(`${locale}: ${key} has ${theirs || 'no placeholders'}, English ${ours || 'none'}`)
    }
  }
  for (const key of Object.keys(english)) {
    if (!sourceText.includes(`'${key}'`) && !sourceText.includes(`"${key}"`)) problems.push(`unused: ${key}`)
  }
  for (const [, key] of sourceText.matchAll(/\b(?:t|html)\(\s*'([a-z][\w]*\.[\w.]+)'/g)) {
    if (!(key! in english)) problems.push(`asked for but not in en: ${key}`)
  }
  return [...new Set(problems)]
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name)
    if (statSync(file).isDirectory()) return name === 'generated' || name === 'node_modules' ? [] : filesUnder(file)
    return /\.(ts|tsx|eta)$/.test(name) ? [file] : []
  })
}

const sourceText = ['src', 'interactions'].flatMap((d) => filesUnder(path.join(PROJECT_ROOT, d))).map((f) => readFileSync(f, 'utf8')).join('\n')
const catalogs = Object.fromEntries(LOCALES.map((locale) => [locale, readCatalog(locale)]))

describe('message catalogs', () => {
  it('has a catalog for each locale and no other, each split into the same areas, each area holding only its own keys', () => {
    const folders = readdirSync(path.join(PROJECT_ROOT, 'locales')).sort()
    expect(folders).toEqual([...LOCALES].sort())
    for (const locale of LOCALES) {
      expect(catalogAreas(locale), locale).toEqual(catalogAreas('en'))
      for (const area of catalogAreas(locale)) {
        const strays = Object.keys(readCatalogArea(locale, area)).filter((key) => !key.startsWith(`${area}.`))
        expect(strays, `locales/${locale}/${area}.json`).toEqual([])
      }
    }
  })

  it('every catalog is complete, valid ICU with English placeholders, and every key is used', () => {
    expect(problemsOf(catalogs, sourceText)).toEqual([])
  })

  it('finds a missing, an extra, an unused and a misspelt key, a syntax error and a changed placeholder', () => {
    const en = { 'a.used': 'Hello {name}', 'a.tag': 'Read <link>this</link>', 'a.unused': 'Never shown' }
    const broken = {
      en,
      de: { 'a.used': 'Hallo {nom}', 'a.tag': 'Lies <link>dies</link', 'a.extra': 'Zu viel' },
    }
    const code = `t('a.used') html('a.tag') t('a.typo')`
    expect(problemsOf(broken, code).sort()).toEqual([
      'asked for but not in en: a.typo',
      'de: a.tag is not ICU MessageFormat (INVALID_TAG)',
      'de: a.used has {nom}, English {name}',
      'de: extra a.extra',
      'de: missing a.unused',
      'unused: a.unused',
    ].sort())
  })
})

describe('translator', () => {
  it('fills placeholders as text, and as escaped HTML with our markup for the tags', () => {
    const de = translator('de')
    expect(de.t('login.cancelTo', { client: 'A & <B>' })).toBe('Abbrechen und zu A & <B> zurückkehren')
    expect(de.html('login.lead', { client: 'A & <B>' }, { strong: strongTag })).toBe('um mit <strong>A &amp; &lt;B&gt;</strong> fortzufahren')
    expect(translator('en').html('login.register', {}, { link: linkTag('/r?a=1&b="2"') })).toBe('New here? <a href="/r?a=1&amp;b=&quot;2&quot;">Create an account</a>')
  })

  it('isolates values in right-to-left text, and only there', () => {
    expect(translator('ar').t('consent.signedInAs', { account: 'a@example.test' })).toBe('تم تسجيل الدخول باسم \u2068a@example.test\u2069.')
    expect(translator('fr').t('consent.signedInAs', { account: 'a@example.test' })).toBe('Session ouverte en tant que a@example.test.')
  })

  it('formats dates and numbers for the locale, and refuses a key English does not have', () => {
    const day = new Date(Date.UTC(2026, 11, 8, 12))
    expect(translator('de').date(day, { dateStyle: 'long', timeZone: 'UTC' })).toBe('8. Dezember 2026')
    expect(translator('fr').number(1234.5)).toBe('1\u202f234,5')
    expect(() => translator('nl').t('login.nope')).toThrow(/login.nope/)
  })
})

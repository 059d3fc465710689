// Renders the server-side pages in interactions/. Eta escapes every `<%= %>` value; raw output
// (`<%~ %>`) is used only for markup we build ourselves (the layout body, provider-made forms).
import path from 'node:path'
import { Eta } from 'eta'
import type { Context } from 'koa'
import type { Csrf } from '../security/csrf.ts'
import { defaultLocale, linkTag, strongTag, translator, type Translator } from '../i18n/catalogs.ts'
import type { Locale } from '../i18n/locales.ts'
import { languageLinks, localeOfRequest, type LanguageLink } from '../i18n/request.ts'

const templatesDir = path.resolve(import.meta.dirname, '../../interactions')

const eta = new Eta({ views: templatesDir, autoEscape: true, cache: process.env.NODE_ENV !== 'development', useWith: false })

export interface PageContext {
  /** Shown in the title and header. */
  siteName: string
  /** Value for the hidden CSRF field of every form on the page. */
  csrfToken?: string
  /** This response's CSP nonce, for the page's script tag (src/middleware/security-headers.ts sets it per request). */
  nonce?: string | undefined
  /** The page's language (src/i18n/request.ts); the server default when absent. */
  locale?: Locale
  /** The language switcher's links; none, no switcher. */
  languages?: LanguageLink[]
}

/**
 * The page context of this request: the site's name, this response's CSP nonce and, given the
 * CSRF issuer, the form token for the area's scope. The scope is derived once, by the area's CSRF
 * guard (src/middleware/csrf-guard.ts: the interaction's uid, the account area, self-service),
 * so a page cannot carry a token for another scope than the one its form is checked against.
 */
export function pageContext(ctx: Context, siteName: string, csrf?: Csrf): PageContext {
  const scope = ctx.state.csrfScope as string | undefined
  const locale = localeOfRequest(ctx)
  const page: PageContext = { siteName, nonce: ctx.state.cspNonce as string | undefined, locale, languages: languageLinks(ctx, locale) }
  if (csrf && scope) page.csrfToken = csrf.issue(ctx, scope)
  return page
}

export type PageName =
  | 'login' | 'consent' | 'error' | 'logout' | 'logged-out'
  | 'device-input' | 'device-confirm' | 'device-success'
  | 'account' | 'account-signed-out' | 'change-password'
  | 'mfa-choose' | 'mfa-code' | 'mfa-enrol' | 'mfa-enrol-totp' | 'mfa-backup-codes'
  | 'account-security' | 'account-security-totp' | 'account-security-channel' | 'account-security-code' | 'account-security-backup-codes'
  | 'mfa-webauthn' | 'account-passkey-new' | 'passkey-offer' | 'account-passkeys'
  | 'federation-error' | 'federation-link' | 'account-linked'
  | 'account-sessions' | 'account-password' | 'account-apps'
  | 'register' | 'forgot-password' | 'reset-password' | 'verify-email' | 'notice'

/**
 * The pages whose every string comes from the catalogs. The others are still written in English:
 * they say so (`lang="en"`) whatever the request asked for, and offer no language switcher.
 */
const TRANSLATED: ReadonlySet<PageName> = new Set<PageName>(['login', 'consent',
  'account', 'account-signed-out', 'account-password', 'account-linked', 'account-apps', 'account-sessions',
  'account-security', 'account-security-totp', 'account-security-channel', 'account-security-code', 'account-security-backup-codes',
  'device-input', 'device-confirm', 'device-success', 'register', 'verify-email', 'forgot-password', 'reset-password', 'mfa-choose', 'mfa-code', 'mfa-enrol', 'mfa-enrol-totp', 'mfa-backup-codes', 'mfa-webauthn', 'error', 'notice', 'logout', 'logged-out', 'change-password', 'federation-error', 'federation-link', 'passkey-offer', 'account-passkeys'])

/**
 * The translator page `name` renders with in `locale`: English until the page is translated. A
 * route that makes a page's messages (errors, notices) uses it, so they match the page around them.
 */
export function pageTranslator(name: PageName, locale: Locale | undefined): Translator {
  return translator(TRANSLATED.has(name) ? locale ?? defaultLocale() : 'en')
}

/**
 * Every template gets, besides its data and `page`, the page's language: `t(key, values)` (a
 * catalog message as text, for `<%= %>`), `html(key, values, tags)` (a message with rich-text
 * tags as markup, for `<%~ %>`), `strong` and `link(href)` (tags for html()), `i18n` (the
 * translator: dates and numbers with Intl), `locale` and `dir`.
 */
export function renderPage(name: PageName, page: PageContext, data: Record<string, unknown> = {}): string {
  const translated = TRANSLATED.has(name)
  const i18n = pageTranslator(name, page.locale)
  return eta.render(name, {
    ...data, page: translated ? page : { ...page, languages: [] }, i18n, t: i18n.t, html: i18n.html, strong: strongTag, link: linkTag, locale: i18n.locale, dir: i18n.dir,
  })
}

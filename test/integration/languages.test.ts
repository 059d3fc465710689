// The pages in the person's language, as a browser without JavaScript sees them: the language
// from ui_locales, the saved preference, the switcher's remembered choice and Accept-Language;
// <html lang dir>; ui_locales_supported in discovery and the locale claim.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, type PageResponse } from '../support/browser.ts'
import { ALICE, WEB_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import { authorizationRequest } from '../support/code-flow.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }

describe('languages (embedded)', () => {
  let iam: IamInstance
  let web: oidc.Configuration

  beforeAll(async () => {
    iam = await createIam('embedded')
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await prisma.user.update({ where: { email: ALICE.email }, data: { locale: 'nl' } })
    })
    await iam.start()
    web = await oidc.discovery(new URL(iam.issuer), 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
  })

  afterAll(async () => {
    await iam?.close()
  })

  const authorize = (extra: Record<string, string> = {}) => authorizationRequest(web, { redirect_uri: WEB_REDIRECT, scope: 'openid profile', ...extra })

  /** Follows the server's redirects, sending these headers each time. */
  const visit = (browser: HttpBrowser, url: string, headers: Record<string, string> = {}, form?: Record<string, string>): Promise<PageResponse> =>
    browser.navigate(url, { headers, ...(form ? { form } : {}) })

  const htmlTag = (body: string) => /<html\b[^>]*>/.exec(body)?.[0]
  const heading = (body: string) => /<h1>([^<]*)<\/h1>/.exec(body)?.[1]
  const switcherLink = (body: string, locale: string) => {
    const href = new RegExp(`<a href="([^"]+)" lang="${locale}" hreflang="${locale}">`).exec(body)?.[1]
    if (!href) throw new Error(`no switcher link to ${locale}:\n${body}`)
    return href.replace(/&amp;/g, '&')
  }

  it('shows the sign-in page in German when the request asks with ui_locales', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const page = await visit(browser, (await authorize({ ui_locales: 'ja de-CH en' })).url, { 'accept-language': 'fr' })
    expect(page.status).toBe(200)
    expect(htmlTag(page.body)).toBe('<html lang="de" dir="ltr">')
    expect(page.body).toContain('<title>Anmelden · ')
    expect(heading(page.body)).toBe('Anmelden')
    expect(page.body).toContain('um mit <strong>Test Web App</strong> fortzufahren')
    expect(page.body).toContain('<label for="password">Passwort</label>')
    expect(page.body).toContain('Abbrechen und zu Test Web App zurückkehren')
    expect(page.body).not.toContain('Sign in')

    // A failed attempt answers the form in the same language, and its switcher links to a page a GET can show.
    const form = formWithAction(page.body, '/login')
    const failed = await visit(browser, new URL(form.action, iam.issuer).href, {}, { ...form.fields, login: ALICE.email, password: 'wrong' })
    expect(heading(failed.body)).toBe('Anmelden')
    expect(switcherLink(failed.body, 'fr')).toMatch(/^\/interaction\/[\w-]+\?lang=fr$/)
  })

  it('shows the sign-in page right to left in Arabic', async () => {
    const page = await visit(new HttpBrowser(iam.issuer), (await authorize({ ui_locales: 'ar' })).url)
    expect(htmlTag(page.body)).toBe('<html lang="ar" dir="rtl">')
    expect(heading(page.body)).toBe('تسجيل الدخول')
    expect(page.body).toContain('<label for="password">كلمة المرور</label>')
    expect(page.body).toContain('<nav class="languages" aria-label="اللغة">')
  })

  it('follows Accept-Language when the request names no language, and the default otherwise', async () => {
    const { url } = await authorize()
    const french = await visit(new HttpBrowser(iam.issuer), url, { 'accept-language': 'ja, fr-CH;q=0.9, en;q=0.8' })
    expect(htmlTag(french.body)).toBe('<html lang="fr" dir="ltr">')
    expect(heading(french.body)).toBe('Se connecter')
    expect(french.body).toContain('<label for="password">Mot de passe</label>')

    const other = await visit(new HttpBrowser(iam.issuer), (await authorize()).url, { 'accept-language': 'ja' })
    expect(htmlTag(other.body)).toBe('<html lang="en" dir="ltr">')
    expect(heading(other.body)).toBe('Sign in')
  })

  it('remembers the choice made with the language switcher', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const english = await visit(browser, (await authorize()).url, { 'accept-language': 'en' })
    expect(heading(english.body)).toBe('Sign in')
    expect(english.body).toContain('<span lang="en" aria-current="page">English</span>')

    const spanish = await visit(browser, new URL(switcherLink(english.body, 'es'), iam.issuer).href, { 'accept-language': 'en' })
    expect(htmlTag(spanish.body)).toBe('<html lang="es" dir="ltr">')
    expect(heading(spanish.body)).toBe('Iniciar sesión')
    expect(spanish.body).toContain('<span lang="es" aria-current="page">Español</span>')

    // A later sign-in in the same browser: the choice beats Accept-Language, not ui_locales.
    const later = await visit(browser, (await authorize()).url, { 'accept-language': 'en' })
    expect(heading(later.body)).toBe('Iniciar sesión')
    const asked = await visit(browser, (await authorize({ ui_locales: 'vi' })).url, { 'accept-language': 'en' })
    expect(heading(asked.body)).toBe('Đăng nhập')

    // Another browser has not chosen.
    const fresh = await visit(new HttpBrowser(iam.issuer), (await authorize()).url, { 'accept-language': 'en' })
    expect(heading(fresh.body)).toBe('Sign in')
  })

  it('shows consent in the person\'s saved language, releases it as the locale claim, and ui_locales still wins', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const req = await authorize({ prompt: 'consent' })
    const login = await visit(browser, req.url, { 'accept-language': 'fr' })
    expect(heading(login.body)).toBe('Se connecter')
    const form = formWithAction(login.body, '/login')
    const consent = await visit(browser, new URL(form.action, iam.issuer).href, { 'accept-language': 'fr' }, { ...form.fields, login: ALICE.email, password: ALICE.password })
    expect(htmlTag(consent.body)).toBe('<html lang="nl" dir="ltr">')
    expect(heading(consent.body)).toBe('Toegang toestaan?')
    expect(consent.body).toContain('<strong>Test Web App</strong> vraagt om:')
    expect(consent.body).toMatch(/<button type="submit" class="primary">Toestaan<\/button>/)
    expect(consent.body).toMatch(/<button type="submit" class="secondary">Weigeren<\/button>/)

    const allow = formWithAction(consent.body, '/consent')
    const done = await visit(browser, new URL(allow.action, iam.issuer).href, {}, allow.fields)
    const tokens = await oidc.authorizationCodeGrant(web, new URL(done.url), { pkceCodeVerifier: req.verifier, expectedState: req.state })
    const userinfo = await oidc.fetchUserInfo(web, tokens.access_token, tokens.claims()!.sub)
    expect(userinfo.locale).toBe('nl')

    const german = await visit(browser, (await authorize({ prompt: 'consent', ui_locales: 'de' })).url)
    expect(heading(german.body)).toBe('Zugriff erlauben?')
  })

  it('shows a page outside an interaction (the account area\'s signed-out page) in the language chosen, with the switcher', async () => {
    const page = await visit(new HttpBrowser(iam.issuer), `${iam.issuer}/account/signed-out?lang=de`, { 'accept-language': 'fr' })
    expect(page.status).toBe(200)
    expect(htmlTag(page.body)).toBe('<html lang="de" dir="ltr">')
    expect(heading(page.body)).toBe('Sie sind abgemeldet')
    expect(page.body).toContain('<span lang="de" aria-current="page">Deutsch</span>')
  })

  it('lists the languages in discovery and the locale claim among the claims', async () => {
    const metadata = web.serverMetadata()
    expect(metadata.ui_locales_supported).toEqual(['en', 'de', 'fr', 'es', 'nl', 'vi', 'ar'])
    expect(metadata.claims_supported).toContain('locale')
  })
})

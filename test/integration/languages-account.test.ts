// The account area in the person's language, as a browser without JavaScript sees it: the
// language from Accept-Language, dates written for the locale, the saved preference (which then
// speaks for the account area, the sign-in pages and the locale claim), right to left in Arabic,
// and the admin API reading and setting a person's language.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, type PageResponse } from '../support/browser.ts'
import { ALICE, WEB_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import { ADMIN_TEST_CLIENT, ADMIN_TEST_REDIRECT, adminApi, personToken } from '../support/admin.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { createClient } from '../../src/clients/registry.ts'
import { ADMIN_PERMISSIONS } from '../../src/admin/permissions.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const ROOT = { login: 'root@example.test', password: 'root has a long passphrase' }

describe('the account area in the person\'s language (embedded)', () => {
  let iam: IamInstance
  let web: oidc.Configuration
  let aliceId: string
  // One browser, signed in to the account area once: the tests below run in order in it.
  let browser: HttpBrowser

  beforeAll(async () => {
    iam = await createIam('embedded')
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      aliceId = (await prisma.user.findUniqueOrThrow({ where: { email: ALICE.email } })).id
      const admin = await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])
      const root = await createUser(prisma, { email: ROOT.login, password: ROOT.password, emailVerified: true })
      await assignRole(prisma, root.id, admin.id)
      await createClient(prisma, { clientId: ADMIN_TEST_CLIENT, name: 'Admin test RP', kind: 'spa', firstParty: true, redirectUris: [ADMIN_TEST_REDIRECT] })
    })
    await iam.start()
    web = await oidc.discovery(new URL(iam.issuer), 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
    browser = new HttpBrowser(iam.issuer)
  })

  afterAll(async () => {
    await iam?.close()
  })

  const url = (path: string) => new URL(path, iam.issuer).href

  /** Follows the server's redirects, sending these headers each time. */
  const visit = (path: string, headers: Record<string, string> = {}, form?: Record<string, string>): Promise<PageResponse> =>
    browser.navigate(url(path), { headers, ...(form ? { form } : {}) })

  const htmlTag = (body: string) => /<html\b[^>]*>/.exec(body)?.[0]
  const heading = (body: string) => /<h1>([^<]*)<\/h1>/.exec(body)?.[1]
  const alert = (body: string) => /role="alert"[^>]*>([^<]*)</.exec(body)?.[1]
  const selected = (body: string) => /<option value="([^"]*)"[^>]* selected>/.exec(body)?.[1]

  it('shows the account page, signed in through the sign-in page, in German from Accept-Language', async () => {
    const german = { 'accept-language': 'de-CH, en;q=0.5' }
    const login = await visit('/account', german)
    expect(heading(login.body)).toBe('Anmelden')
    const form = formWithAction(login.body, '/login')
    const account = await visit(form.action, german, { ...form.fields, login: ALICE.email, password: ALICE.password })
    expect(account.status).toBe(200)
    expect(htmlTag(account.body)).toBe('<html lang="de" dir="ltr">')
    expect(account.body).toContain('<title>Ihr Konto · ')
    expect(heading(account.body)).toBe('Ihr Konto')
    expect(account.body).toContain('Sie sind angemeldet als <strong>Alice Example</strong>.')
    expect(account.body).toContain('<dt>Rollen</dt><dd>user</dd>')
    expect(account.body).toContain('<a href="/account/sessions">Wo Sie angemeldet sind</a>')
    expect(account.body).toContain('<button type="submit" class="secondary">Abmelden</button>')
    expect(account.body).not.toContain('Your account')
    // The language form: each language in its own name, and no choice saved yet.
    expect(account.body).toContain('<option value="nl" lang="nl">Nederlands</option>')
    expect(account.body).toContain('<option value="ar" lang="ar">العربية</option>')
    expect(selected(account.body)).toBe('')
    expect(account.body).toContain('<nav class="languages" aria-label="Sprache">')
  })

  it('writes the sessions page\'s dates for a French reader', async () => {
    const page = await visit('/account/sessions', { 'accept-language': 'fr' })
    expect(page.status).toBe(200)
    expect(htmlTag(page.body)).toBe('<html lang="fr" dir="ltr">')
    expect(heading(page.body)).toBe('Où vous êtes connecté')
    expect(page.body).toContain('<span class="tag">Cet appareil</span>')
    const times = [...page.body.matchAll(/<time datetime="([^"]+)">([^<]+)<\/time>/g)]
    expect(times.length).toBeGreaterThanOrEqual(2)
    const french = new Intl.DateTimeFormat('fr', { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' })
    for (const [, iso, text] of times) expect(text).toBe(french.format(new Date(iso!)))
    expect(page.body).toMatch(/Connecté le <time datetime="[^"]+">\d{1,2} [a-zéû]+\.? \d{4}[ ,à]+\d{2}:\d{2} UTC<\/time>\. Dernière activité le /)
  })

  it('saves Dutch as the preference: the account area, the next sign-in page and the locale claim follow it', async () => {
    const account = await visit('/account', { 'accept-language': 'de' })
    const form = formWithAction(account.body, '/account/language')
    const saved = await browser.request(url(form.action), { form: { ...form.fields, locale: 'nl' } })
    expect(saved.status).toBe(303)
    expect(saved.headers.get('location')).toBe('/account?done=language')

    // The browser still asks for German: the saved choice wins.
    const dutch = await visit('/account?done=language', { 'accept-language': 'de' })
    expect(htmlTag(dutch.body)).toBe('<html lang="nl" dir="ltr">')
    expect(heading(dutch.body)).toBe('Je account')
    expect(dutch.body).toContain('<div class="notice" role="status">Je taal is opgeslagen.</div>')
    expect(selected(dutch.body)).toBe('nl')
    const security = await visit('/account/security', { 'accept-language': 'de' })
    expect(heading(security.body)).toBe('Beveiliging')

    // A sign-in in this browser (the provider knows who it is): the sign-in page speaks Dutch.
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const authorization = oidc.buildAuthorizationUrl(web, {
      redirect_uri: WEB_REDIRECT, scope: 'openid profile', state, prompt: 'login',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const login = await visit(authorization.pathname + authorization.search, { 'accept-language': 'de' })
    expect(htmlTag(login.body)).toBe('<html lang="nl" dir="ltr">')
    expect(heading(login.body)).toBe('Inloggen')
    const loginForm = formWithAction(login.body, '/login')
    const consent = await visit(loginForm.action, { 'accept-language': 'de' }, { ...loginForm.fields, login: ALICE.email, password: ALICE.password })
    expect(heading(consent.body)).toBe('Toegang toestaan?')
    const allow = formWithAction(consent.body, '/consent')
    const done = await visit(allow.action, {}, allow.fields)
    const tokens = await oidc.authorizationCodeGrant(web, new URL(done.url), { pkceCodeVerifier: verifier, expectedState: state })
    const userinfo = await oidc.fetchUserInfo(web, tokens.access_token, tokens.claims()!.sub)
    expect(userinfo.locale).toBe('nl')
  })

  it('refuses a language it does not have with a message on the page, and keeps the saved one', async () => {
    const account = await visit('/account')
    const form = formWithAction(account.body, '/account/language')
    const refused = await browser.request(url(form.action), { form: { ...form.fields, locale: 'tlh' } })
    expect(refused.status).toBe(400)
    expect(htmlTag(refused.body)).toBe('<html lang="nl" dir="ltr">')
    expect(alert(refused.body)).toBe('Kies een van de talen uit de lijst.')
    expect(refused.body).toMatch(/<select id="locale" name="locale" aria-describedby="locale-hint language-error" aria-invalid="true">/)
    expect(selected(refused.body)).toBe('nl')
    // Without the form's token: refused before anything is read.
    const forged = await browser.request(url(form.action), { form: { csrf: 'forged', locale: 'fr' } })
    expect(forged.status).toBe(403)
    expect(selected((await visit('/account')).body)).toBe('nl')
  })

  it('words the password page\'s refusals in the saved language', async () => {
    const page = await visit('/account/password', { 'accept-language': 'en' })
    expect(heading(page.body)).toBe('Je wachtwoord wijzigen')
    const form = formWithAction(page.body, '/account/password')
    const short = await browser.request(url(form.action), { form: { ...form.fields, current: ALICE.password, password: 'kort', confirm: 'kort' } })
    expect(short.status).toBe(400)
    expect(alert(short.body)).toBe('Gebruik minstens 12 tekens.')
    const wrong = await browser.request(url(form.action), { form: { ...form.fields, current: 'not the password', password: 'a brand new passphrase', confirm: 'a brand new passphrase' } })
    expect(alert(wrong.body)).toBe('Je huidige wachtwoord klopt niet. Typ het opnieuw.')
  })

  it('goes back to the browser\'s language when the preference is cleared', async () => {
    const account = await visit('/account')
    const form = formWithAction(account.body, '/account/language')
    await browser.request(url(form.action), { form: { ...form.fields, locale: '' } })
    const spanish = await visit('/account', { 'accept-language': 'es' })
    expect(heading(spanish.body)).toBe('Tu cuenta')
    expect(selected(spanish.body)).toBe('')
  })

  it('shows the account area right to left in Arabic', async () => {
    const page = await visit('/account/apps?lang=ar')
    expect(htmlTag(page.body)).toBe('<html lang="ar" dir="rtl">')
    expect(heading(page.body)).toBe('التطبيقات التي لديها وصول')
    expect(page.body).toContain('<strong>Test Web App</strong>')
    expect(page.body).toContain('<li>معرفة هويتك عند تسجيل الدخول</li>')
    expect(page.body).toContain('<span lang="ar" aria-current="page">العربية</span>')
  })

  it('lets the admin API read and set a person\'s language, refusing one it does not have, and audits the person\'s own changes', async () => {
    const call = adminApi(iam.issuer)
    const token = await personToken(iam.issuer, ROOT, ADMIN_PERMISSIONS)
    expect((await call(token, 'GET', `/users/${aliceId}`)).json.locale).toBeNull()

    const set = await call(token, 'PATCH', `/users/${aliceId}`, { locale: 'vi' })
    expect(set.status, set.text).toBe(200)
    expect(set.json.locale).toBe('vi')
    expect(heading((await visit('/account', { 'accept-language': 'es' })).body)).toBe('Tài khoản của bạn')

    const bad = await call(token, 'PATCH', `/users/${aliceId}`, { locale: 'xx' })
    expect(bad.status).toBe(400)
    expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(bad.json.errors).toEqual([expect.objectContaining({ path: 'locale', message: expect.stringContaining('en, de, fr, es, nl, vi, ar') })])
    expect((await call(token, 'GET', `/users/${aliceId}`)).json.locale).toBe('vi')

    const created = await call(token, 'POST', '/users', { email: 'new-person@example.test', locale: 'ar' })
    expect(created.status, created.text).toBe(201)
    expect(created.json.locale).toBe('ar')
    expect((await call(token, 'PATCH', `/users/${created.json.id}`, { locale: null })).json.locale).toBeNull()

    const audit = await call(token, 'GET', `/audit?type=locale_change&userId=${aliceId}`)
    expect(audit.status, audit.text).toBe(200)
    const events = audit.json.items.map((e: { outcome: string; details: { locale?: string; reason?: string } }) => [e.outcome, e.details.locale ?? e.details.reason ?? null])
    expect(events).toEqual(expect.arrayContaining([['success', 'nl'], ['failure', 'unsupported'], ['success', null]]))
  })
})

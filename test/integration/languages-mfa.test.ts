// The second-factor, password, error, logout and federation pages in the person's language, as a
// browser without JavaScript sees them: the language from ui_locales or Accept-Language, the
// messages the routes make (a wrong code with its attempts left), <html lang dir>.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, signIn, type PageResponse } from '../support/browser.ts'
import { ALICE, ONE_TIME, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { addBackupCodes, addCodeFactor, addTotpFactor } from '../support/mfa-fixtures.ts'
import { startMailCatcher, type MailCatcher } from '../support/smtp.ts'
import { startFakeEntra, type FakeEntra } from '../support/fake-entra.ts'
import { createUser } from '../../src/identity/users.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const EMMA = { email: 'emma@example.test', password: 'emma has a long passphrase' }
const TOM = { email: 'tom@example.test', password: 'tom has a long passphrase' }
/** A local account whose email an upstream person (Microsoft, played by the fake) also claims. */
const CARLA = { email: 'carla@contoso.com', password: 'carla has a long passphrase' }

describe('languages of the second step and the pages around sign-in (embedded)', () => {
  let iam: IamInstance
  let mail: MailCatcher
  let fake: FakeEntra
  let spa: oidc.Configuration

  beforeAll(async () => {
    mail = await startMailCatcher()
    fake = await startFakeEntra()
    iam = await createIam('embedded', { env: { ...mail.env, MFA_RESEND_SECONDS: '0', ...fake.federationEnv() } })
    fake.allowRp(iam.issuer)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      const emma = await createUser(prisma, { ...EMMA, emailVerified: true })
      await addCodeFactor(prisma, emma.id, 'email', EMMA.email)
      await addBackupCodes(prisma, emma.id)
      const tom = await createUser(prisma, { ...TOM, emailVerified: true })
      await addTotpFactor(prisma, tom.id)
      await createUser(prisma, { ...CARLA, emailVerified: true })
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  })
  afterAll(async () => {
    await iam?.close()
    await mail?.close()
    await fake?.close()
  })

  const htmlTag = (body: string) => /<html\b[^>]*>/.exec(body)?.[0]
  const heading = (body: string) => /<h1>([^<]*)<\/h1>/.exec(body)?.[1]
  const alert = (page: PageResponse) => /role="alert"[^>]*>([^<]*)</.exec(page.body)?.[1]
  const choices = (page: PageResponse) => [...page.body.matchAll(/name="method" value="([^"]*)">([^<]*)</g)].map((m) => ({ value: m[1]!, label: m[2]! }))
  const post = (browser: HttpBrowser, page: PageResponse, suffix: string, fields: Record<string, string> = {}) => {
    const form = formWithAction(page.body, suffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }

  /** An authorization request with `params`, then the password: the page after it. */
  async function passwordStep(who: { email: string; password: string }, params: Record<string, string> = {}) {
    const browser = new HttpBrowser(iam.issuer)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params })
    const login = await browser.navigate(url.href)
    const page = await post(browser, login, '/login', { login: who.email, password: who.password })
    return { browser, page }
  }

  it('shows the authenticator code page in German when the request asks with ui_locales', async () => {
    const step = await passwordStep(TOM, { ui_locales: 'de' })
    const browser = step.browser
    const totp = choices(step.page)[0]!
    expect(totp.label).toMatch(/^Code aus /)
    const page = await post(browser, step.page, '/mfa/select', { method: totp.value })
    expect(htmlTag(page.body)).toBe('<html lang="de" dir="ltr">')
    expect(heading(page.body)).toBe('Bestätigen Sie, dass Sie es sind')
    expect(page.body).toContain('<label for="code">Code</label>')
    expect(page.body).toContain('>Bestätigen</button>')
    expect(page.body).toContain('>Andere Methode verwenden</button>')
    expect(page.body).not.toContain('Verify')
    // A wrong code is refused in German too.
    const wrong = await post(browser, page, '/mfa/verify', { code: '000000' })
    expect(wrong.status).toBe(400)
    expect(alert(wrong)).toMatch(/^Dieser Code ist nicht richtig\. |^Dieser Code wurde bereits verwendet\./)
  })

  it('says in French how many attempts a wrong emailed code leaves, with the plural', async () => {
    let { browser, page } = await passwordStep(EMMA, { ui_locales: 'fr' })
    expect(heading(page.body)).toBe('Confirmez votre identité')
    const email = choices(page).find((c) => c.label.startsWith('Envoyer un code par e-mail'))!
    expect(email.label).toBe('Envoyer un code par e-mail à e•••@example.test')
    const since = mail.messages.length
    page = await post(browser, page, '/mfa/select', { method: email.value })
    expect(page.body).toContain('Nous avons envoyé un code à 6 chiffres à e•••@example.test. Il expire dans 10 minutes.')
    const code = await mail.codeFor(EMMA.email, { since })
    const wrong = code === '000000' ? '111111' : '000000'
    page = await post(browser, page, '/mfa/verify', { code: wrong })
    expect(page.status).toBe(400)
    expect(alert(page)).toBe('Ce code n’est pas correct. Il reste 4 tentatives.')
    for (let i = 0; i < 3; i++) page = await post(browser, page, '/mfa/verify', { code: wrong })
    expect(alert(page)).toBe('Ce code n’est pas correct. Il reste 1 tentative.')
  })

  it('shows the choice of second steps right to left in Arabic', async () => {
    const { page } = await passwordStep(EMMA, { ui_locales: 'ar' })
    expect(htmlTag(page.body)).toBe('<html lang="ar" dir="rtl">')
    expect(heading(page.body)).toBe('تأكيد هويتك')
    const labels = choices(page).map((c) => c.label)
    expect(labels[0]).toBe('إرسال رمز بالبريد الإلكتروني إلى \u2068e•••@example.test\u2069')
    expect(labels[1]).toMatch(/^استخدام رمز احتياطي \(المتبقي: \d+\)$/)
    expect(page.body).toContain('>إلغاء تسجيل الدخول</button>')
  })

  it('asks for a new password after a one-time password in Spanish, and refuses a mismatch in Spanish', async () => {
    const { browser, page } = await passwordStep(ONE_TIME, { ui_locales: 'es' })
    expect(htmlTag(page.body)).toBe('<html lang="es" dir="ltr">')
    expect(heading(page.body)).toBe('Elija una contraseña nueva')
    expect(page.body).toContain('La contraseña que usó solo sirve una vez. Elija la suya para continuar a <strong>Test SPA</strong>.')
    expect(page.body).toContain('<label for="confirm-password">Escríbala de nuevo</label>')
    const refused = await post(browser, page, '/password', { password: 'a brand new passphrase here', confirm: 'something else entirely' })
    expect(refused.status).toBe(400)
    expect(alert(refused)).toBe('Las dos contraseñas no coinciden.')
    const changed = await post(browser, refused, '/password', { password: 'a brand new passphrase here', confirm: 'a brand new passphrase here' })
    expect(heading(changed.body)).toBe('Contraseña cambiada')
    expect(changed.body).toContain('>Continuar a Test SPA</button>')
  })

  it('offers the upstream on the sign-in page in German, and asks to link the account in French', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const authorizeUrl = (uiLocales: string) => oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', ui_locales: uiLocales }).href
    const german = await browser.navigate(authorizeUrl('de'))
    expect(german.body).toContain('>Mit Microsoft anmelden</button>')

    fake.nextUser({ oid: crypto.randomUUID(), email: CARLA.email, name: 'Carla Upstream' })
    const login = await browser.navigate(authorizeUrl('fr'))
    const leaving = await post(browser, login, '/federation/entra')
    const back = await fake.followUpstream(leaving.url)
    let page = await browser.navigate(back.url.href, back.form ? { form: back.form } : {})
    expect(htmlTag(page.body)).toBe('<html lang="fr" dir="ltr">')
    expect(heading(page.body)).toBe('Associez votre compte existant')
    expect(page.body).toContain('Vous avez déjà un compte ici sous <strong>carla@contoso.com</strong>. Saisissez une fois son mot de passe pour l’associer à votre connexion Microsoft\u00a0; ensuite, Microsoft suffit.')
    page = await post(browser, page, '/federation/entra/link', { password: 'not carla’s password' })
    expect(page.status).toBe(400)
    expect(alert(page)).toBe('Ce mot de passe n’est pas correct, ou le compte est verrouillé pour un moment après trop de tentatives échouées. Vérifiez-le et réessayez, ou réessayez plus tard.')
  })

  it('shows the 404 page in Spanish when the browser asks for it with Accept-Language', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const res = await browser.request(`${iam.issuer}/no-such-page`, { headers: { accept: 'text/html', 'accept-language': 'es-MX,es;q=0.9,en;q=0.5' } })
    expect(res.status).toBe(404)
    expect(htmlTag(res.body)).toBe('<html lang="es" dir="ltr">')
    expect(heading(res.body)).toBe('Página no encontrada')
    expect(res.body).toContain('No hay ninguna página en esta dirección. Compruebe la dirección o vaya a su cuenta.')
    expect(res.body).toContain('<a href="/account">Ir a su cuenta</a>')
    expect(res.body).toMatch(/Referencia: <code>[^<]+<\/code>/)
  })

  it('asks in Dutch whether to sign out, and says so in Dutch afterwards', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' })
    await signIn(browser, url.href, { login: ALICE.email, password: ALICE.password })
    const nl = { 'accept-language': 'nl-BE' }
    const res = await browser.request(`${iam.issuer}/session/end?client_id=spa`, { headers: nl })
    expect(res.status).toBe(200)
    expect(htmlTag(res.body)).toBe('<html lang="nl" dir="ltr">')
    expect(heading(res.body)).toBe('Afmelden?')
    expect(res.body).toContain('Als u zich afmeldt bij Identity, wordt u in deze browser afgemeld bij elke applicatie')
    expect(res.body).toContain('>Alleen afmelden bij Test SPA</button>')
    const done = await browser.request(`${iam.issuer}/session/end/success?client_id=spa`, { headers: nl })
    expect(heading(done.body)).toBe('U bent afgemeld')
    expect(done.body).toContain('U hebt zich afgemeld bij <strong>Test SPA</strong>.')
    expect(done.body).toContain('<a href="/account/login">Opnieuw aanmelden</a>')
  })

  it('refuses a form without its token in German, and shows the provider’s error page in German', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const de = { 'accept-language': 'de' }
    const refused = await browser.request(`${iam.issuer}/interaction/abc/login`, { method: 'POST', form: { login: 'x', password: 'y' }, headers: de })
    expect(refused.status).toBe(403)
    expect(htmlTag(refused.body)).toBe('<html lang="de" dir="ltr">')
    expect(heading(refused.body)).toBe('Formular abgelaufen')
    const bad = await browser.request(`${iam.issuer}/auth?client_id=nobody&response_type=code&scope=openid&redirect_uri=https://nowhere.test/cb`, { headers: de })
    expect(heading(bad.body)).toBe('Etwas ist schiefgelaufen')
    expect(bad.body).toContain('Die Anwendung, die Sie hierher geschickt hat, ist bei diesem Anmeldedienst nicht registriert.')
    expect(bad.body).toContain('Fehlercode: <code>invalid_client</code>')
  })
})

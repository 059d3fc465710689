// The device flow's pages, registration, email verification and password reset in the person's
// language, as a browser without JavaScript sees them: the language from Accept-Language,
// ui_locales or the switcher; the messages the server makes for these pages (a wrong code, a
// refused form) in the same language; <html lang dir>.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, type PageResponse } from '../support/browser.ts'
import { alertOf, h1Of } from '../support/page-text.ts'
import { ALICE, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { startMailCatcher, type MailCatcher } from '../support/smtp.ts'
import { createClient } from '../../src/clients/registry.ts'
import { createUser } from '../../src/identity/users.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const TV = { clientId: 'living-room-tv', name: 'Living Room TV', redirect: 'http://127.0.0.1/callback' }
const RITA = { email: 'rita@example.test', password: 'rita hums while the kettle boils' }
const NINA = { email: 'nina@example.test', password: 'nine lanterns drift over quiet harbours' }
/** Not verified yet: held after the right password. */
const UMA = { email: 'uma@example.test', password: 'uma counts swallows in late june' }

const linkIn = (text: string, pathname: string) => {
  const found = new RegExp(`https?://\\S+${pathname}\\?token=[A-Za-z0-9_-]+`).exec(text)?.[0]
  if (!found) throw new Error(`no ${pathname} link in:\n${text}`)
  return found
}

describe('languages of the device and self-service pages (embedded)', () => {
  let iam: IamInstance
  let mail: MailCatcher
  let tv: oidc.Configuration
  let spa: oidc.Configuration
  const url = (p: string) => `${iam.issuer}${p}`

  beforeAll(async () => {
    mail = await startMailCatcher()
    iam = await createIam('embedded', {
      env: { ...mail.env, REGISTRATION_MODE: 'open', RATE_LIMIT_REGISTRATION_IP: '1000/3600', RATE_LIMIT_RESET_IP: '1000/3600', RATE_LIMIT_RESET_ACCOUNT: '1000/3600' },
    })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await createClient(prisma, { clientId: TV.clientId, name: TV.name, kind: 'native', redirectUris: [TV.redirect] })
      await createUser(prisma, { ...RITA, emailVerified: true })
      await createUser(prisma, { ...UMA, emailVerified: false })
      await prisma.user.update({ where: { email: ALICE.email }, data: { locale: 'nl' } })
    })
    await iam.start()
    tv = await oidc.discovery(new URL(iam.issuer), TV.clientId, undefined, oidc.None(), insecure)
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  })

  afterAll(async () => {
    await iam?.close()
    await mail?.close()
  })

  const htmlTag = (body: string) => /<html\b[^>]*>/.exec(body)?.[0]

  /** Submits the page's form whose action ends with `suffix`, sending `headers`. */
  function submit(browser: HttpBrowser, page: PageResponse, suffix: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
    const form = formWithAction(page.body, suffix)
    return browser.request(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields }, headers })
  }

  describe('device flow', () => {
    it('shows the code input page in German from Accept-Language, and the confirm page in the same language', async () => {
      const device = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' })
      const browser = new HttpBrowser(iam.issuer)
      const german = { 'accept-language': 'de-AT, en;q=0.5' }
      const input = await browser.request(device.verification_uri, { headers: german })
      expect(input.status).toBe(200)
      expect(htmlTag(input.body)).toBe('<html lang="de" dir="ltr">')
      expect(h1Of(input.body)).toBe('Gerät verbinden')
      expect(input.body).toContain('<title>Gerät verbinden · ')
      expect(input.body).toContain('<p class="lead">Geben Sie den Code ein, den Ihr Gerät anzeigt.</p>')
      expect(input.body).toContain('<button type="submit" class="primary">Weiter</button>')
      expect(input.body).toContain('<a href="/device?lang=fr" lang="fr" hreflang="fr">Français</a>')

      const confirm = await submit(browser, input, '/device', { user_code: device.user_code }, german)
      expect(confirm.status).toBe(200)
      expect(h1Of(confirm.body)).toBe('Gerät bestätigen')
      expect(confirm.body).toContain(`<strong>${TV.name}</strong> möchte sich auf einem Gerät anmelden.`)
      expect(confirm.body).toContain(`Prüfen Sie, ob das Gerät diesen Code anzeigt: <code class="user-code">${device.user_code}</code>`)
      expect(confirm.body).toContain('name="abort" value="yes">Abbrechen</button>')
    })

    it('says a wrong user code is not valid in French, the language chosen with the switcher', async () => {
      const browser = new HttpBrowser(iam.issuer)
      const input = await browser.request(url('/device?lang=fr'), { headers: { 'accept-language': 'en' } })
      expect(h1Of(input.body)).toBe('Connecter un appareil')
      const wrong = await submit(browser, input, '/device', { user_code: 'BCDF-GHJK' }, { 'accept-language': 'en' })
      expect(wrong.status).toBe(200)
      expect(htmlTag(wrong.body)).toBe('<html lang="fr" dir="ltr">')
      expect(alertOf(wrong.body)).toBe('Ce code n’est pas valide. Vérifiez-le et réessayez.')
      expect(wrong.body).toContain('aria-invalid="true"')
    })

    it('ends on the success page in the signed-in person\'s saved language (Dutch), whatever the browser sends', async () => {
      const device = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' })
      const polling = oidc.pollDeviceAuthorizationGrant(tv, device, undefined, { signal: AbortSignal.timeout(45_000) })
      polling.catch(() => {}) // asserted below
      const browser = new HttpBrowser(iam.issuer)
      const input = await browser.navigate(device.verification_uri)
      expect(h1Of(input.body)).toBe('Connect a device')
      const confirm = await submit(browser, input, '/device', { user_code: device.user_code })
      const confirmForm = formWithAction(confirm.body, '/device')
      let res = await browser.navigate(new URL(confirmForm.action, iam.issuer).href, { form: { ...confirmForm.fields, confirm: 'yes' } })
      // The sign-in (in English: nothing says otherwise yet) and consent, until the device page.
      for (let step = 0; step < 4; step++) {
        if (res.body.includes('name="password"')) {
          const form = formWithAction(res.body, '/login')
          res = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: ALICE.email, password: ALICE.password } })
        } else if (/action="\/interaction\/[^"]+\/consent"/.test(res.body)) {
          const form = formWithAction(res.body, '/consent')
          res = await browser.navigate(new URL(form.action, iam.issuer).href, { form: form.fields })
        } else break
      }
      expect(res.status).toBe(200)
      expect(htmlTag(res.body)).toBe('<html lang="nl" dir="ltr">')
      expect(h1Of(res.body)).toBe('Apparaat gekoppeld')
      expect(res.body).toContain(`<strong>${TV.name}</strong> is nu ingelogd op uw apparaat. U kunt deze pagina sluiten.`)
      expect((await polling).access_token).toBeTruthy()
    })

    it('shows the confirm page right to left in Arabic, the code kept as one left-to-right run', async () => {
      const device = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' })
      const browser = new HttpBrowser(iam.issuer)
      const arabic = { 'accept-language': 'ar' }
      const input = await browser.request(device.verification_uri, { headers: arabic })
      const confirm = await submit(browser, input, '/device', { user_code: device.user_code }, arabic)
      expect(htmlTag(confirm.body)).toBe('<html lang="ar" dir="rtl">')
      expect(h1Of(confirm.body)).toBe('تأكيد الجهاز')
      expect(confirm.body).toContain(`<code class="user-code">\u2068${device.user_code}\u2069</code>`)
    })
  })

  describe('registration and email verification', () => {
    it('shows the registration page in Spanish from ui_locales, refused fields in Spanish, and the verification page in Dutch', async () => {
      const browser = new HttpBrowser(iam.issuer)
      const verifier = oidc.randomPKCECodeVerifier()
      const authorize = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid email', ui_locales: 'es', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
      const login = await browser.navigate(authorize.href)
      const uid = /\/interaction\/([^/"]+)\/login"/.exec(login.body)![1]!
      expect(login.body).toContain(`href="/interaction/${uid}/register"`)

      // ui_locales outranks the browser's own languages.
      const form = await browser.request(url(`/interaction/${uid}/register`), { headers: { 'accept-language': 'de' } })
      expect(form.status).toBe(200)
      expect(htmlTag(form.body)).toBe('<html lang="es" dir="ltr">')
      expect(h1Of(form.body)).toBe('Crear una cuenta')
      expect(form.body).toContain('<label for="email">Correo electrónico</label>')
      expect(form.body).toContain('<label for="name">Tu nombre (opcional)</label>')
      expect(form.body).toContain('Usa al menos 12 caracteres. Unas cuantas palabras sin relación entre sí forman una frase de contraseña segura y fácil de recordar.')
      expect(form.body).toContain('>Ya tengo una cuenta: iniciar sesión</a>')

      const badEmail = await submit(browser, form, '/register', { email: 'not an address', password: NINA.password, confirm: NINA.password })
      expect(badEmail.status).toBe(400)
      expect(htmlTag(badEmail.body)).toBe('<html lang="es" dir="ltr">')
      expect(alertOf(badEmail.body)).toBe('Introduce una dirección de correo electrónico válida, como nombre@example.com.')
      expect(badEmail.body).toMatch(/id="email"[^>]*aria-invalid="true"/)
      const common = await submit(browser, badEmail, '/register', { email: NINA.email, password: 'qwertyuiop123', confirm: 'qwertyuiop123' })
      expect(alertOf(common.body)).toBe('Esta contraseña aparece en una lista de contraseñas comunes o filtradas, así que los atacantes la prueban primero. Elige otra: unas cuantas palabras sin relación entre sí forman una frase de contraseña segura.')
      const mismatch = await submit(browser, common, '/register', { email: NINA.email, password: NINA.password, confirm: `${NINA.password}.` })
      expect(alertOf(mismatch.body)).toBe('Las dos contraseñas no coinciden.')

      const since = mail.messages.length
      const done = await submit(browser, mismatch, '/register', { email: NINA.email, password: NINA.password, confirm: NINA.password })
      expect(done.status).toBe(200)
      expect(h1Of(done.body)).toBe('Revisa tu correo')
      expect(done.body).toContain(`Hemos enviado un correo a ${NINA.email}. Abre el enlace que contiene para confirmar tu dirección y terminar de crear tu cuenta; funciona durante 24 horas.`)
      const link = linkIn((await mail.nextTo(NINA.email, { since })).text, '/self-service/verify-email')

      // The emailed link opens in whatever browser the person reads mail in: its language.
      const verify = await new HttpBrowser(iam.issuer).request(link, { headers: { 'accept-language': 'nl-BE, nl;q=0.9' } })
      expect(verify.status).toBe(200)
      expect(htmlTag(verify.body)).toBe('<html lang="nl" dir="ltr">')
      expect(h1Of(verify.body)).toBe('Bevestig uw e-mailadres')
      expect(verify.body).toContain(`Druk op de knop om te bevestigen dat <strong>${NINA.email}</strong> uw adres is.`)
      expect(verify.body).toContain('<button type="submit" class="primary">Mijn e-mailadres bevestigen</button>')
    })
  })

  it('holds an unverified account with a page in French, the language ui_locales asked for', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const verifier = oidc.randomPKCECodeVerifier()
    const authorize = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', ui_locales: 'fr', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const login = await browser.navigate(authorize.href)
    const held = await submit(browser, login, '/login', { login: UMA.email, password: UMA.password })
    expect(held.status).toBe(403)
    expect(htmlTag(held.body)).toBe('<html lang="fr" dir="ltr">')
    expect(h1Of(held.body)).toBe('Confirmez d’abord votre adresse e-mail')
    expect(held.body).toContain('Votre mot de passe est correct, mais votre adresse e-mail u••@example.test n’est pas encore confirmée.')
    expect(held.body).toContain('<button type="submit" class="secondary">Envoyer un nouveau lien</button>')
    expect(held.body).toContain('>Retour à la connexion</a>')
  })

  describe('password reset', () => {
    it('shows the forgot-password page right to left in Arabic, its refusal in Arabic too', async () => {
      const browser = new HttpBrowser(iam.issuer)
      const arabic = { 'accept-language': 'ar' }
      const form = await browser.request(url('/self-service/forgot-password'), { headers: arabic })
      expect(form.status).toBe(200)
      expect(htmlTag(form.body)).toBe('<html lang="ar" dir="rtl">')
      expect(h1Of(form.body)).toBe('إعادة تعيين كلمة المرور')
      expect(form.body).toContain('<label for="email">عنوان البريد الإلكتروني</label>')
      expect(form.body).toContain('<nav class="languages" aria-label="اللغة">')
      const bad = await submit(browser, form, '/self-service/forgot-password', { email: 'not an address' }, arabic)
      expect(bad.status).toBe(400)
      expect(htmlTag(bad.body)).toBe('<html lang="ar" dir="rtl">')
      expect(alertOf(bad.body)).toBe('أدخل عنوان بريد إلكتروني صالحًا، مثل name@example.com.')
    })

    it('answers a reset request with its notice in German, the link lifetime in German words, and a mangled link with a German page', async () => {
      const browser = new HttpBrowser(iam.issuer)
      const german = { 'accept-language': 'de' }
      const form = await browser.request(url('/self-service/forgot-password'), { headers: german })
      const sent = await submit(browser, form, '/self-service/forgot-password', { email: 'nobody@example.test' }, german)
      expect(sent.status).toBe(200)
      expect(htmlTag(sent.body)).toBe('<html lang="de" dir="ltr">')
      expect(h1Of(sent.body)).toBe('Prüfen Sie Ihre E-Mails')
      expect(sent.body).toContain('Der Link funktioniert einmal, 15 Minuten lang.')
      expect(sent.body).toContain('<a href="/account">Zurück zur Anmeldung</a>')

      const mangled = await browser.request(url('/self-service/reset-password?token=not-a-token'), { headers: german })
      expect(mangled.status).toBe(404)
      expect(h1Of(mangled.body)).toBe('Link nicht verwendbar')
      expect(mangled.body).toContain('Fordern Sie einen neuen Link an, um Ihr Passwort zu wählen; er funktioniert 15 Minuten lang.')
      expect(mangled.body).toContain('<a href="/self-service/forgot-password">Neuen Link anfordern</a>')
    })

    it('shows the reset-password page in Vietnamese, with the password rules and a mismatch in Vietnamese', async () => {
      const since = mail.messages.length
      const asking = new HttpBrowser(iam.issuer)
      const form = await asking.request(url('/self-service/forgot-password'))
      await submit(asking, form, '/self-service/forgot-password', { email: RITA.email })
      const link = linkIn((await mail.nextTo(RITA.email, { since })).text, '/self-service/reset-password')

      const browser = new HttpBrowser(iam.issuer)
      const vietnamese = { 'accept-language': 'vi' }
      const page = await browser.request(link, { headers: vietnamese })
      expect(page.status).toBe(200)
      expect(htmlTag(page.body)).toBe('<html lang="vi" dir="ltr">')
      expect(h1Of(page.body)).toBe('Chọn mật khẩu mới')
      expect(page.body).toContain(`Cho tài khoản <strong>${RITA.email}</strong>. Sau khi đổi mật khẩu, bạn sẽ bị đăng xuất khỏi mọi nơi.`)
      expect(page.body).toContain('<p class="hint" id="new-password-hint">Dùng ít nhất 12 ký tự.')
      expect(page.body).toContain('<a href="/account">Hủy</a>')
      const short = await submit(browser, page, '/self-service/reset-password', { password: 'short', confirm: 'short' }, vietnamese)
      expect(short.status).toBe(400)
      expect(alertOf(short.body)).toBe('Dùng ít nhất 12 ký tự.')
      const mismatch = await submit(browser, short, '/self-service/reset-password', { password: 'copper kites above the salt marsh', confirm: 'copper kites above the salt' }, vietnamese)
      expect(alertOf(mismatch.body)).toBe('Hai mật khẩu không khớp.')
      expect(mismatch.body).toMatch(/id="confirm-password"[^>]*aria-invalid="true"/)
    })
  })
})

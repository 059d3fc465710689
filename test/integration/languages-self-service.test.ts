// The device flow's pages, registration, email verification and password reset in the person's
// language, as a browser without JavaScript sees them: the language from Accept-Language,
// ui_locales or the switcher; the messages the server makes for these pages (a wrong code, a
// refused form) in the same language; <html lang dir>.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, type PageResponse } from '../support/browser.ts'
import { alertOf, h1Of } from '../support/page-text.ts'
import { createFixtures } from '../support/fixtures.ts'
import { createClient } from '../../src/clients/registry.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const TV = { clientId: 'living-room-tv', name: 'Living Room TV', redirect: 'http://127.0.0.1/callback' }

describe('languages of the device and self-service pages (embedded)', () => {
  let iam: IamInstance
  let tv: oidc.Configuration
  const url = (p: string) => `${iam.issuer}${p}`

  beforeAll(async () => {
    iam = await createIam('embedded')
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await createClient(prisma, { clientId: TV.clientId, name: TV.name, kind: 'native', redirectUris: [TV.redirect] })
    })
    await iam.start()
    tv = await oidc.discovery(new URL(iam.issuer), TV.clientId, undefined, oidc.None(), insecure)
  })

  afterAll(async () => {
    await iam?.close()
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
})

// The messages that leave the server, in the person's language: emails (received by a real SMTP
// server) with a plain-text and an HTML part carrying the same content, the HTML with the
// language and direction of its locale; an invitation that says who invited and to what; an SMS
// code (received by the fake Vonage) in German. The saved preference (User.locale) decides, else
// the language of the page that made us send.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction } from '../support/browser.ts'
import { WEB_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import { startMailCatcher, type MailCatcher, type ReceivedMail } from '../support/smtp.ts'
import { startFakeVonage, type FakeVonage } from '../support/fake-vonage.ts'
import { createUser } from '../../src/identity/users.ts'

const root = path.resolve(import.meta.dirname, '../..')
const insecure = { execute: [oidc.allowInsecureRequests] }
const SITE_NAME = 'Acme ID'
const PASSWORD = 'seven quiet herons fish at dawn'
/** Saved French; the browser asks for German: the saved preference wins. */
const FLORENT = { email: 'florent@example.test', locale: 'fr' }
/** No saved preference: the page's language (Arabic) decides. */
const AMIRA = { email: 'amira@example.test' }
/** Saved German, with an SMS factor. */
const DIETER = { email: 'dieter@example.test', locale: 'de', phone: '+491701234567' }
const ADA = { email: 'ada@example.test', name: 'Ada Lovelace' }
const INVITED = 'ivo@example.test'

const linkIn = (text: string, pathname: string) => {
  const found = new RegExp(`https?://[^\\s"<]+${pathname.replace(/\//g, '\\/')}\\?token=[A-Za-z0-9_-]+`).exec(text)?.[0]
  if (!found) throw new Error(`no ${pathname} link in:\n${text}`)
  return found
}
const htmlTag = (html: string) => /<html\b[^>]*>/.exec(html)?.[0]
/** What a reader of the HTML part sees: tags dropped, entities and whitespace undone. */
const visibleText = (html: string) => html.replace(/<title>[\s\S]*?<\/title>/, '').replace(/<[^>]+>/g, ' ')
  .replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/[ \t\r\n]+/g, ' ').trim()
/** The text part's paragraphs without its links (the HTML has them as buttons and hrefs). */
const paragraphs = (text: string) => text.split(/\n\n/)
  .map((p) => p.replace(/^-- \n/, '').split('\n').filter((line) => !/^https?:/.test(line)).join(' ').trim()).filter(Boolean)

function runCli(env: Record<string, string>, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/main.ts', ...args], { cwd: root, env: { ...process.env, ...env } })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d })
    child.stderr.on('data', (d: Buffer) => { out += d })
    child.on('exit', (code) => resolve({ code: code ?? -1, out }))
  })
}

describe('messages in the person\'s language (embedded)', () => {
  let iam: IamInstance
  let mail: MailCatcher
  let vonage: FakeVonage
  let web: oidc.Configuration
  let dieterFactor = ''
  let invitation: ReceivedMail

  beforeAll(async () => {
    mail = await startMailCatcher()
    vonage = await startFakeVonage()
    iam = await createIam('embedded', { env: { ...mail.env, ...vonage.env, SITE_NAME, REGISTRATION_MODE: 'invite' } })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await createUser(prisma, { email: FLORENT.email, password: PASSWORD, emailVerified: true })
      await prisma.user.update({ where: { email: FLORENT.email }, data: { locale: FLORENT.locale } })
      await createUser(prisma, { email: AMIRA.email, password: PASSWORD, emailVerified: true })
      const dieter = await createUser(prisma, { email: DIETER.email, password: PASSWORD, emailVerified: true })
      await prisma.user.update({ where: { id: dieter.id }, data: { locale: DIETER.locale } })
      dieterFactor = (await prisma.mfaFactor.create({ data: { userId: dieter.id, kind: 'sms', label: 'Handy', destination: DIETER.phone, verified: true } })).id
      await createUser(prisma, { email: ADA.email, displayName: ADA.name, password: PASSWORD, emailVerified: true })
      await prisma.tenant.create({ data: { slug: 'acme-research', name: 'Acme Research', registrationMode: 'invite' } })
    })
    // The command line works on the database while the embedded server is not running.
    const since = mail.messages.length
    const invited = await runCli(iam.env, ['user', 'invite', INVITED, '--send', '--inviter', ADA.email, '--tenant', 'acme-research'])
    expect(invited.code, invited.out).toBe(0)
    invitation = await mail.nextTo(INVITED, { since })
    await iam.start()
    web = await oidc.discovery(new URL(iam.issuer), 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
  }, 120_000)

  afterAll(async () => {
    await iam?.close()
    await mail?.close()
    await vonage?.close()
  })

  /** Asks for a reset link on the "Forgot your password?" page, the browser saying `acceptLanguage`. */
  async function askForReset(email: string, acceptLanguage: string): Promise<ReceivedMail> {
    const browser = new HttpBrowser(iam.issuer)
    const headers = { 'accept-language': acceptLanguage }
    const page = await browser.request(`${iam.issuer}/self-service/forgot-password`, { headers })
    const form = formWithAction(page.body, '/self-service/forgot-password')
    const since = mail.messages.length
    const sent = await browser.request(new URL(form.action, iam.issuer).href, { headers, form: { ...form.fields, email } })
    expect(sent.status).toBeLessThan(400)
    return mail.nextTo(email, { since })
  }

  it('writes in the saved language (French) with a text and an HTML part of the same content', async () => {
    const message = await askForReset(FLORENT.email, 'de')
    expect(message.contentType).toBe('multipart/alternative')
    expect(message.subject).toBe('Choisissez un nouveau mot de passe pour Acme ID')
    expect(message.text).toContain('Quelqu’un (vous, espérons-le) a demandé à réinitialiser le mot de passe de votre compte sur Acme ID, florent@example.test.')
    expect(message.text).toContain('Si vous ne l’avez pas demandé, ignorez cet e-mail\u00a0: votre mot de passe reste inchangé.')
    expect(message.text.replace(/https?:\/\/\S+/g, '')).not.toMatch(/Passwort|password/i)

    expect(htmlTag(message.html)).toBe('<html lang="fr" dir="ltr">')
    expect(message.html).toContain('<title>Choisissez un nouveau mot de passe pour Acme ID</title>')
    // Every paragraph of the text is in the HTML too, and the same absolute link is its button.
    const seen = visibleText(message.html)
    for (const paragraph of paragraphs(message.text)) expect(seen).toContain(paragraph)
    const link = linkIn(message.text, '/self-service/reset-password')
    expect(link.startsWith(`${iam.issuer}/`)).toBe(true)
    expect(message.html).toContain(`<a href="${link}"`)
    expect(seen).toContain('Choisir un nouveau mot de passe')

    // The link works: it opens the reset form.
    const form = await new HttpBrowser(iam.issuer).navigate(link)
    expect(form.status).toBe(200)
  })

  it('writes in the page\'s language when nothing is saved, and Arabic right to left', async () => {
    const message = await askForReset(AMIRA.email, 'ar, en;q=0.5')
    // Values are bidi isolates (U+2068 … U+2069) in right-to-left text: the site's Latin name too.
    expect(message.subject).toBe('اختر كلمة مرور جديدة لحسابك في \u2068Acme ID\u2069')
    expect(htmlTag(message.html)).toBe('<html lang="ar" dir="rtl">')
    expect(message.html).toMatch(/<td dir="rtl"/)
    expect(message.text).toContain('افتح الرابط أدناه لاختيار كلمة مرور جديدة.')
    // The address is isolated, so its left-to-right run keeps the Arabic punctuation in place.
    expect(message.text).toContain('\u2068amira@example.test\u2069')
    linkIn(message.text, '/self-service/reset-password')
  })

  it('an invitation says who invited, to which site and tenant, and the link works', async () => {
    expect(invitation.subject).toBe('Ada Lovelace invited you to Acme ID')
    expect(invitation.text).toContain(`Ada Lovelace invited you to create an account on Acme ID for ${INVITED}.`)
    expect(invitation.text).toContain('Your account will belong to Acme Research.')
    expect(invitation.text).not.toMatch(/\ban Acme\b|\ba Acme\b/)
    expect(htmlTag(invitation.html)).toBe('<html lang="en" dir="ltr">')
    expect(visibleText(invitation.html)).toContain(`Ada Lovelace invited you to create an account on Acme ID for ${INVITED}.`)
    const link = linkIn(invitation.text, '/self-service/invitation')
    expect(invitation.html).toContain(`<a href="${link}"`)
    const form = await new HttpBrowser(iam.issuer).navigate(link)
    expect(form.status).toBe(200)
  })

  it('texts the sign-in code in the saved language (German)', async () => {
    const browser = new HttpBrowser(iam.issuer)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(web, {
      redirect_uri: WEB_REDIRECT, scope: 'openid', state: oidc.randomState(),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const login = await browser.navigate(url.href)
    const form = formWithAction(login.body, '/login')
    const choose = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: DIETER.email, password: PASSWORD } })
    const select = formWithAction(choose.body, '/mfa/select')
    const since = vonage.requests.length
    const codePage = await browser.navigate(new URL(select.action, iam.issuer).href, { form: { ...select.fields, method: dieterFactor } })
    expect(codePage.status).toBe(200)
    const code = await vonage.codeFor(DIETER.phone, since)
    const text = String(vonage.requests.at(-1)!.body!.text)
    expect(text).toBe(`${code} ist Ihr Code für Acme ID. Er ist 10 Minuten gültig.`)
    // One SMS segment of GSM-7 (ü is in its basic set).
    expect(text.length).toBeLessThanOrEqual(160)
  })
})

// Registering clients through the admin console (/admin) in headless Chromium against the real
// server (PostgreSQL + Redis), the way a person does it, and then running each client's flow as
// its relying party would (openid-client, test/support/client-flows.ts):
//   - a web app that sends its secret in the request body (client_secret_post) and also uses
//     client credentials;
//   - a device-only native client: with the code grant unticked, no redirect URI field is shown;
//   - a legacy confidential client brought over with its own id and (short) secret, PKCE off: the
//     warning banner while filling the form, the API's warning, the badge in the list;
//   - a private_key_jwt client from a pasted JWK Set, after the API's field errors (a private key,
//     a logo on plain http) shown next to their fields;
//   - a secret rotation that keeps the old secret working for a day: both secrets work;
//   - disabling and deleting ask first, saying that tokens are revoked at once;
//   - registering asks for a recent second factor (RFC 9470 step-up): the console re-authorizes,
//     the person confirms and repeats the action;
//   - a client that registered itself is marked so in the list;
//   - a built-in client (the console's own) is shown as protected, with nothing to change it.
// Assertions are on what a person sees (text, labels, roles). Screenshots go to test-results/.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build } from 'vite'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { createIam, type IamInstance } from '../support/iam.ts'
import { launchChromium, openSession } from '../support/chromium.ts'
import { addTotpFactor, totpCode } from '../support/mfa-fixtures.ts'
import { createFixtures } from '../support/fixtures.ts'
import { clientKey, runClientFlow } from '../support/client-flows.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { ADMIN_PERMISSIONS } from '../../src/seed.ts'
import { createClient } from '../../src/clients/registry.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const RESULTS = path.join(ROOT, 'test-results')
const DESKTOP = { width: 1280, height: 1000 }
const LIN = { email: 'lin@example.test', displayName: 'Lin Admin' }
const ADA = { email: 'ada@example.test', password: 'admin console passphrase 42', displayName: 'Ada Admin' }
const LEDGER_REDIRECT = 'http://localhost:8080/ledger/callback'
const KEY_REDIRECT = 'http://localhost:8080/keys/callback'
const LEGACY = { id: 'legacy-portal:prod/01', secret: 'old-portal-secret-1234', redirect: 'http://localhost:8080/portal/redirect_uri' }

describe('admin console in Chromium: registering every kind of client (postgres-redis)', () => {
  let iam: IamInstance
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let problems: string[]
  let totpSecret: string
  const ledger = { id: '', secret: '' }

  beforeAll(async () => {
    mkdirSync(RESULTS, { recursive: true })
    // Not emptied first: another console test file may be serving this directory right now.
    await build({ configFile: path.join(ROOT, 'src/admin/console/vite.config.ts'), logLevel: 'warn', build: { emptyOutDir: false } })
    iam = await createIam('postgres-redis', { issuerHost: 'localhost' })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma) // Alice, who signs in to the registered clients
      const admin = await ensureRole(prisma, 'admin', ADMIN_PERMISSIONS, 'Full administrative access')
      const ada = await createUser(prisma, { email: ADA.email, password: ADA.password, displayName: ADA.displayName, emailVerified: true })
      await assignRole(prisma, ada.id, admin.id)
      // Registering a client asks for a recent second factor: Ada signs in with one.
      totpSecret = await addTotpFactor(prisma, ada.id)
      const lin = await createUser(prisma, { email: LIN.email, password: ADA.password, displayName: LIN.displayName, emailVerified: true })
      await assignRole(prisma, lin.id, admin.id)
      // A tool that registered itself (RFC 7591): its row says so.
      await createClient(prisma, { clientId: 'mcp-tool-7f3a', name: 'Notes assistant', kind: 'native', redirectUris: ['http://127.0.0.1:33418/callback'] })
      await prisma.client.update({ where: { id: 'mcp-tool-7f3a' }, data: { registeredBy: 'dynamic' } })
    })
    await iam.start()
    browser = await launchChromium()
    ;({ context, page, problems } = await openSession(browser, { viewport: DESKTOP }))
  })

  afterAll(async () => {
    await context?.close()
    await browser?.close()
    await iam?.close()
  })

  const nav = () => page.getByRole('navigation', { name: 'Sections' })
  const newForm = () => page.locator('form[aria-labelledby="new-client-h"]')
  const row = (name: string) => page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) })

  async function openClients() {
    await nav().getByRole('link', { name: 'Clients', exact: true }).click()
    await page.getByRole('heading', { name: 'Clients', level: 1 }).waitFor()
  }

  async function startNewClient(name: string) {
    await openClients()
    await page.getByRole('button', { name: 'New client' }).click()
    await newForm().getByLabel('Name', { exact: true }).fill(name)
  }

  /** After "Create client": the id the console reports, and the secret if one is shown. */
  async function created(name: string): Promise<{ id: string; secret: string | undefined }> {
    const status = page.getByRole('status').filter({ hasText: `Client ${name} created` })
    await status.waitFor()
    const id = (await status.locator('code').textContent())!
    const box = page.getByRole('alert').filter({ hasText: 'Copy this client secret now.' })
    const secret = await box.count() ? await box.getByLabel('Client secret').inputValue() : undefined
    return { id, secret }
  }

  it('signs Ada in with her second factor', async () => {
    await page.goto(`${iam.issuer}/admin/`)
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
    await page.getByLabel('Email or username', { exact: true }).fill(ADA.email)
    await page.getByLabel('Password', { exact: true }).fill(ADA.password)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.getByRole('heading', { name: 'Verify it’s you', level: 1 }).waitFor()
    await page.getByRole('button', { name: 'Code from Authenticator app' }).click()
    await page.getByLabel('Code', { exact: true }).fill(await totpCode(totpSecret))
    await page.getByRole('button', { name: 'Verify', exact: true }).click()
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor()
  })

  it('registers a web app that posts its secret and also uses client credentials; both flows work', async () => {
    await startNewClient('Ledger')
    const form = newForm()
    // A web app starts with the code and refresh grants; every grant a web app may use is offered, explained.
    const grants = form.getByRole('group', { name: 'Grant types' })
    expect(await grants.getByLabel(/^Authorization code/).isChecked()).toBe(true)
    expect(await grants.getByLabel(/^Refresh token/).isChecked()).toBe(true)
    await grants.getByText('For TVs and CLIs without a browser').waitFor()
    await grants.getByLabel(/^Client credentials/).check()
    // Client credentials brings the admin API permissions (Ada is a global administrator).
    await form.getByRole('group', { name: 'Admin API permissions' }).waitFor()
    await form.getByLabel('Redirect URIs', { exact: true }).fill(LEDGER_REDIRECT)
    await form.getByLabel('Token endpoint authentication').selectOption('client_secret_post')
    await form.getByText('For libraries and modules that send the secret as a form field.').waitFor()
    // A secret method: a secret can be imported; left empty, one is made.
    await form.getByLabel('Existing secret (optional)').waitFor()
    await page.screenshot({ path: path.join(RESULTS, 'admin-console-clients-web-form.png'), fullPage: true })
    await form.getByRole('button', { name: 'Create client' }).click()

    const { id, secret } = await created('Ledger')
    expect(secret).toBeDefined()
    Object.assign(ledger, { id, secret })
    const listed = row('Ledger')
    await listed.getByText('code, refresh, client credentials').waitFor()
    await listed.getByText('active').waitFor()

    const code = await runClientFlow(iam.issuer, { clientId: id, authMethod: 'client_secret_post', secret: secret!, redirectUri: LEDGER_REDIRECT }, 'code')
    expect(code).toMatchObject({ ok: true, refreshed: true })
    const machine = await runClientFlow(iam.issuer, { clientId: id, authMethod: 'client_secret_post', secret: secret! }, 'client-credentials')
    expect(machine.ok).toBe(true)
  })

  it('registers a device-only native client: no redirect URI is asked for, no secret is made', async () => {
    await startNewClient('Living-room TV')
    const form = newForm()
    await form.getByLabel('Kind').selectOption('native')
    // A public client: no authentication method to choose, no keys.
    expect(await form.getByLabel('Token endpoint authentication').count()).toBe(0)
    await form.getByText('cannot keep a secret').first().waitFor()
    const grants = form.getByRole('group', { name: 'Grant types' })
    // A native app may not use client credentials: not offered.
    expect(await grants.getByLabel(/^Client credentials/).count()).toBe(0)
    expect(await grants.getByLabel(/^Device code/).isChecked()).toBe(true)
    await form.getByLabel('Redirect URIs', { exact: true }).waitFor()
    await grants.getByLabel(/^Authorization code/).uncheck()
    expect(await form.getByLabel('Redirect URIs', { exact: true }).count()).toBe(0)
    // Nor the settings of browser sign-ins (PKCE, PAR, logout redirects).
    expect(await form.getByText('Require pushed authorization requests (PAR)').count()).toBe(0)
    expect(await form.getByLabel('Post-logout redirect URIs').count()).toBe(0)
    await page.screenshot({ path: path.join(RESULTS, 'admin-console-clients-device-form.png'), fullPage: true })
    await form.getByRole('button', { name: 'Create client' }).click()

    const { id, secret } = await created('Living-room TV')
    expect(secret).toBeUndefined()
    await row('Living-room TV').getByText('refresh, device').waitFor()

    const device = await runClientFlow(iam.issuer, { clientId: id, authMethod: 'none' }, 'device')
    expect(device).toMatchObject({ ok: true, refreshed: true })
  })

  it('brings a legacy client over with its own id and secret, PKCE off with a warning', async () => {
    await startNewClient('Legacy portal')
    const form = newForm()
    await form.getByLabel('Client id (optional)').fill(LEGACY.id)
    await form.getByLabel('Existing secret (optional)').fill(LEGACY.secret)
    await form.getByLabel('Redirect URIs', { exact: true }).fill(LEGACY.redirect)
    const banner = form.getByRole('note').filter({ hasText: 'Warning: PKCE is off for this client.' })
    expect(await banner.count()).toBe(0)
    await form.getByLabel(/^Require PKCE \(recommended\)/).uncheck()
    await banner.waitFor()
    await banner.getByText('mod_auth_openidc').waitFor()
    await page.screenshot({ path: path.join(RESULTS, 'admin-console-clients-pkce-off.png'), fullPage: true })
    await form.getByRole('button', { name: 'Create client' }).click()

    const { id, secret } = await created('Legacy portal')
    expect(id).toBe(LEGACY.id)
    // An imported secret is not shown back; a short one is accepted with a warning.
    expect(secret).toBeUndefined()
    await page.getByRole('note', { name: 'Warnings' }).getByText(/secret/i).first().waitFor()
    await row('Legacy portal').getByText('PKCE off').waitFor()

    const legacy = await runClientFlow(iam.issuer, { clientId: LEGACY.id, authMethod: 'client_secret_basic', secret: LEGACY.secret, redirectUri: LEGACY.redirect }, 'code-without-pkce')
    expect(legacy).toMatchObject({ ok: true })

    // Its page says so too.
    await row('Legacy portal').getByRole('link', { name: 'Legacy portal' }).click()
    await page.getByRole('heading', { name: 'Legacy portal', level: 1 }).waitFor()
    await page.getByRole('note').filter({ hasText: 'Warning: PKCE is off for this client.' }).first().waitFor()

    // Once the application sends PKCE, it is turned back on: the warnings go.
    const settings = page.locator('form[aria-labelledby="edit-client-h"]')
    await settings.getByLabel(/^Require PKCE \(recommended\)/).check()
    await settings.getByRole('button', { name: 'Save client' }).click()
    await page.getByRole('status').filter({ hasText: 'Client saved.' }).waitFor()
    await page.locator('.facts').getByText('required', { exact: true }).waitFor()
    expect(await page.getByText('Warning: PKCE is off for this client.').count()).toBe(0)
    await openClients()
    expect(await row('Legacy portal').getByText('PKCE off').count()).toBe(0)
  })

  it('registers a private_key_jwt client from a pasted JWK Set; the API’s errors show next to their field', async () => {
    const key = await clientKey('ES256')
    await startNewClient('Key holder')
    const form = newForm()
    await form.getByLabel('Redirect URIs', { exact: true }).fill(KEY_REDIRECT)
    await form.getByLabel('Token endpoint authentication').selectOption('private_key_jwt')
    // No secret with a key: nothing to import.
    expect(await form.getByLabel('Existing secret (optional)').count()).toBe(0)
    await form.getByRole('group', { name: 'The client’s public keys' }).waitFor()
    // The private key by mistake, and a logo on plain http: refused, each said next to its field.
    await form.getByLabel('JWK Set (JSON)').fill(JSON.stringify({ keys: [key.privateJwk] }))
    await form.getByLabel('Logo URL').fill('http://logo.example.test/key-holder.png')
    await form.getByRole('button', { name: 'Create client' }).click()
    const field = (label: string) => form.locator('.field').filter({ has: page.getByLabel(label, { exact: true }) })
    await field('JWK Set (JSON)').getByText('is a private key').waitFor()
    await field('Logo URL').getByText('must be an https URL').waitFor()
    expect(await form.getByLabel('JWK Set (JSON)').getAttribute('aria-invalid')).toBe('true')
    await page.screenshot({ path: path.join(RESULTS, 'admin-console-clients-field-errors.png'), fullPage: true })
    // Text that is not JSON is caught before it is sent.
    await form.getByLabel('JWK Set (JSON)').fill('{"keys": [')
    await form.getByRole('button', { name: 'Create client' }).click()
    await field('JWK Set (JSON)').getByText('This is not JSON').waitFor()

    await form.getByLabel('JWK Set (JSON)').fill(JSON.stringify(key.publicJwks, null, 2))
    await form.getByLabel('Logo URL').fill('https://logo.example.test/key-holder.png')
    await form.getByRole('button', { name: 'Create client' }).click()
    const { id, secret } = await created('Key holder')
    expect(secret).toBeUndefined()
    const signed = await runClientFlow(iam.issuer, { clientId: id, authMethod: 'private_key_jwt', key: key.privateJwk, redirectUri: KEY_REDIRECT }, 'code')
    expect(signed).toMatchObject({ ok: true, refreshed: true })
  })

  it('rotates a secret keeping the old one for a day: both work, the page says until when', async () => {
    await openClients()
    await row('Ledger').getByRole('link', { name: 'Ledger' }).click()
    await page.getByRole('heading', { name: 'Ledger', level: 1 }).waitFor()
    await page.getByLabel('The old secret').selectOption({ label: 'Keeps working for 1 day' })
    await page.getByRole('button', { name: 'Rotate secret' }).click()
    const shown = page.getByRole('alert').filter({ hasText: 'Copy this client secret now.' })
    const fresh = await shown.getByLabel('Client secret').inputValue()
    expect(fresh).not.toBe(ledger.secret)
    await page.getByRole('status').filter({ hasText: 'Secret rotated. The previous secret works until' }).waitFor()
    await page.locator('.facts').getByText(/The previous secret works until/).waitFor()
    await page.screenshot({ path: path.join(RESULTS, 'admin-console-clients-rotated.png'), fullPage: true })

    // A process sees a registry change within a second (its copy of the client).
    const within = { timeout: 5_000, interval: 250 }
    await expect.poll(async () => (await runClientFlow(iam.issuer, { clientId: ledger.id, authMethod: 'client_secret_post', secret: fresh }, 'client-credentials')).ok, within).toBe(true)
    const old = await runClientFlow(iam.issuer, { clientId: ledger.id, authMethod: 'client_secret_post', secret: ledger.secret }, 'client-credentials')
    expect(old.ok).toBe(true)
  })

  it('asks before disabling and deleting, saying tokens are revoked at once', async () => {
    await openClients()
    await row('Living-room TV').getByRole('link', { name: 'Living-room TV' }).click()
    await page.getByRole('heading', { name: 'Living-room TV', level: 1 }).waitFor()
    // A native device client: its settings have no redirect URIs either.
    expect(await page.getByLabel('Redirect URIs', { exact: true }).count()).toBe(0)

    await page.getByRole('button', { name: 'Disable client Living-room TV…' }).click()
    const confirmDisable = page.getByRole('group', { name: 'Disable client Living-room TV…' })
    await confirmDisable.getByText('revoked at once').waitFor()
    await confirmDisable.getByRole('button', { name: 'Disable Living-room TV' }).click()
    await page.getByRole('status').filter({ hasText: 'Client disabled.' }).waitFor()
    await page.locator('.facts').getByText('disabled', { exact: true }).waitFor()
    // Refused at once (within the second a process takes to see a registry change).
    const tv = { clientId: (await page.locator('.facts code').first().textContent())!, authMethod: 'none' as const }
    await expect.poll(async () => (await runClientFlow(iam.issuer, tv, 'device')).ok, { timeout: 5_000, interval: 250 }).toBe(false)

    await page.getByRole('button', { name: 'Delete client Living-room TV…' }).click()
    const confirmDelete = page.getByRole('group', { name: 'Delete client Living-room TV…' })
    await confirmDelete.getByText('revoked at once').waitFor()
    await confirmDelete.getByText('cannot be undone').waitFor()
    await confirmDelete.getByRole('button', { name: 'Delete Living-room TV' }).click()
    await page.getByRole('heading', { name: 'Clients', level: 1 }).waitFor()
    await row('Ledger').waitFor()
    expect(await row('Living-room TV').count()).toBe(0)
  })

  it('asks an administrator who signed in with a password alone to confirm a registration with their second factor', async () => {
    const lin = await openSession(browser, { viewport: DESKTOP })
    try {
      const p = lin.page
      await p.goto(`${iam.issuer}/admin/`)
      await p.getByLabel('Email or username', { exact: true }).fill(LIN.email)
      await p.getByLabel('Password', { exact: true }).fill(ADA.password)
      await p.getByRole('button', { name: 'Sign in', exact: true }).click()
      await p.getByRole('heading', { name: 'Overview', level: 1 }).waitFor()
      // Lin sets up an authenticator app after signing in: the registration asks for it.
      const secret = await iam.databaseNow(async (prisma) => addTotpFactor(prisma, (await prisma.user.findFirstOrThrow({ where: { email: LIN.email } })).id))
      await p.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Clients', exact: true }).click()
      const register = async () => {
        await p.getByRole('button', { name: 'New client' }).click()
        const form = p.locator('form[aria-labelledby="new-client-h"]')
        await form.getByLabel('Name', { exact: true }).fill('Nightly export')
        await form.getByLabel('Kind').selectOption('service')
        await form.getByRole('button', { name: 'Create client' }).click()
      }
      await register()
      await p.getByRole('heading', { name: 'Verify it’s you', level: 1 }).waitFor()
      await p.getByRole('button', { name: 'Code from Authenticator app' }).click()
      await p.getByLabel('Code', { exact: true }).fill(await totpCode(secret))
      await p.getByRole('button', { name: 'Verify', exact: true }).click()
      await p.getByRole('heading', { name: 'Clients', level: 1 }).waitFor()
      await p.getByRole('status').filter({ hasText: 'Repeat the action to complete it.' }).waitFor()
      expect(await iam.withDatabase((prisma) => prisma.client.count({ where: { name: 'Nightly export' } }))).toBe(0)
      await register()
      await p.getByRole('status').filter({ hasText: 'Client Nightly export created' }).waitFor()
      await p.getByRole('alert').filter({ hasText: 'Copy this client secret now.' }).waitFor()
      // Chromium logs the step-up answer (401) the console handled.
      expect(lin.problems.filter((m) => !(m.startsWith('console: Failed to load resource: the server responded with a status of 401 ') && m.endsWith(`${iam.issuer}/admin/api/v1/clients)`)))).toEqual([])
    } finally {
      await lin.context.close()
    }
  })

  it('shows a built-in client as protected, with nothing to change, disable or delete it', async () => {
    await openClients()
    await row('Notes assistant').getByText('registered dynamically').waitFor()
    expect(await row('Ledger').getByText('registered dynamically').count()).toBe(0)
    const consoleRow = row('Admin console')
    await consoleRow.getByText('built-in, protected').waitFor()
    await consoleRow.getByRole('link', { name: 'Admin console' }).click()
    await page.getByRole('heading', { name: 'Admin console', level: 1 }).waitFor()
    await page.getByText('Built-in client, protected.').waitFor()
    await page.locator('.facts').getByText('admin-console', { exact: true }).waitFor()
    for (const name of [/^Delete/, /^Disable/, /^Save client/, /^Rotate secret/]) {
      expect(await page.getByRole('button', { name }).count()).toBe(0)
    }
    await page.screenshot({ path: path.join(RESULTS, 'admin-console-clients-built-in.png'), fullPage: true })
    // Chromium logs the one refusal provoked on purpose (the 400 with the field errors).
    expect(problems.filter((p) => !(p.startsWith('console: Failed to load resource: the server responded with a status of 400 ') && p.endsWith(`${iam.issuer}/admin/api/v1/clients)`)))).toEqual([])
  })
})

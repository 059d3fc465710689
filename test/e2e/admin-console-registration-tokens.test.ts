// The console's registration tokens page in headless Chromium against the real server (PostgreSQL +
// Redis, dynamic registration on): an administrator issues an initial access token (shown once),
// a tool registers itself with it, the list shows the token spent and the client it registered,
// and a second token is revoked from the list. No console errors and no CSP violations on the way.
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build } from 'vite'
import type { Browser, Page } from 'playwright-core'
import { createIam, type IamInstance } from '../support/iam.ts'
import { launchChromium, openSession } from '../support/chromium.ts'
import { addTotpFactor, totpCode } from '../support/mfa-fixtures.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { ADMIN_PERMISSIONS } from '../../src/seed.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const PASSWORD = 'registration console passphrase 42'
const ADA = { email: 'ada@example.test', displayName: 'Ada Admin', totpSecret: '' }

describe('admin console in Chromium: registration tokens (postgres-redis)', () => {
  let iam: IamInstance
  let browser: Browser

  beforeAll(async () => {
    await build({ configFile: path.join(ROOT, 'src/admin/console/vite.config.ts'), logLevel: 'warn', build: { emptyOutDir: false } })
    iam = await createIam('postgres-redis', { issuerHost: 'localhost', env: { DYNAMIC_CLIENT_REGISTRATION: 'true' } })
    await iam.withDatabase(async (prisma) => {
      const admin = await ensureRole(prisma, 'admin', ADMIN_PERMISSIONS, 'Full administrative access')
      const ada = await createUser(prisma, { email: ADA.email, password: PASSWORD, displayName: ADA.displayName, emailVerified: true })
      await assignRole(prisma, ada.id, admin.id)
      // Issuing a token asks for a recent second factor: Ada signs in with one.
      ADA.totpSecret = await addTotpFactor(prisma, ada.id)
    })
    await iam.start()
    browser = await launchChromium()
  }, 240_000)

  afterAll(async () => {
    await browser?.close()
    await iam?.close()
  })

  async function signIn(page: Page) {
    await page.goto(`${iam.issuer}/admin/`)
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
    await page.getByLabel('Email or username', { exact: true }).fill(ADA.email)
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.getByRole('heading', { name: 'Verify it’s you', level: 1 }).waitFor()
    await page.getByRole('button', { name: 'Code from Authenticator app' }).click()
    await page.getByLabel('Code', { exact: true }).fill(await totpCode(ADA.totpSecret))
    await page.getByRole('button', { name: 'Verify', exact: true }).click()
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor()
  }

  async function issue(page: Page, description: string): Promise<string> {
    await page.getByRole('button', { name: 'Issue token' }).click()
    await page.getByLabel('What it is for').fill(description)
    await page.getByLabel('Registrations it allows').fill('1')
    await page.locator('form').getByRole('button', { name: 'Issue token' }).click()
    const box = page.getByRole('alert').filter({ hasText: 'Copy this initial access token now.' })
    return box.getByLabel('Initial access token').inputValue()
  }

  it('issues a token shown once, lists it spent with the client it registered, and revokes another', async () => {
    const { page, problems } = await openSession(browser, { viewport: { width: 1280, height: 860 } })
    await signIn(page)
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Registration tokens', exact: true }).click()
    await page.getByRole('heading', { name: 'Registration tokens', level: 1 }).waitFor()

    const token = await issue(page, 'MCP tool of the test')
    expect(token.length).toBeGreaterThanOrEqual(40)
    const registered = await fetch(`${iam.issuer}/reg`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Tool', redirect_uris: ['http://127.0.0.1:9999/cb'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'] }),
    })
    expect(registered.status).toBe(201)
    const { client_id: clientId } = await registered.json() as { client_id: string }

    await page.reload()
    const row = page.getByRole('row').filter({ hasText: 'MCP tool of the test' })
    await row.getByText('all uses spent').waitFor()
    await row.getByText('1 of 1').waitFor()
    await row.getByRole('link', { name: clientId }).waitFor()

    await issue(page, 'to be revoked')
    const other = page.getByRole('row').filter({ hasText: 'to be revoked' })
    await other.getByRole('button', { name: /Revoke/ }).click()
    await other.getByText('revoked', { exact: true }).waitFor()
    expect(problems).toEqual([])
  }, 240_000)
})

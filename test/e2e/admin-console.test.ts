// The admin console (/admin) in headless Chromium against the real server (PostgreSQL + Redis):
// an administrator signs in through the real login page (the console is a public client: code +
// PKCE), sees the overview, creates a user, gives them a role, and finds both events on the
// audit page. No console errors and no CSP violations on the way. Screenshots go to test-results/.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build } from 'vite'
import type { Browser, Page } from 'playwright-core'
import { createIam, type IamInstance } from '../support/iam.ts'
import { launchChromium, openSession } from '../support/chromium.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { ADMIN_PERMISSIONS } from '../../src/seed.ts'
import { addTotpFactor, totpCode } from '../support/mfa-fixtures.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const RESULTS = path.join(ROOT, 'test-results')
const ADMIN = { email: 'ada@example.test', username: 'ada', password: 'admin console passphrase 42', displayName: 'Ada Admin' }
const NEW_USER = { email: 'newbie@example.test', displayName: 'Nina Newbie' }
const DESKTOP = { width: 1280, height: 860 }
const PHONE = { width: 390, height: 844 }

describe('admin console in Chromium (postgres-redis)', () => {
  let iam: IamInstance
  let browser: Browser
  let adminId: string

  beforeAll(async () => {
    mkdirSync(RESULTS, { recursive: true })
    // The console the server serves is the one built from these sources.
    await build({ configFile: path.join(ROOT, 'src/admin/console/vite.config.ts'), logLevel: 'warn', build: { emptyOutDir: false } }) // another file may be serving it
    iam = await createIam('postgres-redis', { issuerHost: 'localhost' })
    await iam.withDatabase(async (prisma) => {
      const admin = await ensureRole(prisma, 'admin', ADMIN_PERMISSIONS, 'Full administrative access')
      await ensureRole(prisma, 'support', [], 'Answers the help desk')
      const user = await createUser(prisma, { email: ADMIN.email, username: ADMIN.username, password: ADMIN.password, displayName: ADMIN.displayName, emailVerified: true })
      await assignRole(prisma, user.id, admin.id)
      adminId = user.id
    })
    await iam.start()
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await iam?.close()
  })

  async function signIn(page: Page) {
    await page.goto(`${iam.issuer}/admin/`)
    // No session yet: the silent request (prompt=none) comes back login_required, then the login page.
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
    await page.getByText('to continue to Admin console').waitFor()
    await page.getByLabel('Email or username', { exact: true }).fill(ADMIN.email)
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    // First-party: no consent page; back at the console, signed in.
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor()
    expect(new URL(page.url()).pathname).toBe('/admin/')
  }

  it('serves the page with the response nonce on its script, no-store, and hashed assets with a long cache', async () => {
    const res = await fetch(`${iam.issuer}/admin/users/some-id`)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const csp = res.headers.get('content-security-policy')!
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!
    const html = await res.text()
    expect(html).toContain(`<script nonce="${nonce}" type="module"`)
    expect(html).toContain(`<meta name="iam-issuer" content="${iam.issuer}">`)
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/) // no inline script
    const asset = /src="(\/admin\/assets\/[^"]+\.js)"/.exec(html)![1]!
    const js = await fetch(`${iam.issuer}${asset}`)
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(js.headers.get('cache-control')).toContain('immutable')
    expect((await fetch(`${iam.issuer}/admin/assets/missing-0000.js`)).status).toBe(404)
    // The admin API is not the console's.
    const api = await fetch(`${iam.issuer}/admin/api/v1/me`)
    expect(api.status).toBe(401)
  })

  it('signs an admin in, creates a user, assigns a role, and shows both on the audit page', async () => {
    const { context, page, problems } = await openSession(browser, { viewport: DESKTOP })
    try {
      await signIn(page)
      // Tokens stay in memory: nothing in web storage once the round trip is over.
      expect(await page.evaluate(() => [localStorage.length, sessionStorage.length])).toEqual([0, 0])
      await page.getByRole('heading', { name: 'Recent sign-ins', level: 2 }).waitFor()
      await page.getByRole('link', { name: /Users$/ }).first().waitFor()
      await page.screenshot({ path: path.join(RESULTS, 'admin-console-overview.png'), fullPage: true })

      const nav = page.getByRole('navigation', { name: 'Sections' })
      await nav.getByRole('link', { name: 'Users', exact: true }).click()
      await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
      await page.getByRole('cell', { name: ADMIN.email }).waitFor()
      await page.screenshot({ path: path.join(RESULTS, 'admin-console-users.png'), fullPage: true })

      // Create a user.
      await page.getByRole('link', { name: 'New user' }).click()
      await page.getByRole('heading', { name: 'New user', level: 1 }).waitFor()
      await page.getByLabel('Email', { exact: true }).fill(NEW_USER.email)
      await page.getByLabel('Display name (optional)').fill(NEW_USER.displayName)
      await page.getByLabel('The email address is verified (you vouch for it)').check()
      await page.getByRole('button', { name: 'Create user' }).click()
      await page.getByRole('heading', { name: NEW_USER.displayName, level: 1 }).waitFor()
      expect(new URL(page.url()).pathname).toMatch(/^\/admin\/users\/[^/]+$/)

      // Give them the support role. Giving roles asks for a recent second factor: Ada sets up an
      // authenticator app, the console sends her to confirm it is her, and she repeats the action.
      const adaSecret = await iam.databaseNow((prisma) => addTotpFactor(prisma, adminId))
      const here = new URL(page.url()).pathname
      const roles = page.locator('form[aria-labelledby="roles-h"]')
      await roles.getByLabel(/^support/).check()
      await roles.getByRole('button', { name: 'Save roles' }).click()
      await page.getByRole('heading', { name: 'Verify it’s you', level: 1 }).waitFor()
      await page.getByRole('button', { name: 'Code from Authenticator app' }).click()
      await page.getByLabel('Code', { exact: true }).fill(await totpCode(adaSecret))
      await page.getByRole('button', { name: 'Verify', exact: true }).click()
      await page.getByRole('heading', { name: NEW_USER.displayName, level: 1 }).waitFor()
      expect(new URL(page.url()).pathname).toBe(here)
      await page.getByRole('status').filter({ hasText: 'Repeat the action to complete it.' }).waitFor()
      await roles.getByLabel(/^support/).check()
      await roles.getByRole('button', { name: 'Save roles' }).click()
      await page.getByRole('status').filter({ hasText: 'Roles saved.' }).waitFor()
      // The phone-width test signs Ada in with her password alone, as before.
      await iam.databaseNow((prisma) => prisma.mfaFactor.deleteMany({ where: { userId: adminId } }))
      await page.locator('.facts').getByText('support', { exact: true }).waitFor()
      await page.screenshot({ path: path.join(RESULTS, 'admin-console-user-detail.png'), fullPage: true })

      // Both changes are on the audit page, by this admin.
      await nav.getByRole('link', { name: 'Audit', exact: true }).click()
      await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor()
      const create = page.getByRole('row').filter({ has: page.getByText('admin_user_create', { exact: true }) })
      const assign = page.getByRole('row').filter({ has: page.getByText('admin_user_roles_set', { exact: true }) })
      await create.first().waitFor()
      await assign.first().waitFor()
      await page.screenshot({ path: path.join(RESULTS, 'admin-console-audit.png'), fullPage: true })

      // Filter by type: only the role change is left.
      await page.getByLabel('Event type').fill('admin_user_roles_set')
      await page.getByRole('button', { name: 'Filter' }).click()
      await create.first().waitFor({ state: 'detached' })
      await assign.first().waitFor()

      // Export: a download made with the bearer token.
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()])
      const csvPath = path.join(RESULTS, 'admin-console-audit-export.csv')
      await download.saveAs(csvPath)
      const { readFileSync } = await import('node:fs')
      expect(readFileSync(csvPath, 'utf8')).toContain('admin_user_roles_set')

      // A reload has no token in memory: a silent request gets a new one, same page.
      await page.reload()
      await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor()
      expect(new URL(page.url()).pathname).toBe('/admin/audit')

      // Chromium logs the one step-up answer (401) the console handled.
      expect(problems.filter((p) => !(p.startsWith('console: Failed to load resource: the server responded with a status of 401 ') && /\/admin\/api\/v1\/users\/[^/]+\/roles\)$/.test(p)))).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('works at phone width: the menu folds, tables stack', async () => {
    const { context, page, problems } = await openSession(browser, { viewport: PHONE, isMobile: true, hasTouch: true })
    try {
      await signIn(page)
      const menu = page.getByRole('button', { name: 'Menu' })
      await menu.waitFor()
      expect(await page.getByRole('navigation', { name: 'Sections' }).isVisible()).toBe(false)
      await menu.click()
      expect(await menu.getAttribute('aria-expanded')).toBe('true')
      await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Users', exact: true }).click()
      await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
      await page.getByText(NEW_USER.email).waitFor()
      // Nothing wider than the screen.
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width)
      await page.screenshot({ path: path.join(RESULTS, 'admin-console-users-phone.png'), fullPage: true })
      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
  })
})

// More of the admin console (/admin) in headless Chromium against the real server (PostgreSQL +
// Redis), the pages admin-console.test.ts does not visit:
//   - clients: a service client's admin API permissions (chosen from what the admin holds), its
//     one-time secret, the 403 for granting what one does not hold, and secret rotation behind a
//     step-up (RFC 9470: the console re-authorizes, the MFA page asks for the TOTP code, the person
//     repeats the action); the secrets are tried at the token endpoint;
//   - users: revoking a session, unlocking, resetting second factors (step-up), deleting;
//   - roles and tenants, and a tenant administrator who sees only their tenant.
// No console errors and no CSP violations on the way. Screenshots go to test-results/.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build } from 'vite'
import type { Browser, Page } from 'playwright-core'
import { createIam, type IamInstance } from '../support/iam.ts'
import { launchChromium, openSession } from '../support/chromium.ts'
import { addTotpFactor, totpCode } from '../support/mfa-fixtures.ts'
import { adminApi, serviceToken } from '../support/admin.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { ADMIN_PERMISSIONS } from '../../src/seed.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const RESULTS = path.join(ROOT, 'test-results')
const DESKTOP = { width: 1280, height: 860 }
const PASSWORD = 'admin console passphrase 42'

interface Person { email: string; displayName: string; totpSecret?: string }
// Global administrators (default tenant). ADA and LIN sign in with a password only; their TOTP factor
// is added while they are signed in, so the step-up has to ask for it. GRACE has one from the start.
const ADA: Person = { email: 'ada@example.test', displayName: 'Ada Admin' }
const LIN: Person = { email: 'lin@example.test', displayName: 'Lin Admin' }
const GRACE: Person = { email: 'grace@example.test', displayName: 'Grace Admin' }
/** May manage clients and nothing else. */
const KEEPER: Person = { email: 'keeper@example.test', displayName: 'Kim Keeper' }
const TOM: Person = { email: 'tom@example.test', displayName: 'Tom Traveller' }
const TED: Person = { email: 'ted@acme.test', displayName: 'Ted Acme-Admin' }

describe('admin console in Chromium: clients, step-up, users, roles, tenants (postgres-redis)', () => {
  let iam: IamInstance
  let browser: Browser
  const ids: Record<string, string> = {}

  beforeAll(async () => {
    mkdirSync(RESULTS, { recursive: true })
    // Not emptied first: the other console test file may be serving this directory right now (the
    // same sources build to the same hashed names).
    await build({ configFile: path.join(ROOT, 'src/admin/console/vite.config.ts'), logLevel: 'warn', build: { emptyOutDir: false } })
    iam = await createIam('postgres-redis', { issuerHost: 'localhost' })
    await iam.withDatabase(async (prisma) => {
      const admin = await ensureRole(prisma, 'admin', ADMIN_PERMISSIONS, 'Full administrative access')
      const keeper = await ensureRole(prisma, 'client-keeper', ['clients:read', 'clients:write'], 'Looks after the client registry')
      for (const [who, role] of [[ADA, admin], [LIN, admin], [GRACE, admin], [KEEPER, keeper]] as const) {
        const user = await createUser(prisma, { email: who.email, password: PASSWORD, displayName: who.displayName, emailVerified: true })
        await assignRole(prisma, user.id, role.id)
        ids[who.email] = user.id
      }
      GRACE.totpSecret = await addTotpFactor(prisma, ids[GRACE.email]!)
      // Registering a client asks for a recent second factor: Ada signs in with one.
      ADA.totpSecret = await addTotpFactor(prisma, ids[ADA.email]!)
      ids.tom = (await createUser(prisma, { email: TOM.email, password: PASSWORD, displayName: TOM.displayName, emailVerified: true })).id
      const fay = await createUser(prisma, { email: 'fay@example.test', displayName: 'Fay Factors', emailVerified: true })
      await addTotpFactor(prisma, fay.id)
      ids.fay = fay.id
      ids.lou = (await prisma.user.update({
        where: { id: (await createUser(prisma, { email: 'lou@example.test', displayName: 'Lou Locked', emailVerified: true })).id },
        data: { failedLogins: 5, lockedUntil: new Date(Date.now() + 15 * 60_000) },
      })).id
      ids.dee = (await createUser(prisma, { email: 'dee@example.test', displayName: 'Dee Departing', emailVerified: true })).id
      ids.rita = (await createUser(prisma, { email: 'rita@example.test', displayName: 'Rita Reviewer', emailVerified: true })).id
    })
    await iam.start()
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await iam?.close()
  })

  /**
   * The page's problems, less Chromium's own log line for one API answer the test provokes on
   * purpose (a 4xx the console handles: the step-up 401, a 403 it shows).
   */
  const besides = (problems: string[], ...expected: Array<{ status: number; path: string }>) =>
    problems.filter((p) => !expected.some((e) => p.startsWith(`console: Failed to load resource: the server responded with a status of ${e.status} `) && p.endsWith(`${iam.issuer}/admin/api/v1${e.path})`)))

  const nav = (page: Page) => page.getByRole('navigation', { name: 'Sections' })

  /** The MFA pages (sign-in or step-up): choose the authenticator app, enter its code, then back. */
  async function answerTotp(page: Page, secret: string) {
    await page.getByRole('heading', { name: 'Verify it’s you', level: 1 }).waitFor()
    await page.getByRole('button', { name: 'Code from Authenticator app' }).click()
    await page.getByLabel('Code', { exact: true }).fill(await totpCode(secret))
    await page.getByRole('button', { name: 'Verify', exact: true }).click()
  }

  async function signIn(page: Page, who: Person) {
    await page.goto(`${iam.issuer}/admin/`)
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
    await page.getByLabel('Email or username', { exact: true }).fill(who.email)
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    if (who.totpSecret) await answerTotp(page, who.totpSecret)
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor()
    await page.getByText(who.displayName, { exact: true }).waitFor()
  }

  /** A client-credentials request at the token endpoint with HTTP Basic authentication. */
  async function clientCredentials(clientId: string, secret: string) {
    const res = await fetch(`${iam.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'users:read', resource: `${iam.issuer}/admin/api` }),
    })
    return { status: res.status, json: await res.json() as Record<string, unknown> }
  }

  it('registers a service client with admin permissions, shows its secret once, and rotates it', async () => {
    const { context, page, problems } = await openSession(browser, { viewport: DESKTOP })
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: iam.issuer })
    try {
      await signIn(page, ADA)
      await nav(page).getByRole('link', { name: 'Clients', exact: true }).click()
      await page.getByRole('heading', { name: 'Clients', level: 1 }).waitFor()
      await page.getByRole('button', { name: 'New client' }).click()
      const form = page.locator('form[aria-labelledby="new-client-h"]')
      await form.getByLabel('Name', { exact: true }).fill('Report exporter')
      // Admin API permissions are for services: offered once the kind is service.
      expect(await form.getByRole('group', { name: 'Admin API permissions' }).count()).toBe(0)
      await form.getByLabel('Kind').selectOption('service')
      const perms = form.getByRole('group', { name: 'Admin API permissions' })
      await perms.waitFor()
      // Every permission Ada holds is offered (she holds them all).
      for (const p of ADMIN_PERMISSIONS) await perms.getByLabel(p, { exact: true }).waitFor()
      await perms.getByLabel('users:read', { exact: true }).check()
      await perms.getByLabel('audit:read', { exact: true }).check()
      await form.getByRole('button', { name: 'Create client' }).click()

      // Created: the secret is shown once, with a copy button.
      await page.getByRole('status').filter({ hasText: 'Client Report exporter created' }).waitFor()
      const clientId = (await page.getByRole('status').filter({ hasText: 'created' }).locator('code').textContent())!
      const secretBox = page.getByRole('alert').filter({ hasText: 'Copy this client secret now.' })
      const firstSecret = await secretBox.getByLabel('Client secret').inputValue()
      expect(firstSecret.length).toBeGreaterThanOrEqual(32)
      await secretBox.getByRole('button', { name: 'Copy' }).click()
      await secretBox.getByRole('button', { name: 'Copied' }).waitFor()
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(firstSecret)
      await page.getByRole('cell', { name: 'Report exporter' }).waitFor()
      await page.screenshot({ path: path.join(RESULTS, 'admin-console-clients-new-secret.png'), fullPage: true })

      // The secret works at the token endpoint, and the token holds what the registration allows.
      const token = await serviceToken(iam.issuer, clientId, firstSecret, ['users:read', 'clients:write'])
      const me = await adminApi(iam.issuer)(token, 'GET', '/me')
      expect(me.json).toMatchObject({ kind: 'service', sub: clientId, permissions: ['users:read'] })

      // The detail page shows the permissions and the scope, and edits them.
      await page.getByRole('link', { name: 'Report exporter' }).first().click()
      await page.getByRole('heading', { name: 'Report exporter', level: 1 }).waitFor()
      const facts = page.locator('.facts')
      await facts.getByText('users:read', { exact: true }).waitFor()
      await facts.getByText('audit:read', { exact: true }).waitFor()
      const settings = page.locator('form[aria-labelledby="edit-client-h"]')
      const editPerms = settings.getByRole('group', { name: 'Admin API permissions' })
      expect(await editPerms.getByLabel('users:read', { exact: true }).isChecked()).toBe(true)
      await editPerms.getByLabel('audit:read', { exact: true }).uncheck()
      await editPerms.getByLabel('clients:read', { exact: true }).check()
      await settings.getByLabel('OpenID scopes (optional)').fill('openid profile')
      await settings.getByRole('button', { name: 'Save client' }).click()
      await page.getByRole('status').filter({ hasText: 'Client saved.' }).waitFor()
      await facts.getByText('clients:read', { exact: true }).waitFor()
      await facts.getByText('audit:read', { exact: true }).waitFor({ state: 'detached' })
      await facts.getByText('openid profile', { exact: true }).waitFor()

      // Ada signed in with her authenticator app moments ago: rotating needs no further step-up
      // (the console's step-up round trip is walked below, resetting someone's factors).
      await page.getByRole('button', { name: 'Rotate secret' }).click()
      const rotated = page.getByRole('alert').filter({ hasText: 'Copy this client secret now.' })
      const newSecret = await rotated.getByLabel('Client secret').inputValue()
      expect(newSecret).not.toBe(firstSecret)
      await rotated.getByRole('button', { name: 'Copy' }).waitFor()
      await page.screenshot({ path: path.join(RESULTS, 'admin-console-client-rotated-secret.png'), fullPage: true })

      // The new secret works at the token endpoint; the old one no longer does. A process sees a
      // registry change within a second (its copy of the client: src/oidc/adapters/client-registry.ts).
      const within = { timeout: 5_000, interval: 250 }
      let fresh: Awaited<ReturnType<typeof clientCredentials>> | undefined
      await expect.poll(async () => (fresh = await clientCredentials(clientId, newSecret)).status, within).toBe(200)
      expect(fresh!.json.access_token).toEqual(expect.any(String))
      let old: Awaited<ReturnType<typeof clientCredentials>> | undefined
      await expect.poll(async () => (old = await clientCredentials(clientId, firstSecret)).status, within).toBe(401)
      expect(old!.json.error).toBe('invalid_client')

      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('offers only the permissions an admin holds, and shows the 403 when they hand out one they lost', async () => {
    const { context, page, problems } = await openSession(browser, { viewport: DESKTOP })
    try {
      await signIn(page, KEEPER)
      // Only the sections Kim may read.
      const links = await nav(page).getByRole('link').allTextContents()
      expect(links).toEqual(['Overview', 'Clients', 'Registration tokens'])
      await nav(page).getByRole('link', { name: 'Clients', exact: true }).click()
      await page.getByRole('button', { name: 'New client' }).click()
      const form = page.locator('form[aria-labelledby="new-client-h"]')
      await form.getByLabel('Name', { exact: true }).fill('Keeper robot')
      await form.getByLabel('Kind').selectOption('service')
      const perms = form.getByRole('group', { name: 'Admin API permissions' })
      await perms.waitFor()
      expect(await perms.getByRole('checkbox').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value))).toEqual(['clients:read', 'clients:write'])
      await perms.getByLabel('clients:read', { exact: true }).check()
      // Meanwhile another administrator takes clients:read away from Kim's role.
      await iam.withDatabase(async (prisma) => {
        const role = await prisma.role.findFirstOrThrow({ where: { name: 'client-keeper' } })
        await prisma.rolePermission.deleteMany({ where: { roleId: role.id, permission: { name: 'clients:read' } } })
      })
      await form.getByRole('button', { name: 'Create client' }).click()
      const alert = form.getByRole('alert')
      await alert.waitFor()
      expect(await alert.textContent()).toBe('Not allowed: the client’s admin permissions would give permissions you do not hold: clients:read')
      // The form stays, with what was typed, to correct.
      expect(await form.getByLabel('Name', { exact: true }).inputValue()).toBe('Keeper robot')
      expect(await iam.withDatabase((prisma) => prisma.client.count({ where: { name: 'Keeper robot' } }))).toBe(0)
      expect(besides(problems, { status: 403, path: '/clients' })).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('revokes a session, unlocks, resets second factors after a step-up, and deletes a user', async () => {
    // Tom signs in (he has no admin permission: the console has nothing for him, but he has a session).
    const tom = await openSession(browser, { viewport: DESKTOP })
    const { context, page, problems } = await openSession(browser, { viewport: DESKTOP })
    try {
      await tom.page.goto(`${iam.issuer}/admin/`)
      await tom.page.getByLabel('Email or username', { exact: true }).fill(TOM.email)
      await tom.page.getByLabel('Password', { exact: true }).fill(PASSWORD)
      await tom.page.getByRole('button', { name: 'Sign in', exact: true }).click()
      await tom.page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor()
      await tom.page.getByRole('status').filter({ hasText: 'none of your roles gives you an administrative permission' }).waitFor()
      expect(await nav(tom.page).getByRole('link').allTextContents()).toEqual(['Overview'])

      await signIn(page, LIN)
      const users = nav(page).getByRole('link', { name: 'Users', exact: true })
      const open = async (email: string, name: string) => {
        await users.click()
        await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
        await page.getByRole('row').filter({ hasText: email }).getByRole('link').first().click()
        await page.getByRole('heading', { name, level: 1 }).waitFor()
      }

      // Revoke Tom's session: his browser must sign in again.
      await open(TOM.email, TOM.displayName)
      const sessions = page.locator('section[aria-labelledby="sessions-h"]')
      await sessions.getByRole('listitem').first().waitFor()
      expect(await sessions.getByRole('listitem').count()).toBe(1)
      await sessions.getByRole('button', { name: 'Revoke', exact: true }).click()
      await sessions.getByText('No active sessions.').waitFor()
      await tom.page.goto(`${iam.issuer}/admin/`)
      await tom.page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()

      // Unlock Lou.
      await open('lou@example.test', 'Lou Locked')
      const lock = page.locator('section[aria-labelledby="lock-h"]')
      await lock.getByText(/^Locked after 5 failed sign-ins until /).waitFor()
      await page.locator('.facts').getByText('locked', { exact: true }).waitFor()
      await lock.getByRole('button', { name: 'Unlock' }).click()
      await page.getByRole('status').filter({ hasText: 'Account unlocked.' }).waitFor()
      await lock.getByText(/^Not locked\./).waitFor()
      expect(await lock.getByRole('button', { name: 'Unlock' }).count()).toBe(0)

      // Reset Fay's factors: Lin set up an authenticator app after signing in, so she is asked for it.
      const linSecret = await iam.withDatabase((prisma) => addTotpFactor(prisma, ids[LIN.email]!))
      await open('fay@example.test', 'Fay Factors')
      const factors = page.locator('section[aria-labelledby="factors-h"]')
      await factors.getByText('Authenticator app').waitFor()
      await factors.getByRole('button', { name: 'Reset second factors…' }).click()
      await factors.getByRole('button', { name: 'Reset factors' }).click()
      await answerTotp(page, linSecret)
      await page.getByRole('heading', { name: 'Fay Factors', level: 1 }).waitFor()
      expect(new URL(page.url()).pathname).toBe(`/admin/users/${ids.fay}`)
      await page.getByRole('status').filter({ hasText: 'Repeat the action to complete it.' }).waitFor()
      await factors.getByRole('button', { name: 'Reset second factors…' }).click()
      await factors.getByRole('button', { name: 'Reset factors' }).click()
      await factors.getByText('No second factors enrolled.').waitFor()
      expect(await iam.withDatabase((prisma) => prisma.mfaFactor.count({ where: { userId: ids.fay } }))).toBe(0)

      // Delete Dee.
      await open('dee@example.test', 'Dee Departing')
      await page.getByRole('button', { name: 'Delete user…' }).click()
      await page.getByText('Delete dee@example.test? This cannot be undone.').waitFor()
      await page.getByRole('button', { name: 'Delete', exact: true }).click()
      await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
      await page.getByRole('cell', { name: 'lou@example.test' }).waitFor()
      expect(await page.getByText('dee@example.test').count()).toBe(0)

      expect(besides(problems, { status: 401, path: `/users/${ids.fay}/factors` })).toEqual([])
      expect(tom.problems).toEqual([])
    } finally {
      await context.close()
      await tom.context.close()
    }
  })

  it('creates and edits a role, creates a tenant, and a tenant admin sees only their tenant', async () => {
    const { context, page, problems } = await openSession(browser, { viewport: DESKTOP })
    try {
      await signIn(page, GRACE) // password and TOTP

      // A role with permissions.
      await nav(page).getByRole('link', { name: 'Roles', exact: true }).click()
      await page.getByRole('heading', { name: 'Roles and permissions', level: 1 }).waitFor()
      await page.getByRole('button', { name: 'New role' }).click()
      await page.getByLabel('Name', { exact: true }).fill('auditor')
      await page.getByLabel('Description', { exact: true }).fill('Reads the audit log')
      await page.getByLabel(/^audit:read /).check()
      await page.getByRole('button', { name: 'Create role' }).click()
      await page.getByRole('heading', { name: 'Role auditor', level: 1 }).waitFor()
      await page.getByText('0 people have this role.', { exact: false }).waitFor()
      expect(await page.getByLabel(/^audit:read /).isChecked()).toBe(true)
      // Edit it.
      await page.getByLabel(/^users:read /).check()
      await page.getByLabel('Description', { exact: true }).fill('Reads the audit log and the users')
      await page.getByRole('button', { name: 'Save role' }).click()
      await page.getByRole('status').filter({ hasText: 'Role saved.' }).waitFor()
      expect(await page.getByLabel(/^users:read /).isChecked()).toBe(true)
      expect(await page.getByLabel('Description', { exact: true }).inputValue()).toBe('Reads the audit log and the users')

      // Give it to Rita, then the list counts her.
      await nav(page).getByRole('link', { name: 'Users', exact: true }).click()
      await page.getByRole('row').filter({ hasText: 'rita@example.test' }).getByRole('link').first().click()
      await page.getByRole('heading', { name: 'Rita Reviewer', level: 1 }).waitFor()
      const roles = page.locator('form[aria-labelledby="roles-h"]')
      await roles.getByLabel(/^auditor/).check()
      await roles.getByRole('button', { name: 'Save roles' }).click()
      await page.getByRole('status').filter({ hasText: 'Roles saved.' }).waitFor()
      await nav(page).getByRole('link', { name: 'Roles', exact: true }).click()
      const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'auditor', exact: true }) })
      await row.waitFor()
      expect(await row.getByRole('cell').nth(1).textContent()).toBe('audit:readusers:read')
      expect(await row.getByRole('cell').nth(3).textContent()).toBe('1')
      await page.screenshot({ path: path.join(RESULTS, 'admin-console-roles.png'), fullPage: true })

      // A tenant.
      await nav(page).getByRole('link', { name: 'Tenants', exact: true }).click()
      await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor()
      await page.getByRole('button', { name: 'New tenant' }).click()
      const form = page.locator('form[aria-labelledby="new-tenant-h"]')
      await form.getByLabel('Name', { exact: true }).fill('Acme Corp')
      await form.getByLabel('Slug', { exact: true }).fill('acme')
      await form.getByLabel('Registration').selectOption('invite')
      await form.getByRole('button', { name: 'Create tenant' }).click()
      await page.getByRole('heading', { name: 'Acme Corp', level: 1 }).waitFor()
      await page.getByRole('link', { name: 'Back to tenants' }).click()
      const acme = page.getByRole('row').filter({ has: page.getByRole('link', { name: 'Acme Corp', exact: true }) })
      await acme.getByRole('cell', { name: 'acme', exact: true }).waitFor()
      await acme.getByRole('cell', { name: 'invite', exact: true }).waitFor()
      await page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'default', exact: true }) }).waitFor()
      await page.screenshot({ path: path.join(RESULTS, 'admin-console-tenants.png'), fullPage: true })
      expect(problems).toEqual([])
    } finally {
      await context.close()
    }

    // Acme's administrator: a user of that tenant with a tenant role that reads users.
    await iam.withDatabase(async (prisma) => {
      const tenant = await prisma.tenant.findUniqueOrThrow({ where: { slug: 'acme' } })
      const permission = await prisma.permission.upsert({ where: { name: 'users:read' }, update: {}, create: { name: 'users:read' } })
      const role = await prisma.role.create({ data: { name: 'acme-helpdesk', tenantId: tenant.id, permissions: { create: [{ permissionId: permission.id }] } } })
      const ted = await createUser(prisma, { email: TED.email, password: PASSWORD, displayName: TED.displayName, emailVerified: true, tenantId: tenant.id })
      await assignRole(prisma, ted.id, role.id)
      await createUser(prisma, { email: 'wendy@acme.test', displayName: 'Wendy Worker', emailVerified: true, tenantId: tenant.id })
    })
    const ted = await openSession(browser, { viewport: DESKTOP })
    try {
      await signIn(ted.page, TED)
      await ted.page.getByText('Tenant administrator · Acme Corp').waitFor()
      expect(await nav(ted.page).getByRole('link').allTextContents()).toEqual(['Overview', 'Users'])
      // The overview counts only what Ted may open: his tenant's two people.
      const counts = ted.page.locator('ul.counts li')
      await counts.first().waitFor()
      expect(await counts.allTextContents()).toEqual(['2 Users'])
      await nav(ted.page).getByRole('link', { name: 'Users', exact: true }).click()
      await ted.page.getByRole('heading', { name: 'Users', level: 1 }).waitFor()
      await ted.page.getByRole('cell', { name: 'wendy@acme.test' }).waitFor()
      const emails = await ted.page.locator('tbody tr td[data-label="Email"]').allTextContents()
      expect(emails.sort()).toEqual(['ted@acme.test', 'wendy@acme.test'])
      expect(await ted.page.getByRole('link', { name: 'New user' }).count()).toBe(0)
      // Another tenant's page is a plain "not found", and the tenants page is not his.
      await ted.page.goto(`${iam.issuer}/admin/users/${ids.rita}`)
      await ted.page.getByRole('alert').filter({ hasText: 'Not found' }).waitFor()
      expect(besides(ted.problems, { status: 404, path: `/users/${ids.rita}` })).toEqual([])
    } finally {
      await ted.context.close()
    }
  })
})

// Who may obtain access tokens for the admin API, and with which scopes, decided where tokens are
// issued (not only where they are used): a person's admin-API token only through the admin
// console's own client, a service's only with admin permissions in its registration; a person's
// scopes are what they asked for AND what their roles carry, for the admin API and for any
// registered API whose scopes are permissions. openid-client is the relying party; pages are
// walked with HttpBrowser.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { decodeJwt } from 'jose'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, signIn } from '../support/browser.ts'
import { ALICE, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { personToken } from '../support/admin.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { ensureDefaultTenant } from '../../src/identity/tenants.ts'
import { createClient } from '../../src/clients/registry.ts'
import { registerResourceServer } from '../../src/oidc/resource-servers.ts'
import { ADMIN_PERMISSIONS, adminResource, setClientAdminPermissions } from '../../src/admin/permissions.ts'
import { ADMIN_CONSOLE_CLIENT_ID, ensureAdminConsoleClient } from '../../src/admin/console-client.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const PASSWORD = 'a long enough passphrase for tests'
const ROOT = { login: 'root@example.test', password: PASSWORD } //       global administrator
const READER = { login: 'reader@example.test', password: PASSWORD } //   role with users:read and reports:read only
const ATTACKER_REDIRECT = 'https://attacker.example/callback'
const REPORTS = 'https://reports.example.test'
const SVC_SECRET = 'service-secret-for-issuance-0123456789-abcdef'

const scopesOf = (jwt: string) => String(decodeJwt(jwt).scope ?? '').split(' ').filter(Boolean).sort()

describe.each(STORAGE_MODES)('admin-API token issuance (%s)', (mode) => {
  let iam: IamInstance

  beforeAll(async () => {
    iam = await createIam(mode)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await ensureDefaultTenant(prisma)
      const acme = await prisma.tenant.create({ data: { slug: 'acme', name: 'Acme' } })
      const admin = await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])
      const root = await createUser(prisma, { email: ROOT.login, password: ROOT.password, emailVerified: true })
      await assignRole(prisma, root.id, admin.id)
      const reader = await createUser(prisma, { email: READER.login, password: READER.password, emailVerified: true })
      await assignRole(prisma, reader.id, (await ensureRole(prisma, 'user-reader', ['users:read'])).id)
      await assignRole(prisma, reader.id, (await ensureRole(prisma, 'report-reader', ['reports:read'])).id)
      // reports:write is a permission too (a role carries it), just not one the reader holds.
      await ensureRole(prisma, 'report-writer', ['reports:write'])
      await registerResourceServer(prisma, { identifier: REPORTS, name: 'Reports', scopes: ['reports:read', 'reports:write', 'ping'] })

      // What a tenant administrator could register: first-party (no consent page), its own redirect URI.
      await createClient(prisma, { clientId: 'acme-portal', name: 'Acme portal', kind: 'spa', firstParty: true, redirectUris: [ATTACKER_REDIRECT], tenantId: acme.id })
      // The same with admin permissions written into its registration, as a bad row in the database would have them.
      await createClient(prisma, { clientId: 'acme-tool', name: 'Acme tool', kind: 'spa', firstParty: true, redirectUris: [ATTACKER_REDIRECT], tenantId: acme.id })
      await setClientAdminPermissions(prisma, 'acme-tool', ADMIN_PERMISSIONS)

      await createClient(prisma, { clientId: 'svc-plain', name: 'Plain service', kind: 'service', secret: SVC_SECRET })
      await createClient(prisma, { clientId: 'svc-reader', name: 'Reading service', kind: 'service', secret: SVC_SECRET })
      await setClientAdminPermissions(prisma, 'svc-reader', ['users:read'])
    })
    await iam.start()
  })
  afterAll(async () => {
    await iam?.close()
  })

  /** A browser in which the global administrator is signed in (through another, first-party application). */
  async function adminBrowser(): Promise<HttpBrowser> {
    const browser = new HttpBrowser(iam.issuer)
    const first = await oidc.discovery(new URL(iam.issuer), 'first', undefined, oidc.None(), insecure)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(first, {
      redirect_uri: 'http://localhost:4000/callback', scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const callback = await signIn(browser, url.href, { login: ROOT.login, password: ROOT.password })
    expect(callback.searchParams.get('code')).toBeTruthy()
    return browser
  }

  it('a tenant\'s first-party client gets no admin-API code from a signed-in global administrator (prompt=none)', async () => {
    const browser = await adminBrowser()
    for (const clientId of ['acme-portal', 'acme-tool']) {
      const rp = await oidc.discovery(new URL(iam.issuer), clientId, undefined, oidc.None(), insecure)
      const verifier = oidc.randomPKCECodeVerifier()
      const url = oidc.buildAuthorizationUrl(rp, {
        redirect_uri: ATTACKER_REDIRECT, scope: `openid ${ADMIN_PERMISSIONS.join(' ')}`, resource: adminResource(iam.issuer), prompt: 'none',
        state: 'lure', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      })
      const res = await browser.navigate(url.href)
      const arrived = new URL(res.url)
      expect(arrived.origin + arrived.pathname, clientId).toBe(ATTACKER_REDIRECT)
      let stolen: string | undefined
      if (arrived.searchParams.get('code')) {
        stolen = (await oidc.authorizationCodeGrant(rp, arrived, { pkceCodeVerifier: verifier, expectedState: 'lure' })).access_token
      }
      expect(stolen ? scopesOf(stolen) : undefined, `${clientId} obtained an admin-API token`).toBeUndefined()
      expect(arrived.searchParams.get('error'), clientId).toBe('invalid_target')
    }
  })

  it('a third-party client is refused the admin API before any consent page: consenting cannot give it admin scopes', async () => {
    const browser = await adminBrowser()
    const spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: SPA_REDIRECT, scope: 'openid users:read', resource: adminResource(iam.issuer), prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const res = await browser.navigate(url.href)
    const arrived = new URL(res.url)
    expect(arrived.origin + arrived.pathname, res.body.slice(0, 300)).toBe(SPA_REDIRECT)
    expect(arrived.searchParams.get('code')).toBeNull()
    expect(arrived.searchParams.get('error')).toBe('invalid_target')
  })

  it('the console\'s client id with a redirect URI added to its registration is not the console', async () => {
    const browser = await adminBrowser()
    await iam.databaseNow(async (prisma) => {
      const row = await prisma.client.findUniqueOrThrow({ where: { id: ADMIN_CONSOLE_CLIENT_ID } })
      const metadata = row.metadata as { redirect_uris: string[] }
      await prisma.client.update({ where: { id: row.id }, data: { metadata: { ...metadata, redirect_uris: [...metadata.redirect_uris, ATTACKER_REDIRECT] } } })
    })
    try {
      const rp = await oidc.discovery(new URL(iam.issuer), ADMIN_CONSOLE_CLIENT_ID, undefined, oidc.None(), insecure)
      const verifier = oidc.randomPKCECodeVerifier()
      const url = oidc.buildAuthorizationUrl(rp, {
        redirect_uri: ATTACKER_REDIRECT, scope: `openid ${ADMIN_PERMISSIONS.join(' ')}`, resource: adminResource(iam.issuer), prompt: 'none',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      })
      // Embedded, the server restarted to change the row, and registered the console afresh at start.
      await new Promise((r) => setTimeout(r, 1100)) // past the per-process copy of client registrations
      const res = await browser.navigate(url.href)
      const arrived = new URL(res.url)
      expect(arrived.searchParams.get('code'), 'a code reached the added redirect URI').toBeNull()
      if (arrived.origin + arrived.pathname === ATTACKER_REDIRECT) expect(arrived.searchParams.get('error')).toBe('invalid_target')
      else expect(mode).toBe('embedded')
    } finally {
      await iam.databaseNow((prisma) => ensureAdminConsoleClient(prisma, iam.issuer))
      await new Promise((r) => setTimeout(r, 1100)) // the restored registration, past the per-process copy
    }
  }, 180_000)

  it('the same client asking at the token endpoint for the admin API with a code for no resource is refused', async () => {
    const browser = await adminBrowser()
    const rp = await oidc.discovery(new URL(iam.issuer), 'acme-portal', undefined, oidc.None(), insecure)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: ATTACKER_REDIRECT, scope: 'openid', prompt: 'none',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const arrived = new URL((await browser.navigate(url.href)).url)
    expect(arrived.searchParams.get('code')).toBeTruthy()
    const attempt = oidc.authorizationCodeGrant(rp, arrived, { pkceCodeVerifier: verifier }, { resource: adminResource(iam.issuer) })
    await expect(attempt).rejects.toMatchObject({ error: expect.stringMatching(/^invalid_(target|grant)$/) })
  })

  it('the admin console itself still gets a global administrator every admin scope', async () => {
    const token = await personToken(iam.issuer, ROOT, ADMIN_PERMISSIONS)
    expect(scopesOf(token)).toEqual([...ADMIN_PERMISSIONS].sort())
  })

  it('a person\'s admin-API token holds only the asked-for permissions their roles carry', async () => {
    const token = await personToken(iam.issuer, READER, ['users:read', 'users:write', 'clients:write'])
    expect(scopesOf(token)).toEqual(['users:read'])
    expect(decodeJwt(token).aud).toBe(adminResource(iam.issuer))
  })

  it('a registered API whose scopes are permissions: the token holds the ones the person\'s roles carry, and plain scopes', async () => {
    const spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: SPA_REDIRECT, scope: 'openid offline_access reports:read reports:write ping', resource: REPORTS, prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const browser = new HttpBrowser(iam.issuer)
    const consentPages: string[] = []
    let res = await browser.navigate(url.href)
    for (let step = 0; step < 4 && new URL(res.url).origin === browser.origin; step++) {
      if (/\/login"/.test(res.body)) {
        const form = formWithAction(res.body, '/login')
        res = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: READER.login, password: READER.password } })
      } else if (/\/consent"/.test(res.body)) {
        consentPages.push(res.body)
        const form = formWithAction(res.body, '/consent')
        res = await browser.navigate(new URL(form.action, iam.issuer).href, { form: form.fields })
      } else throw new Error(`unexpected page: ${res.body.slice(0, 1000)}`)
    }
    // The person is not asked to allow what they cannot give.
    expect(consentPages.join('')).toContain('reports:read')
    expect(consentPages.join('')).not.toContain('reports:write')
    const tokens = await oidc.authorizationCodeGrant(spa, new URL(res.url), { pkceCodeVerifier: verifier })
    expect(scopesOf(tokens.access_token)).toEqual(['ping', 'reports:read'])

    // Checked again at every issuance: a permission the person's roles no longer carry is gone from the next token.
    await iam.databaseNow(async (prisma) => {
      const role = await prisma.role.findFirstOrThrow({ where: { name: 'report-reader' } })
      await prisma.rolePermission.deleteMany({ where: { roleId: role.id } })
    })
    const refreshed = await oidc.refreshTokenGrant(spa, tokens.refresh_token!, { resource: REPORTS })
    expect(scopesOf(refreshed.access_token)).toEqual(['ping'])
  }, 180_000) // embedded: the database is changed with the server stopped, and it starts again

  it('a person without the permissions gets none of them from a third-party client either (Alice)', async () => {
    const spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(spa, {
      redirect_uri: SPA_REDIRECT, scope: 'openid reports:read reports:write ping', resource: REPORTS,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const callback = await signIn(new HttpBrowser(iam.issuer), url.href, { login: ALICE.email, password: ALICE.password })
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier })
    expect(scopesOf(tokens.access_token)).toEqual(['ping'])
  })

  it('client credentials: a service without admin permissions is refused; one with some gets only those', async () => {
    const plain = await oidc.discovery(new URL(iam.issuer), 'svc-plain', SVC_SECRET, oidc.ClientSecretBasic(SVC_SECRET), insecure)
    await expect(oidc.clientCredentialsGrant(plain, { scope: 'users:read', resource: adminResource(iam.issuer) }))
      .rejects.toMatchObject({ error: 'invalid_target' })
    const reader = await oidc.discovery(new URL(iam.issuer), 'svc-reader', SVC_SECRET, oidc.ClientSecretBasic(SVC_SECRET), insecure)
    const tokens = await oidc.clientCredentialsGrant(reader, { scope: 'users:read users:write', resource: adminResource(iam.issuer) })
    expect(scopesOf(tokens.access_token)).toEqual(['users:read'])
  })
})

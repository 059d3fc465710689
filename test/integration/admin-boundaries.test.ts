// The admin API's privilege boundaries, as an attacker holding one administrator's token would
// probe them: what a tenant administrator may not hand out (first-party clients, admin
// permissions, global roles, its own roles), what a password alone may not do (every change that
// creates, deletes or widens a credential or a permission asks for a recent second factor, as
// rotating a secret does), and what a tenant administrator may not learn about other tenants.
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { createFixtures } from '../support/fixtures.ts'
import { createMovableClock } from '../support/movable-clock.ts'
import { addTotpFactor } from '../support/mfa-fixtures.ts'
import { HttpBrowser, formWithAction, signIn } from '../support/browser.ts'
import { ADMIN_TEST_CLIENT, ADMIN_TEST_REDIRECT, adminApi, personToken, serviceToken } from '../support/admin.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { ensureDefaultTenant } from '../../src/identity/tenants.ts'
import { createClient } from '../../src/clients/registry.ts'
import { ADMIN_PERMISSIONS, setClientAdminPermissions } from '../../src/admin/permissions.ts'
import { ADMIN_ROUTES } from '../../src/admin/routes/index.ts'

const ROOT = { login: 'root@example.test', password: 'root has a long passphrase' }
const MFA_ROOT = { login: 'mfa-root@example.test', password: 'mfa root has a long passphrase' }
const A_ADMIN = { login: 'admin@acme.test', password: 'acme admin long passphrase' }
const A_MFA_ADMIN = { login: 'mfa-admin@acme.test', password: 'acme mfa admin long passphrase' }
const B_PERSON = { login: 'secret-person@globex.test', password: 'globex person long passphrase' }
const SVC_SECRET = 'admin-service-secret-0123456789-0123456789'
const ACME_APP_REDIRECT = 'http://localhost:4300/callback'
const insecure = { execute: [oidc.allowInsecureRequests] }
const root = path.resolve(import.meta.dirname, '../..')
const run = promisify(execFile)

type Call = ReturnType<typeof adminApi>
type Response = Awaited<ReturnType<Call>>

describe('admin API privilege boundaries (postgres-redis)', () => {
  let iam: IamInstance
  let call: Call
  const ids = {} as Record<'root' | 'mfaRoot' | 'aAdmin' | 'aMfaAdmin' | 'aUser' | 'bUser' | 'tenantA' | 'tenantB' | 'emptyTenant'
    | 'adminRole' | 'acmeStaff' | 'staffRole' | 'victim' | 'staffMember' | 'defaultTenant', string>
  const secrets = {} as Record<'mfaRoot' | 'aMfaAdmin', string>
  let rootToken: string
  let aToken: string
  let svcToken: string
  const clock = createMovableClock()

  beforeAll(async () => {
    iam = await createIam('postgres-redis', { env: clock.env })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      ids.defaultTenant = (await ensureDefaultTenant(prisma)).id
      const admin = await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])
      ids.adminRole = admin.id
      const a = await prisma.tenant.create({ data: { slug: 'acme', name: 'Acme' } })
      const b = await prisma.tenant.create({ data: { slug: 'globex', name: 'Globex' } })
      ids.emptyTenant = (await prisma.tenant.create({ data: { slug: 'empty', name: 'Empty', registrationMode: 'closed' } })).id
      ids.tenantA = a.id
      ids.tenantB = b.id
      const root = await createUser(prisma, { email: ROOT.login, password: ROOT.password, emailVerified: true })
      await assignRole(prisma, root.id, admin.id)
      ids.root = root.id
      const mfaRoot = await createUser(prisma, { email: MFA_ROOT.login, password: MFA_ROOT.password, emailVerified: true })
      await assignRole(prisma, mfaRoot.id, admin.id)
      secrets.mfaRoot = await addTotpFactor(prisma, mfaRoot.id)
      ids.mfaRoot = mfaRoot.id
      // Tenant administrators: the global admin role given (by a global administrator) to people of tenant A.
      const aAdmin = await createUser(prisma, { email: A_ADMIN.login, password: A_ADMIN.password, emailVerified: true, tenantId: a.id })
      await assignRole(prisma, aAdmin.id, admin.id)
      ids.aAdmin = aAdmin.id
      const aMfaAdmin = await createUser(prisma, { email: A_MFA_ADMIN.login, password: A_MFA_ADMIN.password, emailVerified: true, tenantId: a.id })
      await assignRole(prisma, aMfaAdmin.id, admin.id)
      secrets.aMfaAdmin = await addTotpFactor(prisma, aMfaAdmin.id)
      ids.aMfaAdmin = aMfaAdmin.id
      ids.aUser = (await createUser(prisma, { email: 'worker@acme.test', username: 'acme-worker', tenantId: a.id })).id
      ids.acmeStaff = (await prisma.role.create({ data: { name: 'acme-staff', tenantId: a.id } })).id
      ids.bUser = (await createUser(prisma, { email: B_PERSON.login, username: 'globex-person', password: B_PERSON.password, emailVerified: true, tenantId: b.id })).id
      // A global role with members, and people in the default tenant to act on.
      ids.staffRole = (await ensureRole(prisma, 'staff', ['tickets:read'])).id
      ids.staffMember = (await createUser(prisma, { email: 'staff@example.test' })).id
      await assignRole(prisma, ids.staffMember, ids.staffRole)
      ids.victim = (await createUser(prisma, { email: 'victim@example.test' })).id
      await createClient(prisma, { clientId: ADMIN_TEST_CLIENT, name: 'Admin test RP', kind: 'spa', firstParty: true, redirectUris: [ADMIN_TEST_REDIRECT] })
      await createClient(prisma, { clientId: 'svc-admin', name: 'Admin automation', kind: 'service', secret: SVC_SECRET })
      await setClientAdminPermissions(prisma, 'svc-admin', ADMIN_PERMISSIONS)
      await createClient(prisma, { clientId: 'victim-svc', name: 'Payroll sync', kind: 'service', secret: SVC_SECRET })
      await createClient(prisma, { clientId: 'victim-web', name: 'Payroll', kind: 'web', redirectUris: ['https://payroll.example/cb'] })
      await createClient(prisma, { clientId: 'acme-app', name: 'Acme app', kind: 'spa', firstParty: true, redirectUris: [ACME_APP_REDIRECT], tenantId: a.id })
      await createClient(prisma, { clientId: 'acme-svc', name: 'Acme sync', kind: 'service', secret: SVC_SECRET, tenantId: a.id })
    })
    await iam.start()
    call = adminApi(iam.issuer)
    rootToken = await personToken(iam.issuer, ROOT, ADMIN_PERMISSIONS)
    aToken = await personToken(iam.issuer, A_ADMIN, ADMIN_PERMISSIONS)
    svcToken = await serviceToken(iam.issuer, 'svc-admin', SVC_SECRET, ADMIN_PERMISSIONS)
  })
  afterAll(async () => {
    await iam?.close()
  })

  // One sign-in each: a TOTP code is accepted once, and the suite runs well within the step-up window.
  let mfaRoot: Promise<string> | undefined
  let aMfa: Promise<string> | undefined
  const mfaRootToken = () => (mfaRoot ??= personToken(iam.issuer, { ...MFA_ROOT, totpSecret: secrets.mfaRoot }, ADMIN_PERMISSIONS))
  const aMfaToken = () => (aMfa ??= personToken(iam.issuer, { ...A_MFA_ADMIN, totpSecret: secrets.aMfaAdmin }, ADMIN_PERMISSIONS))

  const expectProblem = (res: Response, status: number) => {
    expect(res.status, res.text).toBe(status)
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(res.json).toMatchObject({ type: expect.stringMatching(/^https:\/\//), title: expect.any(String), status, detail: expect.any(String), instance: expect.stringMatching(/^\/admin\/api\/v1/) })
    return res.json
  }

  /** The answer rotating a secret gives a token without a recent second factor: every step-up answers alike. */
  const expectStepUpChallenge = (res: Response, what: string) => {
    expect(res.status, `${what}: ${res.text}`).toBe(401)
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(res.json, what).toMatchObject({
      type: 'https://iam.dev/problems/insufficient-user-authentication', title: 'Stronger authentication required', status: 401,
      acr_values: 'urn:iam:acr:mfa', max_age: 600,
    })
    expect(res.headers.get('www-authenticate'), what).toMatch(/^Bearer error="insufficient_user_authentication", error_description="[^"]+", acr_values="urn:iam:acr:mfa", max_age=600$/)
  }

  it('lets only global administrators mark a client first-party or give it admin permissions, second factor or not', async () => {
    const token = await aMfaToken()
    const firstParty = expectProblem(await call(token, 'POST', '/clients', { name: 'Lure', kind: 'spa', redirectUris: ['https://attacker.example/cb'], firstParty: true }), 403)
    expect(firstParty.errors).toEqual([{ path: 'firstParty', message: expect.stringMatching(/global administrator/) }])
    const perms = expectProblem(await call(token, 'POST', '/clients', { name: 'Backdoor', kind: 'service', adminPermissions: ['users:read'] }), 403)
    expect(perms.errors).toEqual([{ path: 'adminPermissions', message: expect.stringMatching(/global administrator/) }])
    expect(expectProblem(await call(token, 'PATCH', '/clients/acme-svc', { adminPermissions: ['users:read', 'users:write'] }), 403).errors[0].path).toBe('adminPermissions')
    // Nor re-point a first-party client of its tenant (marked by a global administrator) at itself.
    expect(expectProblem(await call(token, 'PATCH', '/clients/acme-app', { redirectUris: ['https://attacker.example/cb'] }), 403).errors[0].path).toBe('redirectUris')
    expect((await call(token, 'GET', '/clients/acme-app')).json.redirectUris).toEqual([ACME_APP_REDIRECT])
    // What a tenant administrator may do still works: a third-party client of its own, without admin permissions…
    const own = await call(token, 'POST', '/clients', { name: 'Acme portal', kind: 'spa', redirectUris: ['https://portal.acme.test/cb'], firstParty: false })
    expect(own.status, own.text).toBe(201)
    expect(own.json.client).toMatchObject({ tenantId: ids.tenantA, firstParty: false, adminPermissions: [] })
    // … which it cannot then make first-party.
    expect(expectProblem(await call(token, 'PATCH', `/clients/${own.json.client.id}`, { firstParty: true }), 403).errors[0].path).toBe('firstParty')
    // Nothing was registered or changed.
    const clients = (await call(token, 'GET', '/clients?limit=100')).json.items as Array<{ id: string; name: string; adminPermissions: string[]; firstParty: boolean }>
    expect(clients.map((c) => c.name)).not.toContain('Lure')
    expect(clients.map((c) => c.name)).not.toContain('Backdoor')
    expect(clients.find((c) => c.id === 'acme-svc')!.adminPermissions).toEqual([])
    expect(clients.find((c) => c.name === 'Acme portal')!.firstParty).toBe(false)
    // A global administrator (with a recent second factor) may.
    const global = await call(await mfaRootToken(), 'PATCH', '/clients/acme-svc', { adminPermissions: ['users:read'] })
    expect(global.status, global.text).toBe(200)
    expect(global.json.adminPermissions).toEqual(['users:read'])
  })

  it('asks for the same second factor to delete and re-create a client as to rotate its secret', async () => {
    const rotate = await call(rootToken, 'POST', '/clients/victim-svc/secret')
    expectStepUpChallenge(rotate, 'rotate')
    expectStepUpChallenge(await call(rootToken, 'DELETE', '/clients/victim-svc'), 'delete')
    expectStepUpChallenge(await call(rootToken, 'POST', '/clients', { clientId: 'victim-svc-2', name: 'Payroll sync', kind: 'service', adminPermissions: [...ADMIN_PERMISSIONS] }), 'create')
    const still = await call(rootToken, 'GET', '/clients/victim-svc')
    expect(still.status).toBe(200)
    expectProblem(await call(rootToken, 'GET', '/clients/victim-svc-2'), 404)
    // A service has no person to step up: refused, as for rotation.
    expect(expectProblem(await call(svcToken, 'DELETE', '/clients/victim-svc'), 403).detail).toMatch(/second factor/)
  })

  it('states a step-up rule on every route that changes something, and enforces it on each that creates, deletes or widens', async () => {
    // One request per route whose rule can demand a step-up, made so that it does. A new such route
    // must be added here; a new route without a rule does not start (router.ts).
    const triggers: Record<string, { path: string; body?: unknown }> = {
      'post /users': { path: '/users', body: { email: 'with-password@example.test', password: 'a brand new long passphrase' } },
      'patch /users/:id': { path: `/users/${ids.victim}`, body: { email: 'attacker@evil.example' } },
      'delete /users/:id': { path: `/users/${ids.victim}` },
      'put /users/:id/roles': { path: `/users/${ids.victim}/roles`, body: { roleIds: [ids.staffRole] } },
      'delete /users/:id/factors': { path: `/users/${ids.victim}/factors` },
      'patch /roles/:id': { path: `/roles/${ids.staffRole}`, body: { permissions: ['tickets:read', 'tickets:write'] } },
      'delete /roles/:id': { path: `/roles/${ids.staffRole}` },
      'post /tenants': { path: '/tenants', body: { slug: 'wide-open', name: 'Wide open', registrationMode: 'open' } },
      'patch /tenants/:id': { path: `/tenants/${ids.emptyTenant}`, body: { registrationMode: 'open' } },
      'delete /tenants/:id': { path: `/tenants/${ids.emptyTenant}` },
      'post /clients': { path: '/clients', body: { name: 'New', kind: 'service' } },
      'patch /clients/:id': { path: '/clients/victim-web', body: { redirectUris: ['https://attacker.example/cb'] } },
      'delete /clients/:id': { path: '/clients/victim-web' },
      'post /clients/:id/secret': { path: '/clients/victim-web/secret' },
      'post /registration-tokens': { path: '/registration-tokens', body: { description: 'Anyone may register', allowedRedirectHosts: ['attacker.example'] } },
    }
    const mutating = ADMIN_ROUTES.filter((r) => r.method !== 'get')
    expect(mutating.length).toBeGreaterThanOrEqual(18)
    const demanding: string[] = []
    for (const route of mutating) {
      const key = `${route.method} ${route.path}`
      const rule = route.stepUp as unknown as Record<string, unknown> | undefined
      expect(rule, `${key} states its step-up rule`).toBeTypeOf('object')
      const kinds = Object.keys(rule!).filter((k) => ['always', 'when', 'never'].includes(k))
      expect(kinds, key).toHaveLength(1)
      expect(rule![kinds[0]!], `${key}: the rule says why`).toMatch(/\w{4,}/)
      if (kinds[0] !== 'never') demanding.push(key)
    }
    expect(demanding.sort()).toEqual(Object.keys(triggers).sort())
    // The OpenAPI document states the same rules.
    const doc = await (await fetch(`${iam.issuer}/admin/api/openapi.json`)).json() as { paths: Record<string, Record<string, { 'x-step-up'?: string }>> }
    for (const route of mutating) {
      const op = doc.paths[`/admin/api/v1${route.path.replace(/:(\w+)/g, '{$1}')}`]![route.method]!
      expect(Boolean(op['x-step-up']), `${route.method} ${route.path}`).toBe(demanding.includes(`${route.method} ${route.path}`))
    }
    for (const [key, { path, body }] of Object.entries(triggers)) {
      const method = key.split(' ')[0]!.toUpperCase()
      expectStepUpChallenge(await call(rootToken, method, path, body), key)
    }
    // Nothing happened.
    const victim = await call(rootToken, 'GET', `/users/${ids.victim}`)
    expect(victim.json).toMatchObject({ email: 'victim@example.test', roles: [] })
    expect((await call(rootToken, 'GET', `/roles/${ids.staffRole}`)).json.permissions).toEqual(['tickets:read'])
    expect((await call(rootToken, 'GET', `/tenants/${ids.emptyTenant}`)).json.registrationMode).toBe('closed')
    expect((await call(rootToken, 'GET', '/clients/victim-web')).json.redirectUris).toEqual(['https://payroll.example/cb'])
    expect((await call(rootToken, 'GET', '/users?email=with-password@example.test')).json.items).toEqual([])
    // Changes that create, delete or widen nothing need no second factor.
    expect((await call(rootToken, 'PATCH', `/users/${ids.victim}`, { displayName: 'Vic' })).status).toBe(200)
    expect((await call(rootToken, 'PATCH', '/clients/victim-web', { name: 'Payroll (old)' })).status).toBe(200)
    expect((await call(rootToken, 'PUT', `/users/${ids.staffMember}/roles`, { roleIds: [ids.staffRole] })).status).toBe(200)
    // With a recent second factor each goes through.
    const mfa = await mfaRootToken()
    expect((await call(mfa, 'PATCH', '/clients/victim-web', { redirectUris: ['https://payroll.example/cb2'] })).status).toBe(200)
    expect((await call(mfa, 'DELETE', '/clients/victim-web')).status).toBe(204)
  })

  it('shows a tenant administrator no audit row about another tenant’s person, even one that came through its own client', async () => {
    // A person of tenant B signs in (once wrongly, then rightly) through tenant A's application.
    const config = await oidc.discovery(new URL(iam.issuer), 'acme-app', undefined, oidc.None(), insecure)
    const authUrl = () => oidc.buildAuthorizationUrl(config, {
      redirect_uri: ACME_APP_REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    }).href
    const wrong = new HttpBrowser(iam.issuer)
    const page = await wrong.navigate(authUrl())
    const form = formWithAction(page.body, '/login')
    await wrong.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: B_PERSON.login, password: 'not the password at all' } })
    const done = await signIn(new HttpBrowser(iam.issuer), authUrl(), B_PERSON)
    expect(done.searchParams.get('code')).toBeTruthy()

    // The global administrator sees both rows, naming tenant A's client and tenant B's person.
    const global = (await call(rootToken, 'GET', `/audit?userId=${ids.bUser}&limit=100`)).json.items as Array<{ type: string; clientId: string; outcome: string }>
    expect(global.filter((e) => e.type === 'login' && e.clientId === 'acme-app').map((e) => e.outcome).sort()).toEqual(['failure', 'success'])

    const leaks = (items: Array<{ userId: string | null }>) => items.filter((e) => e.userId === ids.bUser)
    for (const query of ['limit=100', 'clientId=acme-app', `userId=${ids.bUser}`, 'type=login', 'outcome=failure']) {
      const res = await call(aToken, 'GET', `/audit?${query}`)
      expect(res.status).toBe(200)
      expect(leaks(res.json.items), query).toEqual([])
    }
    const exported = await fetch(`${iam.issuer}/admin/api/v1/audit/export?format=json&clientId=acme-app`, { headers: { authorization: `Bearer ${aToken}` } })
    const text = await exported.text()
    expect(text).not.toContain(ids.bUser)
    expect(text).not.toContain(B_PERSON.login)
    const stats = (await call(aToken, 'GET', '/stats')).json
    expect(leaks([...stats.recentSignIns, ...stats.recentFailures])).toEqual([])
    // Its own people's sign-ins through shared (global) applications, such as the console, stay visible.
    const own = (await call(aToken, 'GET', `/audit?type=login&userId=${ids.aAdmin}`)).json.items as Array<{ clientId: string | null }>
    expect(own.length).toBeGreaterThan(0)
    expect(own.every((e) => e.clientId !== 'acme-app')).toBe(true)
  })

  it('answers a tenant administrator alike whether an address or username is taken in its tenant or in another', async () => {
    const ownEmail = await call(aToken, 'POST', '/users', { email: 'worker@acme.test' })
    const otherEmail = await call(aToken, 'POST', '/users', { email: B_PERSON.login })
    const ownName = await call(aToken, 'POST', '/users', { email: 'fresh-1@acme.test', username: 'acme-worker' })
    const otherName = await call(aToken, 'POST', '/users', { email: 'fresh-2@acme.test', username: 'globex-person' })
    // Changing an address asks for the step-up first; with it, the answer is the same again.
    const patchOther = await call(await aMfaToken(), 'PATCH', `/users/${ids.aUser}`, { email: B_PERSON.login })
    for (const res of [ownEmail, otherEmail, ownName, otherName, patchOther]) {
      const problem = expectProblem(res, 409)
      // Neither where nor whose: no tenant, no "already exists", the same words for every case.
      expect(res.text).not.toMatch(/globex|another tenant|exists|taken/i)
      expect(problem.detail).toBe(expectProblem(ownEmail, 409).detail)
    }
    const strip = (r: Response) => ({ ...r.json, instance: undefined })
    expect(strip(otherEmail)).toEqual(strip(ownEmail))
    expect(strip(otherName)).toEqual(strip(ownName))
    expect(strip(patchOther)).toEqual(strip(ownEmail))
  })

  it('lets a tenant administrator give only its own tenant’s roles, and no one widen their own', async () => {
    const token = await aMfaToken()
    // The global admin role, to another person, to a new person, to itself: refused, step-up or not.
    const toOther = expectProblem(await call(token, 'PUT', `/users/${ids.aUser}/roles`, { roleIds: [ids.adminRole] }), 403)
    expect(toOther.errors).toEqual([{ path: 'roleIds.0', message: expect.stringMatching(/global role/) }])
    expectProblem(await call(token, 'POST', '/users', { email: 'new-admin@acme.test', roleIds: [ids.adminRole] }), 403)
    expectProblem(await call(token, 'PATCH', `/users/${ids.aUser}`, { roleIds: [ids.adminRole] }), 403)
    expectProblem(await call(token, 'PUT', `/users/${ids.aMfaAdmin}/roles`, { roleIds: [ids.adminRole, ids.acmeStaff] }), 403)
    expectProblem(await call(aToken, 'PUT', `/users/${ids.aAdmin}/roles`, { roleIds: [ids.adminRole, ids.acmeStaff] }), 403)
    expect((await call(token, 'GET', `/users/${ids.aUser}`)).json.roles).toEqual([])
    expect((await call(token, 'GET', '/users?email=new-admin@acme.test')).json.items).toEqual([])
    // Its own tenant's role, to someone else: allowed (with the step-up).
    const staff = await call(token, 'PUT', `/users/${ids.aUser}/roles`, { roleIds: [ids.acmeStaff] })
    expect(staff.status, staff.text).toBe(200)
    expect(staff.json.roles).toEqual([{ id: ids.acmeStaff, name: 'acme-staff' }])
    // A global administrator cannot widen their own roles either.
    const mfa = await mfaRootToken()
    const self = expectProblem(await call(mfa, 'PUT', `/users/${ids.mfaRoot}/roles`, { roleIds: [ids.adminRole, ids.staffRole] }), 403)
    expect(self.detail).toMatch(/your own/)
    expect((await call(mfa, 'GET', `/users/${ids.mfaRoot}`)).json.roles).toEqual([{ id: ids.adminRole, name: 'admin' }])
    // Nor widen a role they hold: that widens their own permissions just the same.
    const ownRole = expectProblem(await call(mfa, 'PATCH', `/roles/${ids.adminRole}`, { permissions: [...ADMIN_PERMISSIONS, 'payroll:approve'] }), 403)
    expect(ownRole.detail).toMatch(/your own permissions/)
    expect((await call(mfa, 'GET', `/roles/${ids.adminRole}`)).json.permissions).not.toContain('payroll:approve')
  })

  it('warns when a client’s back-channel logout URI is one the outbound policy will not reach', async () => {
    const mfa = await mfaRootToken()
    const blocked = await call(mfa, 'POST', '/clients', { name: 'Intranet', kind: 'web', redirectUris: ['https://intranet.example/cb'], backchannelLogoutUri: 'https://10.20.30.40/logout' })
    expect(blocked.status, blocked.text).toBe(201)
    expect(blocked.json.warnings).toEqual([{ path: 'backchannelLogoutUri', message: expect.stringMatching(/OUTBOUND_ALLOWED_HOSTS/) }])
    // Allowed hosts (this test server allows 127.0.0.1) and public names draw no warning.
    const allowed = await call(mfa, 'POST', '/clients', { name: 'Local', kind: 'web', redirectUris: ['https://local.example/cb'], backchannelLogoutUri: 'http://127.0.0.1:9/logout' })
    expect(allowed.status, allowed.text).toBe(201)
    expect(allowed.json.warnings ?? []).toEqual([])
    const patched = await call(mfa, 'PATCH', `/clients/${allowed.json.client.id}`, { backchannelLogoutUri: 'http://[::1]:9/logout' })
    expect(patched.status, patched.text).toBe(200)
    expect(patched.json.warnings).toEqual([{ path: 'backchannelLogoutUri', message: expect.stringMatching(/OUTBOUND_ALLOWED_HOSTS/) }])
    // The command line says so too, and still registers the client.
    const cli = await run(process.execPath, ['src/main.ts', 'client', 'create', '--kind', 'web', '--name', 'Branch office', '--id', 'branch-office',
      '--redirect-uri', 'https://branch.example/cb', '--backchannel-logout-uri', 'https://192.168.7.7/logout'], { cwd: root, env: { ...process.env, ...iam.env } })
    expect(cli.stdout).toContain('client_id: branch-office')
    expect(cli.stderr).toMatch(/^warning: 192\.168\.7\.7 is a loopback or private address .*OUTBOUND_ALLOWED_HOSTS/m)
    expect((await call(mfa, 'GET', '/clients/branch-office')).json.backchannelLogoutUri).toBe('https://192.168.7.7/logout')
  })

  // Last: it moves the server's clock.
  it('counts a second factor only for ten minutes: an older one is asked for again, with the same challenge', async () => {
    const mfa = await mfaRootToken()
    const victim = await call(mfa, 'POST', '/clients', { name: 'Short-lived', kind: 'service' })
    expect(victim.status, victim.text).toBe(201)
    clock.advance(11 * 60_000)
    const stale = await call(mfa, 'DELETE', `/clients/${victim.json.client.id}`)
    expectStepUpChallenge(stale, 'stale second factor')
    expect(stale.json.detail).toMatch(/recent authentication: at most 600 seconds ago/)
    expect((await call(mfa, 'GET', `/clients/${victim.json.client.id}`)).status).toBe(200)
  })
})

// The admin REST API with real tokens from this server: people through the pages (password, or
// password + TOTP for step-up), services through client credentials.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import * as oidc from 'openid-client'
import { API, SERVICE_SECRET, createFixtures } from '../support/fixtures.ts'
import { addTotpFactor } from '../support/mfa-fixtures.ts'
import { ADMIN_TEST_CLIENT, ADMIN_TEST_REDIRECT, adminApi, personToken, serviceToken } from '../support/admin.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { ensureDefaultTenant } from '../../src/identity/tenants.ts'
import { createClient } from '../../src/clients/registry.ts'
import { ADMIN_PERMISSIONS, setClientAdminPermissions } from '../../src/admin/permissions.ts'
import { ADMIN_ROUTES } from '../../src/admin/routes/index.ts'
import { openApiPath } from '../../src/admin/openapi.ts'

const ROOT = { login: 'root@example.test', password: 'root has a long passphrase' }
const MFA_ROOT = { login: 'mfa-root@example.test', password: 'mfa root has a long passphrase' }
const A_ADMIN = { login: 'admin@acme.test', password: 'acme admin long passphrase' }
const SVC_SECRET = 'admin-service-secret-0123456789-0123456789'

describe.each(STORAGE_MODES)('admin API (%s)', (mode) => {
  let iam: IamInstance
  let call: ReturnType<typeof adminApi>
  const ids = {} as Record<'root' | 'mfaRoot' | 'aAdmin' | 'aUser' | 'bUser' | 'tenantA' | 'tenantB' | 'adminRole' | 'bRole' | 'defaultTenant', string>
  let mfaSecret: string
  let rootToken: string
  let svcToken: string
  let aToken: string
  // One TOTP sign-in per server (a code is accepted once); the file runs well within the step-up window.
  let mfaTokenOnce: Promise<string> | undefined
  const mfaRootToken = () => (mfaTokenOnce ??= personToken(iam.issuer, { ...MFA_ROOT, totpSecret: mfaSecret }, ADMIN_PERMISSIONS))

  beforeAll(async () => {
    iam = await createIam(mode)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      ids.defaultTenant = (await ensureDefaultTenant(prisma)).id
      const admin = await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])
      ids.adminRole = admin.id
      const a = await prisma.tenant.create({ data: { slug: 'acme', name: 'Acme' } })
      const b = await prisma.tenant.create({ data: { slug: 'globex', name: 'Globex' } })
      ids.tenantA = a.id
      ids.tenantB = b.id
      const root = await createUser(prisma, { email: ROOT.login, password: ROOT.password, emailVerified: true })
      await assignRole(prisma, root.id, admin.id)
      ids.root = root.id
      const mfaRoot = await createUser(prisma, { email: MFA_ROOT.login, password: MFA_ROOT.password, emailVerified: true })
      await assignRole(prisma, mfaRoot.id, admin.id)
      mfaSecret = await addTotpFactor(prisma, mfaRoot.id)
      ids.mfaRoot = mfaRoot.id
      const aAdmin = await createUser(prisma, { email: A_ADMIN.login, password: A_ADMIN.password, emailVerified: true, tenantId: a.id })
      await assignRole(prisma, aAdmin.id, admin.id)
      ids.aAdmin = aAdmin.id
      ids.aUser = (await createUser(prisma, { email: 'worker@acme.test', displayName: 'Acme Worker', tenantId: a.id })).id
      ids.bUser = (await createUser(prisma, { email: 'secret-person@globex.test', displayName: 'Globex Person', tenantId: b.id })).id
      ids.bRole = (await prisma.role.create({ data: { name: 'globex-staff', tenantId: b.id } })).id
      await createClient(prisma, { clientId: ADMIN_TEST_CLIENT, name: 'Admin test RP', kind: 'spa', firstParty: true, redirectUris: [ADMIN_TEST_REDIRECT] })
      await createClient(prisma, { clientId: 'svc-admin', name: 'Admin automation', kind: 'service', secret: SVC_SECRET })
      await setClientAdminPermissions(prisma, 'svc-admin', ADMIN_PERMISSIONS)
      await createClient(prisma, { clientId: 'svc-acme', name: 'Acme automation', kind: 'service', secret: SVC_SECRET, tenantId: a.id })
      await setClientAdminPermissions(prisma, 'svc-acme', ADMIN_PERMISSIONS)
      // Registered without admin scopes: may ask for them, must not get them.
      await createClient(prisma, { clientId: 'svc-plain', name: 'Plain service', kind: 'service', secret: SVC_SECRET })
    })
    await iam.start()
    call = adminApi(iam.issuer)
    rootToken = await personToken(iam.issuer, ROOT, ADMIN_PERMISSIONS)
    svcToken = await serviceToken(iam.issuer, 'svc-admin', SVC_SECRET, ADMIN_PERMISSIONS)
    aToken = await personToken(iam.issuer, A_ADMIN, ADMIN_PERMISSIONS)
  })
  afterAll(async () => {
    await iam?.close()
  })

  const expectProblem = (res: Awaited<ReturnType<ReturnType<typeof adminApi>>>, status: number) => {
    expect(res.status, res.text).toBe(status)
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(res.json).toMatchObject({ type: expect.stringMatching(/^(https:\/\/|about:blank)/), title: expect.any(String), status, detail: expect.any(String), instance: expect.stringMatching(/^\/admin\/api\/v1/) })
    return res.json
  }

  it('says who the caller is: person (global, tenant) and service', async () => {
    const me = await call(rootToken, 'GET', '/me')
    expect(me.json).toMatchObject({ sub: ids.root, kind: 'person', email: ROOT.login, scope: 'global', tenant: { slug: 'default' } })
    expect(me.json.permissions).toEqual(ADMIN_PERMISSIONS)
    expect((await call(aToken, 'GET', '/me')).json).toMatchObject({ scope: 'tenant', tenant: { id: ids.tenantA, slug: 'acme' } })
    expect((await call(svcToken, 'GET', '/me')).json).toMatchObject({ sub: 'svc-admin', kind: 'service', scope: 'global', tenant: null, permissions: ADMIN_PERMISSIONS })
    // A service whose registration lists no admin permission gets no token for the admin API at all.
    await expect(serviceToken(iam.issuer, 'svc-plain', SVC_SECRET, ADMIN_PERMISSIONS)).rejects.toMatchObject({ error: 'invalid_target' })
  })

  it('answers 401 with WWW-Authenticate without a token or with a bad one', async () => {
    const none = await call(undefined, 'GET', '/users')
    expectProblem(none, 401)
    expect(none.headers.get('www-authenticate')).toBe('Bearer')
    for (const bad of ['garbage', 'a.b.c', svcToken.slice(0, -4) + 'AAAA']) {
      const res = await call(bad, 'GET', '/users')
      expectProblem(res, 401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
    }
    // A token for another resource server is not one for this API.
    const svc = await oidc.discovery(new URL(iam.issuer), 'svc', SERVICE_SECRET, oidc.ClientSecretBasic(SERVICE_SECRET), { execute: [oidc.allowInsecureRequests] })
    const other = (await oidc.clientCredentialsGrant(svc, { scope: 'read', resource: API })).access_token
    const foreign = await call(other, 'GET', '/users')
    expectProblem(foreign, 401)
    expect(foreign.headers.get('www-authenticate')).toMatch(/error="invalid_token"/)
    // Nothing here sets or reads cookies, and no CORS headers are sent.
    const cross = await call(rootToken, 'GET', '/users', undefined, { origin: 'https://evil.example' })
    expect(cross.headers.get('access-control-allow-origin')).toBeNull()
    expect(cross.headers.get('set-cookie')).toBeNull()
  })

  it('checks every route’s permission: without it 403 naming it, with it not 403', async () => {
    const concrete = (path: string) => path.replace(':sessionId', 'no-such-session').replace(':id', 'no-such-id')
    for (const route of ADMIN_ROUTES) {
      if (!route.permission) continue
      const without = await serviceToken(iam.issuer, 'svc-admin', SVC_SECRET, ADMIN_PERMISSIONS.filter((p) => p !== route.permission))
      const denied = await call(without, route.method.toUpperCase(), concrete(route.path), route.body ? {} : undefined)
      const problem = expectProblem(denied, 403)
      expect(problem.detail, `${route.method} ${route.path}`).toContain(route.permission)
      expect(problem.permission).toBe(route.permission)
      const only = await serviceToken(iam.issuer, 'svc-admin', SVC_SECRET, [route.permission])
      const allowed = await call(only, route.method.toUpperCase(), concrete(route.path), route.body ? {} : undefined)
      expect(allowed.status, `${route.method} ${route.path}: ${allowed.text}`).not.toBe(403)
      expect(allowed.status, `${route.method} ${route.path}: ${allowed.text}`).toBeLessThan(500)
    }
  })

  it('answers problem+json with field errors for bad input, 409 for conflicts, never 500', async () => {
    const bad = await call(rootToken, 'POST', '/users', { email: 'not-an-email', roleIds: 'x', extra: 1 })
    const problem = expectProblem(bad, 400)
    expect(problem.type).toBe('https://iam.dev/problems/validation-error')
    const paths = problem.errors.map((e: { path: string }) => e.path)
    expect(paths).toEqual(expect.arrayContaining(['email', 'roleIds']))
    expect(problem.errors.every((e: { message: string }) => typeof e.message === 'string' && e.message.length > 0)).toBe(true)
    expectProblem(await call(rootToken, 'POST', '/users', '{"email": '), 400)
    expectProblem(await call(rootToken, 'GET', '/users?limit=1000'), 400)
    expectProblem(await call(rootToken, 'GET', '/users?cursor=bm90LWEtY3Vyc29y'), 400)
    expectProblem(await call(rootToken, 'GET', '/audit?from=yesterday'), 400)
    expectProblem(await call(rootToken, 'POST', '/clients', { name: 'x', kind: 'web', redirectUris: ['javascript:alert(1)'] }), 400)
    expectProblem(await call(rootToken, 'POST', '/users', { email: 'alice@example.test' }), 409)
    // Passwords an administrator sets meet the same policy as everyone's (length, breached list, own address).
    for (const password of ['short pw', 'password1234', 'newbie@example.test!']) {
      const weak = expectProblem(await call(rootToken, 'POST', '/users', { email: 'newbie@example.test', password }), 400)
      expect(weak.errors).toEqual([{ path: 'password', message: expect.any(String) }])
    }
    const alice = (await call(rootToken, 'GET', '/users?email=alice@example.test')).json.items[0]
    const refused = expectProblem(await call(rootToken, 'PATCH', `/users/${alice.id}`, { displayName: 'Not applied', password: 'password1234' }), 400)
    expect(refused.errors.map((e: { path: string }) => e.path)).toEqual(['password'])
    expect((await call(rootToken, 'GET', `/users/${alice.id}`)).json.displayName).not.toBe('Not applied')
    expect((await call(rootToken, 'GET', '/users?email=newbie@example.test')).json.items).toEqual([])
    expectProblem(await call(rootToken, 'GET', '/users/nope'), 404)
    expectProblem(await call(rootToken, 'GET', '/nothing-here'), 404)
    expectProblem(await call(rootToken, 'PUT', '/users'), 405)
  })

  it('creates, changes and deletes users, roles, tenants and clients, auditing each with the actor', async () => {
    // Giving roles and deleting or registering anything that holds a credential asks for a second factor.
    const mfaToken = await mfaRootToken()
    const role = await call(svcToken, 'POST', '/roles', { name: 'support', permissions: ['reports:view', 'tickets:write'], description: 'Helpdesk' })
    expect(role.status, role.text).toBe(201)
    expect(role.json).toMatchObject({ name: 'support', tenantId: null, permissions: ['reports:view', 'tickets:write'], userCount: 0 })
    const created = await call(mfaToken, 'POST', '/users', { email: 'New.Person@Example.test', displayName: 'New Person', roleIds: [role.json.id] })
    expect(created.status, created.text).toBe(201)
    expect(created.json).toMatchObject({ email: 'new.person@example.test', tenantId: ids.defaultTenant, status: 'active', locked: false, roles: [{ id: role.json.id, name: 'support' }] })
    const id = created.json.id
    expect((await call(rootToken, 'GET', `/users/${id}`)).json.displayName).toBe('New Person')
    const disabled = await call(rootToken, 'PATCH', `/users/${id}`, { status: 'disabled', displayName: 'Gone Person' })
    expect(disabled.json).toMatchObject({ status: 'disabled', displayName: 'Gone Person' })
    expect((await call(rootToken, 'GET', `/users?status=disabled&q=gone`)).json.items.map((u: { id: string }) => u.id)).toEqual([id])
    expect((await call(rootToken, 'GET', `/users?role=support`)).json.items.map((u: { id: string }) => u.id)).toEqual([id])
    expect((await call(rootToken, 'PUT', `/users/${id}/roles`, { roleIds: [] })).json.roles).toEqual([])
    expect((await call(rootToken, 'GET', `/users/${id}/factors`)).json).toEqual({ items: [] })
    expect((await call(rootToken, 'GET', `/users/${id}/sessions`)).json).toEqual({ items: [] })
    expect((await call(rootToken, 'POST', `/users/${id}/unlock`)).json.locked).toBe(false)
    expect((await call(mfaToken, 'DELETE', `/users/${id}`)).status).toBe(204)
    expectProblem(await call(rootToken, 'GET', `/users/${id}`), 404)

    const tenant = await call(rootToken, 'POST', '/tenants', { slug: 'initech', name: 'Initech', registrationMode: 'invite' })
    expect(tenant.json).toMatchObject({ slug: 'initech', registrationMode: 'invite', userCount: 0 })
    expect((await call(rootToken, 'PATCH', `/tenants/${tenant.json.id}`, { name: 'Initech Ltd' })).json.name).toBe('Initech Ltd')
    expectProblem(await call(rootToken, 'DELETE', `/tenants/${ids.defaultTenant}`), 409)
    expect((await call(mfaToken, 'DELETE', `/tenants/${tenant.json.id}`)).status).toBe(204)

    const client = await call(mfaToken, 'POST', '/clients', { name: 'Partner', kind: 'web', redirectUris: ['https://partner.example/cb'], grantTypes: ['authorization_code'] })
    expect(client.status, client.text).toBe(201)
    expect(client.json.clientSecret).toMatch(/.{32,}/)
    expect(client.json.client).toMatchObject({ kind: 'web', hasSecret: true, grantTypes: ['authorization_code'], redirectUris: ['https://partner.example/cb'] })
    const patched = await call(mfaToken, 'PATCH', `/clients/${client.json.client.id}`, { redirectUris: ['https://partner.example/cb2'], mfaPolicy: 'required' })
    expect(patched.json).toMatchObject({ redirectUris: ['https://partner.example/cb2'], mfaPolicy: 'required', grantTypes: ['authorization_code'] })
    expect(JSON.stringify(patched.json)).not.toContain(client.json.clientSecret)
    expect((await call(mfaToken, 'DELETE', `/clients/${client.json.client.id}`)).status).toBe(204)
    expect((await call(rootToken, 'DELETE', `/roles/${role.json.id}`)).status).toBe(204)

    const audit = async (type: string) => (await call(rootToken, 'GET', `/audit?type=${type}`)).json.items
    expect((await audit('admin_role_create'))[0]).toMatchObject({ actor: 'client:svc-admin', outcome: 'success', details: { name: 'support' } })
    expect((await audit('admin_user_create'))[0]).toMatchObject({ actor: ids.mfaRoot, userId: id, details: { email: 'new.person@example.test' } })
    expect((await audit('admin_user_update'))[0]).toMatchObject({ actor: ids.root, details: { status: 'disabled' } })
    for (const type of ['admin_user_roles_set', 'admin_user_unlock', 'admin_tenant_create', 'admin_tenant_update', 'admin_role_delete']) {
      expect((await audit(type))[0], type).toMatchObject({ actor: ids.root })
    }
    for (const type of ['admin_user_delete', 'admin_tenant_delete', 'admin_client_create', 'admin_client_update', 'admin_client_delete']) {
      expect((await audit(type))[0], type).toMatchObject({ actor: ids.mfaRoot })
    }
    expect(JSON.stringify(await audit('admin_client_create'))).not.toContain(client.json.clientSecret)
  })

  it('keeps tenant A’s admin out of tenant B: not readable, changeable, deletable or even counted', async () => {
    const list = await call(aToken, 'GET', '/users?limit=100')
    expect(list.json.items.map((u: { email: string }) => u.email).sort()).toEqual(['admin@acme.test', 'worker@acme.test'])
    for (const query of ['q=globex', 'q=secret-person', 'email=secret-person@globex.test', `tenantId=${ids.tenantB}`]) {
      expect((await call(aToken, 'GET', `/users?${query}`)).json.items, query).toEqual([])
    }
    const stats = await call(aToken, 'GET', '/stats')
    expect(stats.json).toMatchObject({ users: 2, tenants: 1 })
    const globalStats = await call(rootToken, 'GET', '/stats')
    expect(globalStats.json.users).toBeGreaterThan(stats.json.users)
    const b = `/users/${ids.bUser}`
    for (const [method, path, body] of [
      ['GET', b], ['PATCH', b, { displayName: 'pwned' }], ['DELETE', b], ['PUT', `${b}/roles`, { roleIds: [] }],
      ['GET', `${b}/sessions`], ['DELETE', `${b}/sessions`], ['GET', `${b}/factors`], ['POST', `${b}/unlock`],
      ['GET', `/tenants/${ids.tenantB}`], ['GET', `/roles/${ids.bRole}`], ['DELETE', `/roles/${ids.bRole}`],
    ] as Array<[string, string, unknown?]>) {
      expectProblem(await call(aToken, method, path, body), 404)
    }
    // Not created across tenants, nor given another tenant's roles; global rows are read-only.
    expectProblem(await call(aToken, 'POST', '/users', { email: 'x@globex.test', tenantId: ids.tenantB }), 403)
    expectProblem(await call(aToken, 'PUT', `/users/${ids.aUser}/roles`, { roleIds: [ids.bRole] }), 400)
    expectProblem(await call(aToken, 'POST', '/tenants', { slug: 'mine', name: 'Mine' }), 403)
    expectProblem(await call(aToken, 'PATCH', `/roles/${ids.adminRole}`, { description: 'mine now' }), 403)
    expectProblem(await call(aToken, 'POST', '/roles', { name: 'global-ish', permissions: [], tenantId: null }), 403)
    expect((await call(aToken, 'GET', `/tenants`)).json.items.map((t: { slug: string }) => t.slug)).toEqual(['acme'])
    // Its own tenant works, and its new rows land in its tenant.
    const mine = await call(aToken, 'POST', '/users', { email: 'new@acme.test' })
    expect(mine.json.tenantId).toBe(ids.tenantA)
    const role = await call(aToken, 'POST', '/roles', { name: 'acme-staff', permissions: ['users:read'] })
    expect(role.json.tenantId).toBe(ids.tenantA)
    // The admin role (global, visible) counts only A's members for A.
    expect((await call(aToken, 'GET', `/roles/${ids.adminRole}`)).json.userCount).toBe(1)
    // B's rows still exist, untouched; the audit log shows A none of B's events.
    expect((await call(rootToken, 'GET', b)).json.displayName).toBe('Globex Person')
    await call(rootToken, 'PATCH', b, { givenName: 'Gloria' })
    const events = (await call(aToken, 'GET', '/audit?limit=100')).json.items
    expect(events.some((e: { userId: string | null }) => e.userId === ids.bUser)).toBe(false)
    expect(events.some((e: { userId: string | null }) => e.userId === mine.json.id)).toBe(true)
    // A tenant service client is confined the same way.
    const svcA = await serviceToken(iam.issuer, 'svc-acme', SVC_SECRET, ADMIN_PERMISSIONS)
    expect((await call(svcA, 'GET', '/me')).json).toMatchObject({ scope: 'tenant', tenant: { id: ids.tenantA } })
    expectProblem(await call(svcA, 'GET', b), 404)
    expect((await call(svcA, 'GET', '/users?q=globex')).json.items).toEqual([])
  })

  it('pages through users with a cursor: no duplicates, nextCursor null at the end', async () => {
    for (let i = 0; i < 30; i++) {
      const res = await call(svcToken, 'POST', '/users', { email: `page-${String(i).padStart(2, '0')}@paging.test` })
      expect(res.status, res.text).toBe(201)
    }
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const res: Awaited<ReturnType<typeof call>> = await call(svcToken, 'GET', `/users?q=paging.test&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      expect(res.status).toBe(200)
      expect(res.json.items.length).toBeLessThanOrEqual(10)
      seen.push(...res.json.items.map((u: { email: string }) => u.email))
      cursor = res.json.nextCursor
      pages++
    } while (cursor && pages < 10)
    expect(pages).toBe(3)
    expect(new Set(seen).size).toBe(30)
    expect(seen[0]).toBe('page-29@paging.test') // newest first
  })

  it('exports the audit log as CSV (quoted, formulas defused, filtered) and as a JSON array', async () => {
    const agent = '=HYPERLINK("http://evil.example","click"),\nnext'
    const created = await call(rootToken, 'POST', '/users', { email: 'csv@example.test' }, { 'user-agent': agent.replace('\n', ' ') })
    const res = await fetch(`${iam.issuer}/admin/api/v1/audit/export?format=csv&type=admin_user_create&userId=${created.json.id}`, { headers: { authorization: `Bearer ${rootToken}` } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/)
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-.*\.csv"$/)
    const text = await res.text()
    const lines = text.split('\r\n').filter(Boolean)
    expect(lines[0]).toBe('id,at,type,outcome,actor,userId,tenantId,clientId,ip,userAgent,requestId,details')
    expect(lines).toHaveLength(2)
    expect(lines[1]).toContain(`,admin_user_create,success,${ids.root},${created.json.id},`)
    expect(lines[1]).toContain(`"'=HYPERLINK(""http://evil.example"",""click""), next"`)
    expect(lines[1]).toContain('""email"":""csv@example.test""')

    const json = await fetch(`${iam.issuer}/admin/api/v1/audit/export?format=json&type=admin_user_create`, { headers: { authorization: `Bearer ${rootToken}` } })
    expect(json.headers.get('content-disposition')).toMatch(/\.json"$/)
    const events = JSON.parse(await json.text()) as Array<{ type: string }>
    expect(events.length).toBeGreaterThan(1)
    expect(events.every((e) => e.type === 'admin_user_create')).toBe(true)
    expectProblem(await call(rootToken, 'GET', '/audit/export?format=xml'), 400)
  })

  it('demands a recent second factor (RFC 9470) to reset factors, create a global admin and rotate a secret', async () => {
    const victim = await call(rootToken, 'POST', '/users', { email: 'victim@example.test' })
    const challenges = [
      await call(rootToken, 'DELETE', `/users/${victim.json.id}/factors`),
      await call(rootToken, 'POST', '/users', { email: 'new-root@example.test', roleIds: [ids.adminRole] }),
      await call(rootToken, 'PUT', `/users/${victim.json.id}/roles`, { roleIds: [ids.adminRole] }),
      await call(rootToken, 'POST', '/clients/svc/secret'),
    ]
    for (const res of challenges) {
      const problem = expectProblem(res, 401)
      expect(problem).toMatchObject({ acr_values: 'urn:iam:acr:mfa', max_age: 600 })
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="insufficient_user_authentication", error_description="[^"]+", acr_values="urn:iam:acr:mfa", max_age=600$/)
    }
    // Services have no person to step up.
    expectProblem(await call(svcToken, 'POST', '/clients/svc/secret'), 403)
    expect((await call(rootToken, 'GET', '/users?q=new-root')).json.items).toEqual([])
    // A tenant admin cannot give the global admin role at all (admin-boundaries.test.ts).
    expectProblem(await call(aToken, 'POST', '/users', { email: 'second-admin@acme.test', roleIds: [ids.adminRole] }), 403)

    const mfaToken = await mfaRootToken()
    expect((await call(mfaToken, 'DELETE', `/users/${victim.json.id}/factors`)).status).toBe(204)
    expect((await call(mfaToken, 'POST', '/users', { email: 'new-root@example.test', roleIds: [ids.adminRole] })).status).toBe(201)
    expect((await call(mfaToken, 'PUT', `/users/${victim.json.id}/roles`, { roleIds: [ids.adminRole] })).json.roles).toEqual([{ id: ids.adminRole, name: 'admin' }])
    const rotated = await call(mfaToken, 'POST', '/clients/svc/secret')
    expect(rotated.status, rotated.text).toBe(200)
    expect(rotated.json.clientSecret).toMatch(/.{32,}/)
    const events = (await call(rootToken, 'GET', '/audit?type=admin_client_secret_rotate')).json.items
    expect(events[0]).toMatchObject({ actor: ids.mfaRoot, clientId: 'svc' })
    expect(JSON.stringify(events)).not.toContain(rotated.json.clientSecret)
  })

  it('reads permissions from the person’s roles on every request: a removed role takes effect at once', async () => {
    const helper = await call(rootToken, 'POST', '/users', { email: 'helper@acme.test', tenantId: ids.tenantA, emailVerified: true })
    // Give helper a password directly so they can sign in, and the admin role (a tenant admin): both ask for the step-up.
    await call(await mfaRootToken(), 'PATCH', `/users/${helper.json.id}`, { password: 'helper has a long passphrase', roleIds: [ids.adminRole] })
    const token = await personToken(iam.issuer, { login: 'helper@acme.test', password: 'helper has a long passphrase' }, ADMIN_PERMISSIONS)
    expect((await call(token, 'GET', '/users')).status).toBe(200)
    await call(rootToken, 'PUT', `/users/${helper.json.id}/roles`, { roleIds: [] })
    expectProblem(await call(token, 'GET', '/users'), 403)
    await call(rootToken, 'PATCH', `/users/${helper.json.id}`, { status: 'disabled' })
    expectProblem(await call(token, 'GET', '/me'), 401)
  })

  it('publishes an OpenAPI 3.1 document generated from the route table the router serves', async () => {
    const doc = await (await fetch(`${iam.issuer}/admin/api/openapi.json`)).json() as any
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/)
    expect(doc.components.schemas.Problem).toBeTruthy()
    let operations = 0
    for (const [path, item] of Object.entries(doc.paths) as Array<[string, Record<string, any>]>) operations += Object.keys(item).length
    expect(operations).toBe(ADMIN_ROUTES.length)
    for (const route of ADMIN_ROUTES) {
      const op = doc.paths[`/admin/api/v1${openApiPath(route.path)}`]?.[route.method]
      expect(op, `${route.method} ${route.path}`).toBeTruthy()
      if (route.body) {
        // A body schema with an id is a $ref to its $defs entry.
        const body = op.requestBody.content['application/json'].schema
        expect((body.$ref ? body.$defs[body.$ref.split('/').pop()] : body).type, `${route.method} ${route.path}`).toBe('object')
      }
      if (route.permission) expect(op['x-permission']).toBe(route.permission)
      // Served: with a token, never the router's 404 for an unknown route.
      const res = await call(svcToken, route.method.toUpperCase(), route.path.replace(':sessionId', 'x').replace(':id', 'x'), route.body ? {} : undefined)
      expect(res.json?.detail ?? '', `${route.method} ${route.path}`).not.toMatch(/no admin API route/)
    }
    const users = doc.paths['/admin/api/v1/users'].post.requestBody.content['application/json'].schema
    expect(users.required).toContain('email')
    expect(users.properties.email).toBeTruthy()
  })
})

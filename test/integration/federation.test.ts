// Sign-in through an upstream identity provider (FEDERATION): Microsoft Entra ID, multi-tenant and
// single-tenant, and a generic OIDC provider, all played by test/support/fake-entra.ts (real
// oidc-provider instances on loopback). openid-client 6 is the relying party of OUR server; our
// server is the relying party of the fake. Pages are walked like a person without JavaScript
// would; at the upstream the person the test chose signs in without pages.
//
// Database checks: live in postgres-redis mode. The embedded database opens only while the server
// is stopped, so there checks that stay true are collected and run once at the end (`dbLater`),
// and only those that must happen in between (an administrator's change) restart it (`dbNow`).
// Audit rows are checked in postgres-redis mode.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formsOf, formWithAction, type PageResponse } from '../support/browser.ts'
import { generate } from 'otplib'
import { SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { startFakeEntra, CONTOSO_TID, FABRIKAM_TID, type FakeEntra, type UpstreamUser } from '../support/fake-entra.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { createClient } from '../../src/clients/registry.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'
import { addTotpFactor, totpCode } from '../support/mfa-fixtures.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const ACR_MFA = 'urn:iam:acr:mfa'

/** First-party (no consent page). */
const APP = { clientId: 'first', redirect: 'http://localhost:4000/callback' }
/** First-party, MFA required by client policy. */
const MFA_APP = { clientId: 'fed-mfa-app', redirect: 'http://localhost:6101/callback' }

// Entra group object ids and app roles, and the local roles they map to.
const FINANCE_GROUP = '5a1d0c3e-7b2f-4e8a-9c61-0f2d3b4a5c6d'
const AUDIT_GROUP = '6b2e1d4f-8c3a-4f9b-8d72-1a3e4c5b6d7e'
const UNMAPPED_GROUP = '7c3f2e5a-9d4b-4a0c-9e83-2b4f5d6c7e8f'
const ROLE_MAPPING = { [FINANCE_GROUP]: 'finance', [AUDIT_GROUP]: 'auditor', Approver: 'approver' }

/** A local account with a password, whose email an upstream person will also claim. */
const CARLA = { email: 'carla@contoso.com', password: 'carla has a long passphrase' }
const LINA = { email: 'lina@contoso.com', password: 'lina has a long passphrase' }
const TESS_EMAIL = 'tess@contoso.com'

/** Every upstream on the login page, in configuration order. */
const UPSTREAMS = ['entra', 'entra-single', 'generic', 'entra-mfa', 'generic-nojit', 'entra-down']

// The pages' messages (src/interaction/federation.ts, src/app.ts).
const TEXT = {
  cancelled: 'Signing in with Microsoft was cancelled or refused, so you are not signed in.',
  upstreamError: (name: string) => `${name} could not sign you in.`,
  stateMismatch: 'This response from Microsoft was already used, has expired, or belongs to another sign-in. Start again.',
  responseExpired: 'This sign-in response was already used, or the sign-in it belongs to has ended or expired. Go back to the application and sign in again.',
  pageExpired: 'This sign-in page has expired or was opened in another browser. Go back to the application and sign in again.',
  tenantNotAllowed: 'Your organisation is not allowed to sign in here. Ask your administrator if you think this is wrong.',
  notVerified: (name: string) => `The response from ${name} could not be verified, so you are not signed in. Try again.`,
  unreachable: (name: string) => `${name} did not answer. Try again in a few minutes, or use your password.`,
  graphFailed: 'We could not read your group memberships from Microsoft, so you are not signed in. Try again in a few minutes.',
  noAccount: 'No account for you here; ask your administrator to give you access.',
  disabled: 'This account is disabled. Contact your administrator.',
  noPassword: 'An account with your email already exists here, but it has no password or authenticator app to confirm it is yours. Ask your administrator to link it to your Microsoft sign-in.',
  wrongPassword: 'That password is not correct, or the account is locked for a while after too many failed attempts. Check it and try again, or try again later.',
}

describe.each(STORAGE_MODES)('federation (%s)', (mode) => {
  let fake: FakeEntra
  let iam: IamInstance
  let app: oidc.Configuration
  let mfaApp: oidc.Configuration
  let spa: oidc.Configuration
  let carlaId: string
  let tessSecret: string
  const laterChecks: Array<{ label: string; check: (prisma: PrismaClient) => Promise<void> }> = []

  beforeAll(async () => {
    fake = await startFakeEntra()
    iam = await createIam(mode, {
      env: fake.federationEnv({
        entra: { roleMapping: ROLE_MAPPING },
        'entra-single': { roleMapping: ROLE_MAPPING },
        // The same Entra app, trusting Entra's MFA.
        'entra-mfa': { name: 'Microsoft (trusted MFA)', trustMfa: true, domains: [] },
        // The generic upstream again, without just-in-time accounts.
        'generic-nojit': { type: 'oidc', name: 'Partner IdP', domains: [], jit: { enabled: false } },
        // Never used before its upstream goes down: its discovery has never been fetched.
        'entra-down': { name: 'Contoso Backup', tenant: CONTOSO_TID, allowedTenants: undefined, domains: [] },
      }),
    })
    fake.allowRp(iam.issuer)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      for (const role of ['finance', 'auditor', 'approver', 'reviewer']) await ensureRole(prisma, role)
      const carla = await createUser(prisma, { ...CARLA, displayName: 'Carla Local', emailVerified: true })
      carlaId = carla.id
      await createUser(prisma, { ...LINA, displayName: 'Lina Local', emailVerified: true })
      // An account with no password but an authenticator app: it proves itself with a code.
      const tess = await createUser(prisma, { email: TESS_EMAIL, displayName: 'Tess Local', emailVerified: true })
      tessSecret = await addTotpFactor(prisma, tess.id)
      await createClient(prisma, { clientId: MFA_APP.clientId, name: 'MFA App', kind: 'spa', firstParty: true, redirectUris: [MFA_APP.redirect], mfaPolicy: 'required' })
    })
    await iam.start()
    app = await oidc.discovery(new URL(iam.issuer), APP.clientId, undefined, oidc.None(), insecure)
    mfaApp = await oidc.discovery(new URL(iam.issuer), MFA_APP.clientId, undefined, oidc.None(), insecure)
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  })

  afterAll(async () => {
    await iam?.close()
    await fake?.close()
  })

  // --- helpers -------------------------------------------------------------------------------

  /** Direct database access now (embedded: stops the server meanwhile). */
  const dbNow = <T>(fn: (prisma: PrismaClient) => Promise<T>) => iam.databaseNow(fn)

  /** A check of something that stays true: now in postgres-redis mode, at the end in embedded mode. */
  async function dbLater(label: string, check: (prisma: PrismaClient) => Promise<void>) {
    if (mode === 'postgres-redis') return iam.databaseNow(check)
    laterChecks.push({ label, check })
  }

  /** The newest audit row of `type` (postgres-redis only; embedded: skipped). */
  async function expectAudit(type: string, outcome: 'success' | 'failure', details: Record<string, unknown>, since: Date) {
    if (mode !== 'postgres-redis') return
    const rows = await iam.databaseNow((prisma) => prisma.auditEvent.findMany({ where: { type, outcome, at: { gte: since } }, orderBy: { at: 'desc' } }))
    expect(rows.map((r) => r.details), `${type}/${outcome} since ${since.toISOString()}`).toContainEqual(expect.objectContaining(details))
    return rows
  }

  interface Rp { config: oidc.Configuration; redirect: string }
  const APP_RP = (): Rp => ({ config: app, redirect: APP.redirect })
  const MFA_RP = (): Rp => ({ config: mfaApp, redirect: MFA_APP.redirect })

  async function authorize(rp: Rp, params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const url = oidc.buildAuthorizationUrl(rp.config, {
      redirect_uri: rp.redirect, scope: 'openid profile email roles', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
    })
    return { url: url.href, verifier, state }
  }
  type AuthRequest = Awaited<ReturnType<typeof authorize>>

  const isOurs = (res: PageResponse) => new URL(res.url).origin === iam.issuer
  const atFake = (res: PageResponse) => new URL(res.url).origin === fake.base
  const atRp = (res: PageResponse, rp: Rp) => { const u = new URL(res.url); return u.origin + u.pathname === rp.redirect }

  /** The text of the page's alert, without markup. */
  const alertText = (html: string) => /role="alert"[^>]*>([\s\S]*?)<\/div>/.exec(html)?.[1]
    ?.replace(/<[^>]+>/g, ' ').replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim()

  function submit(browser: HttpBrowser, res: PageResponse, suffix: string, fields: Record<string, string> = {}) {
    const form = formWithAction(res.body, suffix)
    return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
  }

  /** Authorization request → our login page. */
  async function loginPage(rp: Rp = APP_RP(), params: Record<string, string> = {}) {
    const browser = new HttpBrowser(iam.issuer)
    const req = await authorize(rp, params)
    const page = await browser.navigate(req.url)
    return { browser, req, page }
  }

  /** The upstream leg: from our redirect to the fake, through the fake, back to our callback and on. */
  async function throughUpstream(browser: HttpBrowser, leaving: PageResponse): Promise<PageResponse> {
    expect(atFake(leaving), `expected a redirect to the upstream, got ${leaving.status} ${leaving.url}:\n${leaving.body.slice(0, 1500)}`).toBe(true)
    const back = await fake.followUpstream(leaving.url)
    expect(back.url.origin).toBe(iam.issuer)
    return browser.navigate(back.url.href, back.form ? { form: back.form } : {})
  }

  /** Presses "Sign in with …" on the login page: the response is a redirect to the upstream. */
  function pressButton(browser: HttpBrowser, page: PageResponse, upstream: string) {
    return submit(browser, page, `/federation/${upstream}`)
  }

  /** To the upstream and back, stopping at our callback URL (not followed). */
  async function toCallback(upstream: string, person: UpstreamUser, rp: Rp = APP_RP()) {
    fake.nextUser(person)
    const { browser, req, page } = await loginPage(rp)
    const leaving = await pressButton(browser, page, upstream)
    expect(atFake(leaving), `${leaving.status} ${leaving.url}\n${leaving.body.slice(0, 1500)}`).toBe(true)
    const back = await fake.followUpstream(leaving.url)
    expect(back.form).toBeUndefined()
    return { browser, req, callback: back.url }
  }

  /**
   * A whole federated sign-in up to the first page of ours after the upstream (or the redirect to
   * the relying party): the login page, the upstream's button, the upstream signing in `person`.
   */
  async function federatedSignIn(upstream: string, person: UpstreamUser | undefined, opts: { rp?: Rp; params?: Record<string, string> } = {}) {
    if (person) fake.nextUser(person)
    const { browser, req, page } = await loginPage(opts.rp, opts.params)
    expect(page.status).toBe(200)
    const leaving = await pressButton(browser, page, upstream)
    const res = await throughUpstream(browser, leaving)
    return { browser, req, res }
  }

  /** Redeems the code the relying party received; returns the tokens. */
  async function redeem(res: PageResponse, req: AuthRequest, rp: Rp = APP_RP()) {
    expect(atRp(res, rp), `expected the relying party's callback, got ${res.status} ${res.url}:\n${res.body.slice(0, 2000)}`).toBe(true)
    return oidc.authorizationCodeGrant(rp.config, new URL(res.url), { pkceCodeVerifier: req.verifier, expectedState: req.state })
  }

  async function userinfo(tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, rp: Rp = APP_RP()) {
    return oidc.fetchUserInfo(rp.config, tokens.access_token, tokens.claims()!.sub)
  }

  const sortedRoles = (info: oidc.UserInfoResponse) => [...(info.roles as string[])].sort()

  /**
   * A refusal a person can act on: a page of ours (no redirect), not a server error (or a
   * deliberate 502 for an upstream that cannot be reached), an alert saying what happened, no
   * stack trace, and a way back (a link or a form: Try again, Use your password, Cancel).
   * Returns the alert's text.
   */
  function expectRefusal(res: PageResponse, opts: { status?: number } = {}) {
    expect(isOurs(res), `expected a page of ours, got ${res.status} ${res.url}`).toBe(true)
    expect(res.headers.get('location')).toBeNull()
    if (opts.status !== undefined) expect(res.status, res.body.slice(0, 2000)).toBe(opts.status)
    else expect(res.status, res.body.slice(0, 2000)).toBeLessThan(500)
    expect(res.headers.get('content-type')).toMatch(/text\/html/)
    const alert = alertText(res.body)
    expect(alert, res.body.slice(0, 2000)).toBeTruthy()
    expect(res.body).not.toMatch(/\bat [\w.<>]+ \(|node_modules|Error: |undefined/)
    expect(/<a\s[^>]*href=|<form\b/.test(res.body)).toBe(true)
    return alert!
  }

  /** An Entra person of contoso (object ids are GUIDs, as Entra's are). */
  const person = (name: string, extra: Partial<UpstreamUser> & { email?: string } = {}): UpstreamUser & { email: string } => ({
    oid: crypto.randomUUID(), email: `${name}@contoso.com`, name: `${name[0]!.toUpperCase()}${name.slice(1)} Upstream`, ...extra,
  })

  const rolesOf = (prisma: PrismaClient, email: string) => prisma.userRole.findMany({ where: { user: { email } }, include: { role: true } })
    .then((rows) => rows.map((r) => r.role.name).sort())

  // --- the login page -------------------------------------------------------------------------

  it('offers a "Sign in with …" button per upstream, each a form with the CSRF field', async () => {
    const { page } = await loginPage()
    expect(page.status).toBe(200)
    const forms = formsOf(page.body).filter((f) => /\/federation\/[^/]+$/.test(f.action))
    expect(forms.map((f) => f.action.split('/').at(-1))).toEqual(UPSTREAMS)
    for (const form of forms) {
      expect(form.action).toMatch(/^\/interaction\/[^/]+\/federation\/[a-z-]+$/)
      expect(form.fields.csrf).toBeTruthy()
    }
    expect(page.body).toContain('Sign in with Microsoft<')
    expect(page.body).toContain('Sign in with Generic IdP<')
  })

  it('refuses the upstream button without the CSRF field', async () => {
    const { browser, page } = await loginPage()
    const form = formWithAction(page.body, '/federation/entra')
    const res = await browser.request(new URL(form.action, iam.issuer).href, { form: {} })
    expect(res.status).toBe(403)
    expect(res.body).toContain('Form expired')
  })

  // --- JIT, roles ------------------------------------------------------------------------------

  it('creates a local account just in time for a person of an allowed tenant', async () => {
    const since = new Date()
    const jit = person('jit', { givenName: 'Jit', familyName: 'Upstream' })
    const { browser, req, res } = await federatedSignIn('entra', jit)
    const tokens = await redeem(res, req)
    const claims = tokens.claims()!
    expect(claims.iss).toBe(iam.issuer)
    expect(claims.amr).toEqual(['fed'])
    const info = await userinfo(tokens)
    expect(info.email).toBe(jit.email)
    expect(info.name).toBe(jit.name)
    expect(info.given_name).toBe('Jit')
    expect(info.roles).toEqual(['user'])
    await dbLater('JIT account and its link', async (prisma) => {
      const local = await prisma.user.findUnique({ where: { email: jit.email }, include: { federatedIdentities: true } })
      expect(local?.id).toBe(claims.sub)
      expect(local!.passwordHash).toBeNull()
      expect(local!.federatedIdentities.map((f) => ({ provider: f.provider, subject: f.subject }))).toEqual([{ provider: 'entra', subject: `${CONTOSO_TID}:${jit.oid}` }])
    })
    await expectAudit('federation_jit_created', 'success', { upstream: 'entra', tid: CONTOSO_TID, subject: `${CONTOSO_TID}:${jit.oid}`, roles: ['user'] }, since)
    await expectAudit('federation_success', 'success', { upstream: 'entra', method: 'provisioned', upstreamMfa: false }, since)

    // The session works like any other: prompt=none is answered silently.
    const silent = await authorize(APP_RP(), { prompt: 'none', scope: 'openid' })
    const silentRes = await browser.navigate(silent.url)
    expect(new URL(silentRes.url).searchParams.get('code'), silentRes.url).toBeTruthy()

    // The next sign-in finds the same account by tid:oid, whatever the email says now.
    const again = await federatedSignIn('entra', { ...jit, email: 'jit.renamed@contoso.com' })
    expect((await redeem(again.res, again.req)).claims()!.sub).toBe(claims.sub)
  })

  it('shows the consent page of a third-party client after the upstream', async () => {
    const rp: Rp = { config: spa, redirect: SPA_REDIRECT }
    const { browser, req, res } = await federatedSignIn('entra', person('connie'), { rp })
    expect(isOurs(res) && formsOf(res.body).some((f) => f.action.endsWith('/consent')), res.body.slice(0, 1500)).toBe(true)
    const done = await submit(browser, res, '/consent')
    expect((await redeem(done, req, rp)).claims()!.amr).toEqual(['fed'])
  })

  it('asks the upstream for a fresh login when the relying party asks us for one (prompt=login)', async () => {
    fake.nextUser(person('pia'))
    const { browser, page } = await loginPage(APP_RP(), { prompt: 'login' })
    const leaving = await pressButton(browser, page, 'entra')
    expect(atFake(leaving)).toBe(true)
    expect(new URL(leaving.url).searchParams.get('prompt')).toBe('login')
  })

  it('takes the email from preferred_username (the UPN) when Entra sends no email claim', async () => {
    const uma: UpstreamUser = { ...person('uma', { preferredUsername: 'uma.upn@contoso.com' }), email: undefined }
    const { req, res } = await federatedSignIn('entra', uma)
    expect((await userinfo(await redeem(res, req))).email).toBe('uma.upn@contoso.com')
  })

  it('grants mapped roles from groups and app roles, and takes them away when the upstream does', async () => {
    const since = new Date()
    const gus = person('gus', { groups: [FINANCE_GROUP, UNMAPPED_GROUP], roles: ['Approver'] })
    let { req, res } = await federatedSignIn('entra', gus)
    let tokens = await redeem(res, req)
    expect(sortedRoles(await userinfo(tokens))).toEqual(['approver', 'finance', 'user'])
    await expectAudit('federation_roles_synced', 'success', { upstream: 'entra', added: ['approver', 'finance'], removed: [] }, since)

    // An administrator grants two roles by hand: one the upstream never maps, one it also maps.
    await dbNow(async (prisma) => {
      const local = await prisma.user.findUniqueOrThrow({ where: { email: gus.email } })
      await assignRole(prisma, local.id, (await ensureRole(prisma, 'reviewer')).id)
      await assignRole(prisma, local.id, (await ensureRole(prisma, 'auditor')).id)
    })
    // Upstream now: the audit group (auditor is already held by hand), no finance group, no app role.
    ;({ req, res } = await federatedSignIn('entra', { ...gus, groups: [AUDIT_GROUP, UNMAPPED_GROUP], roles: [] }))
    tokens = await redeem(res, req)
    expect(sortedRoles(await userinfo(tokens))).toEqual(['auditor', 'reviewer', 'user'])
    // And without the audit group: the role given by hand stays.
    ;({ req, res } = await federatedSignIn('entra', { ...gus, groups: [], roles: [] }))
    tokens = await redeem(res, req)
    expect(sortedRoles(await userinfo(tokens))).toEqual(['auditor', 'reviewer', 'user'])
  })

  it('reads groups from Graph on group overage, and changes nothing when Graph fails', async () => {
    const olga = person('olga', { overage: [AUDIT_GROUP, UNMAPPED_GROUP] })
    const graphCalls = () => fake.requests.filter((r) => r.path.startsWith('/graph/v1.0/')).length
    const before = graphCalls()
    let { req, res } = await federatedSignIn('entra', olga)
    const tokens = await redeem(res, req)
    expect(sortedRoles(await userinfo(tokens))).toEqual(['auditor', 'user'])
    expect(graphCalls()).toBeGreaterThan(before)

    for (const graphMode of ['error', 'down'] as const) {
      const since = new Date()
      fake.graph(graphMode)
      try {
        // Upstream now says finance instead of audit: nothing of that may be applied.
        ;({ res } = await federatedSignIn('entra', { ...olga, overage: [FINANCE_GROUP] }))
        expect(expectRefusal(res, { status: 502 })).toBe(TEXT.graphFailed)
      } finally {
        fake.graph('ok')
      }
      await expectAudit('federation_failure', 'failure', { upstream: 'entra', reason: 'graph_failed' }, since)
    }
    await dbNow(async (prisma) => {
      expect(await rolesOf(prisma, olga.email)).toEqual(['auditor', 'user'])
    })
    // Graph back: the change applies.
    ;({ req, res } = await federatedSignIn('entra', { ...olga, overage: [FINANCE_GROUP] }))
    expect(sortedRoles(await userinfo(await redeem(res, req)))).toEqual(['finance', 'user'])
  })

  it('does not follow a Graph @odata.nextLink to another origin (the access token stays with Graph)', async () => {
    const many = Array.from({ length: 150 }, (_, i) => `00000000-0000-4000-9000-${String(i).padStart(12, '0')}`)
    const since = new Date()
    fake.graph('foreign-next-link')
    try {
      const { res } = await federatedSignIn('entra', person('leo', { overage: [...many, FINANCE_GROUP] }))
      expect(expectRefusal(res, { status: 502 })).toBe(TEXT.graphFailed)
    } finally {
      fake.graph('ok')
    }
    expect(fake.requests.filter((r) => r.at >= since.getTime() && r.host.startsWith('localhost'))).toEqual([])
    await expectAudit('federation_failure', 'failure', { upstream: 'entra', reason: 'graph_failed' }, since)
  })

  it('follows @odata.nextLink through every page of groups from Graph', async () => {
    const many = Array.from({ length: 230 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)
    // The mapped group is on the last page (Graph pages hold 100 here).
    const paula = person('paula', { overage: [...many, FINANCE_GROUP] })
    const pages = () => fake.requests.filter((r) => r.path.startsWith('/graph/v1.0/')).length
    const before = pages()
    const { req, res } = await federatedSignIn('entra', paula)
    expect(sortedRoles(await userinfo(await redeem(res, req)))).toEqual(['finance', 'user'])
    expect(pages() - before).toBe(3)
  })

  // --- refusals --------------------------------------------------------------------------------

  it('refuses a person from a tenant that is not allowed, and creates no account', async () => {
    const since = new Date()
    const fred = person('fred', { tid: FABRIKAM_TID, email: 'fred@fabrikam.com' })
    const { res } = await federatedSignIn('entra', fred)
    expect(expectRefusal(res, { status: 403 })).toBe(TEXT.tenantNotAllowed)
    // No "Try again": it would be refused again.
    expect(formsOf(res.body).some((f) => f.action.endsWith('/federation/entra'))).toBe(false)
    await expectAudit('federation_failure', 'failure', { upstream: 'entra', reason: 'tenant_not_allowed', tid: FABRIKAM_TID }, since)
    await dbLater('no account for the fabrikam person', async (prisma) => {
      expect(await prisma.user.count({ where: { email: fred.email } })).toBe(0)
      expect(await prisma.federatedIdentity.count({ where: { subject: { endsWith: fred.oid } } })).toBe(0)
    })
  })

  it('refuses an ID token whose tid is an allowed tenant but whose issuer is another tenant', async () => {
    const since = new Date()
    // Issued by fabrikam, claiming to be from contoso.
    const mallory = person('mallory', { tid: FABRIKAM_TID, claims: { tid: CONTOSO_TID } })
    const { res } = await federatedSignIn('entra', mallory)
    expect(expectRefusal(res, { status: 400 })).toBe(TEXT.notVerified('Microsoft'))
    await expectAudit('federation_failure', 'failure', { upstream: 'entra', reason: 'issuer_mismatch' }, since)
    await dbLater('no account from a forged tid', async (prisma) => {
      expect(await prisma.user.count({ where: { email: mallory.email } })).toBe(0)
    })
  })

  it('refuses an ID token whose claims were changed after it was signed (every kind of upstream)', async () => {
    const cases = [
      { upstream: 'entra', name: 'Microsoft', who: person('tom') },
      { upstream: 'entra-single', name: 'Contoso', who: person('tim') },
      { upstream: 'generic', name: 'Generic IdP', who: { oid: `gen-${crypto.randomUUID()}`, email: 'ted@generic.test', emailVerified: true } },
    ]
    for (const { upstream, name, who } of cases) {
      const since = new Date()
      fake.tamperNextIdToken({ email: `forged.${who.email}` })
      const { res } = await federatedSignIn(upstream, who)
      expect(expectRefusal(res, { status: 400 }), upstream).toBe(TEXT.notVerified(name))
      await expectAudit('federation_failure', 'failure', { upstream, reason: 'token_invalid' }, since)
      await dbLater(`no account from a tampered ${upstream} ID token`, async (prisma) => {
        expect(await prisma.user.count({ where: { email: { in: [who.email, `forged.${who.email}`] } } })).toBe(0)
      })
    }
  })

  it('refuses a validly signed but expired ID token (every kind of upstream)', async () => {
    const cases = [
      { upstream: 'entra', name: 'Microsoft', who: person('edna') },
      { upstream: 'entra-single', name: 'Contoso', who: person('ezra') },
      { upstream: 'generic', name: 'Generic IdP', who: { oid: `gen-${crypto.randomUUID()}`, email: 'eli@generic.test', emailVerified: true } },
    ]
    // Issued two hours ago, expired an hour ago: well beyond any clock tolerance.
    const now = Math.floor(Date.now() / 1000)
    for (const { upstream, name, who } of cases) {
      const since = new Date()
      fake.resignNextIdToken({ iat: now - 7200, exp: now - 3600 })
      const { res } = await federatedSignIn(upstream, who)
      expect(expectRefusal(res, { status: 400 }), upstream).toBe(TEXT.notVerified(name))
      await expectAudit('federation_failure', 'failure', { upstream, reason: 'token_invalid' }, since)
      await dbLater(`no account from an expired ${upstream} ID token`, async (prisma) => {
        expect(await prisma.user.count({ where: { email: who.email } })).toBe(0)
      })
    }
  })

  it('single-tenant configuration: signs in contoso, refuses a fabrikam-issued token by its issuer', async () => {
    const sina = person('sina', { groups: [FINANCE_GROUP] })
    const ok = await federatedSignIn('entra-single', sina)
    const info = await userinfo(await redeem(ok.res, ok.req))
    expect(info.email).toBe(sina.email)
    expect(sortedRoles(info)).toEqual(['finance', 'user'])

    const since = new Date()
    const fiona = person('fiona', { tid: FABRIKAM_TID, email: 'fiona@fabrikam.com' })
    const { res } = await federatedSignIn('entra-single', fiona)
    expect(expectRefusal(res)).toBe(TEXT.notVerified('Contoso'))
    // The upstream did answer, with a token fabrikam issued: the refusal is ours.
    const redeemed = fake.requests.filter((r) => r.path === `/${CONTOSO_TID}/oauth2/v2.0/token`).at(-1)
    expect(redeemed).toMatchObject({ status: 200, tenant: FABRIKAM_TID })
    await expectAudit('federation_failure', 'failure', { upstream: 'entra-single', reason: 'issuer_mismatch' }, since)
    await dbLater('single tenant: contoso linked, fabrikam nothing', async (prisma) => {
      expect(await prisma.user.count({ where: { email: fiona.email } })).toBe(0)
      expect(await prisma.federatedIdentity.count({ where: { provider: 'entra-single', subject: `${CONTOSO_TID}:${sina.oid}` } })).toBe(1)
    })
  })

  it('links an existing local account only after its password is proven', async () => {
    const since = new Date()
    // The upstream spells the email differently; it is still Carla's address.
    const carla = person('carla', { email: 'Carla@Contoso.COM', groups: [FINANCE_GROUP] })
    let { browser, req, res } = await federatedSignIn('entra', carla)
    // Asked for the local password, not signed in.
    expect(isOurs(res)).toBe(true)
    expect(res.status).toBe(200)
    expect(res.body).toContain('Link your existing account')
    expect(res.body).toContain(CARLA.email)
    formWithAction(res.body, '/federation/entra/link')

    // Nothing is linked yet: abandoning this page and signing in again asks again.
    const elsewhere = await federatedSignIn('entra', carla)
    expect(elsewhere.res.body).toContain('Link your existing account')

    // Without the form's CSRF token: refused.
    const form = formWithAction(res.body, '/federation/entra/link')
    const forged = await browser.request(new URL(form.action, iam.issuer).href, { form: { password: CARLA.password } })
    expect(forged.status).toBe(403)

    res = await submit(browser, res, '/federation/entra/link', { password: 'not carla’s password' })
    expect(res.status).toBe(400)
    expect(alertText(res.body)).toBe(TEXT.wrongPassword)
    await expectAudit('federation_link_created', 'failure', { upstream: 'entra', reason: 'invalid_password' }, since)

    res = await submit(browser, res, '/federation/entra/link', { password: CARLA.password })
    const tokens = await redeem(res, req)
    expect(tokens.claims()!.sub).toBe(carlaId)
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['fed', 'pwd']))
    // The upstream's groups count from the link on.
    expect((await userinfo(tokens)).roles).toEqual(['finance'])
    await expectAudit('federation_link_created', 'success', { upstream: 'entra', subject: `${CONTOSO_TID}:${carla.oid}` }, since)

    // Next time: straight in.
    ;({ req, res } = await federatedSignIn('entra', carla))
    expect((await redeem(res, req)).claims()!.sub).toBe(carlaId)

    // Another upstream person claiming the same email is not Carla: asked for the password again.
    const impostor = person('carla', { email: CARLA.email })
    ;({ res } = await federatedSignIn('entra', impostor))
    expect(res.body).toContain('Link your existing account')
    await dbLater('Carla linked once, to her own upstream identity', async (prisma) => {
      const links = await prisma.federatedIdentity.findMany({ where: { userId: carlaId } })
      expect(links.map((l) => [l.provider, l.subject])).toEqual([['entra', `${CONTOSO_TID}:${carla.oid}`]])
    })
  })

  it('links an account without a password when the person proves its authenticator app', async () => {
    const tess = person('tess', { email: TESS_EMAIL })
    const signIn = await federatedSignIn('entra', tess)
    let res = signIn.res
    expect(res.body).toContain('Enter the current code from its authenticator app once')
    expect(res.body).toContain('<label for="code">Code from your authenticator app</label>')
    const code = await totpCode(tessSecret)
    res = await submit(signIn.browser, res, '/federation/entra/link', { code: code === '000000' ? '111111' : '000000' })
    expect(res.status).toBe(400)
    expect(alertText(res.body)).toBe('That code is not right. Check your app and try again.')
    res = await submit(signIn.browser, res, '/federation/entra/link', { code })
    // Upstream sign-in plus the local authenticator code: two factors, so no further MFA page.
    const claims = (await redeem(res, signIn.req)).claims()!
    expect(claims.amr).toEqual(['fed', 'otp', 'mfa'])
    expect(claims.acr).toBe('urn:iam:acr:mfa')
    await dbLater('the passwordless account was linked after its authenticator code', async (prisma) => {
      const links = await prisma.federatedIdentity.findMany({ where: { user: { email: TESS_EMAIL } } })
      expect(links.map((l) => l.provider)).toEqual(['entra'])
    })
  })

  it('counts wrong passwords on the link page towards the lockout, and refuses a locked account there alike', async () => {
    const since = new Date()
    let { browser, res } = await federatedSignIn('entra', person('lina'))
    expect(res.body).toContain('Link your existing account')
    for (let i = 0; i < 3; i++) {
      res = await submit(browser, res, '/federation/entra/link', { password: 'not lina’s password' })
      expect(alertText(res.body)).toBe(TEXT.wrongPassword)
    }
    // Two more on the sign-in page: the fifth failure of the account locks it.
    const { browser: other, page } = await loginPage()
    let signIn = await submit(other, page, '/login', { login: LINA.email, password: 'still not it' })
    signIn = await submit(other, signIn, '/login', { login: LINA.email, password: 'still not it' })
    const locked = await submit(other, signIn, '/login', { login: LINA.email, password: LINA.password })
    expect(locked.status).toBe(400)
    // Locked: the same words as a wrong password (which say that sign-in pauses after too many tries).
    expect(locked.body).toContain('Wrong email, username or password.')
    // The link page refuses the right password now, in the words of a wrong one.
    res = await submit(browser, res, '/federation/entra/link', { password: LINA.password })
    expect(res.status).toBe(400)
    expect(alertText(res.body)).toBe(TEXT.wrongPassword)
    await expectAudit('account_locked', 'failure', { failures: 5 }, since)
    await expectAudit('federation_link_created', 'failure', { upstream: 'entra', reason: 'locked' }, since)
  })

  it('refuses to link a local account that has no password to prove', async () => {
    // Gina got her account just in time from the generic upstream (so it has no password) …
    const gina: UpstreamUser = { oid: `gen-${crypto.randomUUID()}`, email: 'gina.nopass@contoso.com', name: 'Gina', emailVerified: true }
    const first = await federatedSignIn('generic', gina)
    await redeem(first.res, first.req)
    // … and someone signs in at Microsoft with that email.
    const { res } = await federatedSignIn('entra', person('gina', { email: gina.email }))
    expect(expectRefusal(res, { status: 409 })).toBe(TEXT.noPassword)
    await dbLater('the passwordless account was not linked to Microsoft', async (prisma) => {
      const links = await prisma.federatedIdentity.findMany({ where: { user: { email: gina.email } } })
      expect(links.map((l) => l.provider)).toEqual(['generic'])
    })
  })

  it('refuses a linked account that an administrator disabled', async () => {
    const dora = person('dora.fed')
    let { req, res } = await federatedSignIn('entra', dora)
    await redeem(res, req)
    await dbNow((prisma) => prisma.user.update({ where: { email: dora.email }, data: { status: 'disabled' } }))
    ;({ res } = await federatedSignIn('entra', dora))
    expect(expectRefusal(res, { status: 403 })).toBe(TEXT.disabled)
  })

  it('refuses a person without an account when the upstream has no just-in-time accounts', async () => {
    const since = new Date()
    const nobody: UpstreamUser = { oid: `gen-${crypto.randomUUID()}`, email: 'nobody@partner.test', emailVerified: true }
    const { res } = await federatedSignIn('generic-nojit', nobody)
    expect(expectRefusal(res, { status: 403 })).toBe(TEXT.noAccount)
    await expectAudit('federation_failure', 'failure', { upstream: 'generic-nojit', reason: 'no_account', why: 'jit_disabled' }, since)
    await dbLater('no account without JIT', async (prisma) => {
      expect(await prisma.user.count({ where: { email: nobody.email } })).toBe(0)
    })
  })

  it('refuses a callback whose state was tampered with, replayed, opened in another browser, or sent to another upstream', async () => {
    // Tampered state: refused, nothing created.
    const tamara = person('tamara')
    let leg = await toCallback('entra', tamara)
    const tampered = new URL(leg.callback)
    tampered.searchParams.set('state', `${tampered.searchParams.get('state')}x`)
    let since = new Date()
    expect(expectRefusal(await leg.browser.navigate(tampered.href))).toBe(TEXT.stateMismatch)
    await expectAudit('federation_failure', 'failure', { upstream: 'entra', reason: 'state_mismatch' }, since)
    await dbLater('a tampered callback created nothing', async (prisma) => {
      expect(await prisma.user.count({ where: { email: tamara.email } })).toBe(0)
    })

    // Another browser (login CSRF: someone hands their callback URL to a victim): refused there,
    // and the sign-in it belongs to still finishes in the browser that started it.
    const victor = person('victor')
    leg = await toCallback('entra', victor)
    const victim = new HttpBrowser(iam.issuer)
    expect(expectRefusal(await victim.navigate(leg.callback.href))).toBe(TEXT.pageExpired)
    const finished = await leg.browser.navigate(leg.callback.href)
    expect((await userinfo(await redeem(finished, leg.req))).email).toBe(victor.email)

    // Replayed after it was used: refused in the same browser and in another one.
    const ricky = person('ricky')
    leg = await toCallback('entra', ricky)
    await redeem(await leg.browser.navigate(leg.callback.href), leg.req)
    since = new Date()
    expect(expectRefusal(await leg.browser.navigate(leg.callback.href))).toBe(TEXT.responseExpired)
    expect(expectRefusal(await new HttpBrowser(iam.issuer).navigate(leg.callback.href))).toBe(TEXT.responseExpired)
    await expectAudit('federation_failure', 'failure', { reason: 'state_mismatch', check: 'no_interaction' }, since)
    await dbLater('a replayed callback created nothing more', async (prisma) => {
      expect(await prisma.user.count({ where: { email: ricky.email } })).toBe(1)
    })

    // A code the upstream never issued: the upstream refuses it (invalid_grant), we say so.
    const cody = person('cody')
    leg = await toCallback('entra', cody)
    const wrongCode = new URL(leg.callback)
    wrongCode.searchParams.set('code', 'not-a-code-the-upstream-issued')
    since = new Date()
    let page = await leg.browser.navigate(wrongCode.href)
    expect(expectRefusal(page, { status: 400 })).toBe(TEXT.upstreamError('Microsoft'))
    expect(page.body).toContain('<code>invalid_grant</code>')
    await expectAudit('federation_failure', 'failure', { upstream: 'entra', reason: 'upstream_error', error: 'invalid_grant' }, since)

    // An error answer with markup in it is shown as text.
    leg = await toCallback('entra', person('xavier'))
    const hostile = new URL(leg.callback)
    hostile.searchParams.delete('code')
    hostile.searchParams.set('error', '<script>alert(1)</script>')
    hostile.searchParams.set('error_description', '<img src=x onerror=alert(2)>')
    page = await leg.browser.navigate(hostile.href)
    expectRefusal(page, { status: 400 })
    expect(page.body).not.toContain('<script>alert')
    expect(page.body).not.toContain('<img src=x')

    // Mix-up: Microsoft's answer delivered to the generic upstream's redirect URI.
    const mixed = person('mixie')
    leg = await toCallback('entra', mixed)
    const elsewhere = new URL(leg.callback)
    elsewhere.pathname = '/federation/generic/callback'
    expectRefusal(await leg.browser.navigate(elsewhere.href))
    await dbLater('a mixed-up callback created nothing', async (prisma) => {
      expect(await prisma.user.count({ where: { email: mixed.email } })).toBe(0)
    })
  })

  it('says so when the upstream refuses; Cancel gives the relying party access_denied', async () => {
    const since = new Date()
    fake.denyNext()
    const { browser, req, res } = await federatedSignIn('entra', person('dennis'))
    expect(expectRefusal(res, { status: 400 })).toBe(TEXT.cancelled)
    expect(res.body).toContain('<code>access_denied</code>')
    await expectAudit('federation_failure', 'failure', { upstream: 'entra', reason: 'upstream_error', error: 'access_denied' }, since)
    const back = await submit(browser, res, '/abort')
    expect(atRp(back, APP_RP())).toBe(true)
    const callback = new URL(back.url)
    expect(callback.searchParams.get('error')).toBe('access_denied')
    expect(callback.searchParams.get('state')).toBe(req.state)
  })

  it('after the upstream refused, "Use your password" signs in with the local password, even for a contoso.com email', async () => {
    fake.denyNext()
    const { browser, req, res } = await federatedSignIn('entra', person('carla2'))
    let page = await submit(browser, res, '/use-password')
    expect(page.body).toContain('name="password"')
    page = await submit(browser, page, '/login', { login: CARLA.email, password: CARLA.password })
    const tokens = await redeem(page, req)
    expect(tokens.claims()!.sub).toBe(carlaId)
    expect(tokens.claims()!.amr).toEqual(['pwd'])
  })

  it('shows a page, not a crash, when the upstream is down', async () => {
    const donna = person('donna')
    // Down between the upstream sign-in and the code exchange.
    const leg = await toCallback('entra', donna)
    await fake.stop()
    try {
      let since = new Date()
      expect(expectRefusal(await leg.browser.navigate(leg.callback.href), { status: 502 })).toBe(TEXT.unreachable('Microsoft'))
      await expectAudit('federation_failure', 'failure', { upstream: 'entra', reason: 'upstream_unreachable' }, since)
      // Down before the person leaves, for an upstream whose discovery was never fetched.
      since = new Date()
      const again = await loginPage()
      const res = await pressButton(again.browser, again.page, 'entra-down')
      expect(expectRefusal(res, { status: 502 })).toBe(TEXT.unreachable('Contoso Backup'))
      // "Try again" is offered, and works once the upstream is back.
      formWithAction(res.body, '/federation/entra-down')
      await fake.start()
      fake.nextUser(person('dave'))
      const retried = await throughUpstream(again.browser, await submit(again.browser, res, '/federation/entra-down'))
      expect((await redeem(retried, again.req)).claims()!.amr).toEqual(['fed'])
    } finally {
      await fake.start()
    }
    await dbLater('no account when the upstream was down', async (prisma) => {
      expect(await prisma.user.count({ where: { email: donna.email } })).toBe(0)
    })
  })

  // --- generic OIDC ----------------------------------------------------------------------------

  it('generic OIDC upstream: creates an account from a verified email', async () => {
    const gabe: UpstreamUser = { oid: `gen-${crypto.randomUUID()}`, email: 'gabe@generic.test', name: 'Gabe Generic', emailVerified: true }
    const { req, res } = await federatedSignIn('generic', gabe)
    const tokens = await redeem(res, req)
    expect(tokens.claims()!.amr).toEqual(['fed'])
    const info = await userinfo(tokens)
    expect(info.email).toBe(gabe.email)
    expect(info.email_verified).toBe(true)
    expect(info.roles).toEqual(['user'])
    // The code was redeemed at the generic upstream with its own client (the fake checks the secret).
    expect(fake.requests.some((r) => r.path === '/generic/token' && r.status === 200)).toBe(true)
    await dbLater('generic link by sub', async (prisma) => {
      const link = await prisma.federatedIdentity.findUnique({ where: { provider_subject: { provider: 'generic', subject: gabe.oid } }, include: { user: true } })
      expect(link?.user.email).toBe(gabe.email)
    })
  })

  it('generic OIDC upstream: reads the email from userinfo when the ID token has none', async () => {
    const una: UpstreamUser = { oid: `gen-${crypto.randomUUID()}`, email: 'una@generic.test', name: 'Una Userinfo', emailVerified: true, userinfoOnly: true }
    const userinfoCalls = () => fake.requests.filter((r) => r.path === '/generic/me' && r.status === 200).length
    const before = userinfoCalls()
    const { req, res } = await federatedSignIn('generic', una)
    const info = await userinfo(await redeem(res, req))
    expect(info.email).toBe(una.email)
    expect(info.name).toBe(una.name)
    expect(userinfoCalls()).toBe(before + 1)
  })

  it('generic OIDC upstream: creates no account from an unverified email', async () => {
    const since = new Date()
    const ursula: UpstreamUser = { oid: `gen-${crypto.randomUUID()}`, email: 'ursula@generic.test', emailVerified: false }
    const { res } = await federatedSignIn('generic', ursula)
    expect(expectRefusal(res, { status: 403 })).toBe(TEXT.noAccount)
    await expectAudit('federation_failure', 'failure', { upstream: 'generic', reason: 'no_account', why: 'email_unverified' }, since)
    await dbLater('no account from an unverified email', async (prisma) => {
      expect(await prisma.user.count({ where: { email: ursula.email } })).toBe(0)
    })
  })

  // --- home-realm discovery --------------------------------------------------------------------

  it('sends a contoso.com email typed on the login page to Microsoft, with it as login_hint', async () => {
    const since = new Date()
    const bob = person('bob')
    fake.nextUser(bob)
    const { browser, req, page } = await loginPage()
    expect(page.body).toContain('If your organisation signs you in, enter your work email')
    const leaving = await submit(browser, page, '/login', { login: ` ${bob.email.toUpperCase()} `, password: '' })
    expect(atFake(leaving), `${leaving.status} ${leaving.url}\n${leaving.body.slice(0, 1500)}`).toBe(true)
    const authorizeUrl = new URL(leaving.url)
    expect(authorizeUrl.pathname).toBe('/organizations/oauth2/v2.0/authorize')
    expect(authorizeUrl.searchParams.get('login_hint')?.toLowerCase()).toBe(bob.email)
    expect(authorizeUrl.searchParams.get('domain_hint')).toBe('contoso.com')
    const res = await throughUpstream(browser, leaving)
    expect((await userinfo(await redeem(res, req))).email).toBe(bob.email)
    await expectAudit('federation_start', 'success', { upstream: 'entra', via: 'typed_email' }, since)
  })

  it('checks the local password instead when one is typed with a federated email (break-glass accounts)', async () => {
    const { browser, page } = await loginPage()
    const wrong = await submit(browser, page, '/login', { login: CARLA.email, password: 'not her password' })
    expect(atFake(wrong)).toBe(false)
    expect(wrong.status).toBe(400)
    expect(wrong.body).toContain('Wrong email, username or password.')
    const right = await submit(browser, wrong, '/login', { login: CARLA.email, password: CARLA.password })
    expect(atFake(right)).toBe(false)
    // Past the password: on to consent or the app, not back to the login form.
    expect(right.body).not.toContain('Wrong email, username or password.')
    expect(isOurs(right) ? right.body : '').not.toContain('name="password"')
  })

  it('goes straight to the upstream for domain_hint and login_hint on the authorization request', async () => {
    const since = new Date()
    const hanna = person('hanna')
    fake.nextUser(hanna)
    for (const params of [{ domain_hint: 'contoso.com' }, { login_hint: hanna.email }, { domain_hint: 'generic.test' }] as Array<Record<string, string>>) {
      const browser = new HttpBrowser(iam.issuer)
      const req = await authorize(APP_RP(), params)
      const leaving = await browser.navigate(req.url)
      expect(atFake(leaving), `${JSON.stringify(params)}: ${leaving.status} ${leaving.url}`).toBe(true)
      expect(new URL(leaving.url).pathname).toBe(params.domain_hint === 'generic.test' ? '/generic/auth' : '/organizations/oauth2/v2.0/authorize')
      if (params.domain_hint === 'generic.test') continue
      const res = await throughUpstream(browser, leaving)
      expect((await redeem(res, req)).claims()!.amr).toEqual(['fed'])
    }
    await expectAudit('federation_start', 'success', { upstream: 'entra', via: 'domain_hint' }, since)
    await expectAudit('federation_start', 'success', { upstream: 'entra', via: 'login_hint' }, since)
    await expectAudit('federation_start', 'success', { upstream: 'generic', via: 'domain_hint' }, since)
    // prompt=none cannot show an upstream: the relying party hears login_required.
    const silent = await authorize(APP_RP(), { prompt: 'none', domain_hint: 'contoso.com' })
    const answer = await new HttpBrowser(iam.issuer).navigate(silent.url)
    expect(atRp(answer, APP_RP()), answer.url).toBe(true)
    expect(new URL(answer.url).searchParams.get('error')).toBe('login_required')
    // An unknown domain stays on the login page.
    const { page } = await loginPage(APP_RP(), { domain_hint: 'elsewhere.test' })
    expect(page.status).toBe(200)
    expect(page.body).toContain('name="password"')
  })

  // --- MFA policy ------------------------------------------------------------------------------

  it('still asks for the second factor after the upstream when the client requires MFA', async () => {
    const enrolPage = (res: PageResponse) => isOurs(res) && formsOf(res.body).some((f) => f.action.endsWith('/mfa/enrol'))
    // Not trusted: the upstream's MFA does not count. Mia sets up an authenticator app, and then
    // the tokens say what happened: the upstream, then a one-time code.
    const mia = await federatedSignIn('entra', person('mia', { amr: ['pwd', 'mfa'] }), { rp: MFA_RP() })
    expect(enrolPage(mia.res), mia.res.body.slice(0, 1500)).toBe(true)
    let page = await submit(mia.browser, mia.res, '/mfa/enrol', { kind: 'totp' })
    const secret = /id="totp-secret">([^<]+)</.exec(page.body)?.[1]?.replace(/\s+/g, '')
    expect(secret, page.body.slice(0, 1500)).toBeTruthy()
    page = await submit(mia.browser, page, '/mfa/enrol/verify', { code: await generate({ secret: secret! }) })
    page = await submit(mia.browser, page, '/mfa/continue')
    const miaClaims = (await redeem(page, mia.req, MFA_RP())).claims()!
    expect(miaClaims.acr).toBe(ACR_MFA)
    expect(miaClaims.amr).toEqual(['fed', 'otp', 'mfa'])
    // Trusted, but the upstream did not do MFA: asked too.
    const mike = await federatedSignIn('entra-mfa', person('mike', { amr: ['pwd'] }), { rp: MFA_RP() })
    expect(enrolPage(mike.res), mike.res.body.slice(0, 1500)).toBe(true)
    // Trusted and the upstream did MFA: straight to the client, and the tokens say MFA.
    const since = new Date()
    const max = await federatedSignIn('entra-mfa', person('max', { amr: ['pwd', 'mfa'] }), { rp: MFA_RP() })
    const claims = (await redeem(max.res, max.req, MFA_RP())).claims()!
    expect(claims.acr).toBe(ACR_MFA)
    expect(claims.amr).toEqual(['fed', 'mfa'])
    await expectAudit('federation_success', 'success', { upstream: 'entra-mfa', upstreamMfa: true }, since)
    // Without a client policy, the upstream's MFA is still reported when trusted.
    const mo = await federatedSignIn('entra-mfa', person('mo', { amr: ['pwd', 'mfa'] }))
    expect((await redeem(mo.res, mo.req)).claims()!.acr).toBe(ACR_MFA)
  })

  // --- the database, embedded ------------------------------------------------------------------

  it('leaves the database as the pages said (embedded: checked once the server stops)', async () => {
    if (!laterChecks.length) return
    await iam.stop()
    try {
      await iam.withDatabase(async (prisma) => {
        for (const { label, check } of laterChecks) {
          try {
            await check(prisma)
          } catch (err) {
            throw new Error(`${label}: ${(err as Error).message}`, { cause: err })
          }
        }
      })
    } finally {
      await iam.start()
    }
  })
})

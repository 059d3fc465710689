// Response headers and cookies as a browser sees them, over plain http and behind a TLS proxy
// (TRUST_PROXY honours X-Forwarded-Proto; without it the header is ignored); and the audit trail
// of the provider's own endpoints and its retention.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction } from '../support/browser.ts'
import { ALICE, SERVICE_SECRET, createFixtures } from '../support/fixtures.ts'

const DAY = 24 * 3600 * 1000

/** Set-Cookie lines by cookie name. */
function setCookies(res: { headers: Headers }): Map<string, string> {
  return new Map(res.headers.getSetCookie().map((line) => [line.slice(0, line.indexOf('=')), line]))
}

describe('headers, cookies and audit', () => {
  let proxied: IamInstance
  let direct: IamInstance

  beforeAll(async () => {
    proxied = await createIam('postgres-redis', { env: { TRUST_PROXY: 'true', AUDIT_RETENTION_DAYS: '30' } })
    await proxied.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await prisma.auditEvent.createMany({
        data: [
          { type: 'login', outcome: 'success', at: new Date(Date.now() - 31 * DAY), details: { marker: 'old' } },
          { type: 'login', outcome: 'success', at: new Date(Date.now() - 29 * DAY), details: { marker: 'recent' } },
        ],
      })
    })
    direct = await createIam('embedded')
    await direct.withDatabase((prisma) => createFixtures(prisma))
    await Promise.all([proxied.start(), direct.start()])
  })
  afterAll(async () => {
    await Promise.all([proxied?.close(), direct?.close()])
  })

  it('sends a strict CSP with a fresh nonce, frame-ancestors none, no referrer and nosniff on pages', async () => {
    const nonces = new Set<string>()
    for (let i = 0; i < 2; i++) {
      const res = await new HttpBrowser(direct.issuer).navigate(`${direct.issuer}/account`)
      expect(res.body).toContain('name="password"')
      const csp = res.headers.get('content-security-policy')!
      expect(csp).toMatch(/^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/=]{24}'; /)
      expect(csp).toContain("frame-ancestors 'none'")
      expect(csp).toContain("base-uri 'none'")
      expect(csp).not.toContain('unsafe-inline')
      nonces.add(/'nonce-([^']+)'/.exec(csp)![1]!)
      expect(res.headers.get('referrer-policy')).toBe('no-referrer')
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
    }
    expect(nonces.size).toBe(2)
  })

  it('puts the response’s nonce on the one script tag there is (the passkey page)', async () => {
    const browser = new HttpBrowser(direct.issuer)
    const login = await browser.navigate(`${direct.issuer}/account/login?return=${encodeURIComponent('/account/security/passkeys/new')}`)
    const form = formWithAction(login.body, '/login')
    const page = await browser.navigate(new URL(form.action, direct.issuer).href, { form: { ...form.fields, login: ALICE.email, password: ALICE.password } })
    expect(page.body, page.body.slice(0, 3000)).toContain('Add a passkey or security key')
    const nonce = /'nonce-([^']+)'/.exec(page.headers.get('content-security-policy')!)![1]
    expect(page.body).toContain(`<script src="/assets/webauthn.js" nonce="${nonce}" defer></script>`)
    expect(page.body.match(/<script\b/g)).toHaveLength(1)
  })

  it('over plain http: no HSTS and no Secure cookies, and X-Forwarded-Proto is ignored without TRUST_PROXY', async () => {
    for (const headers of [{}, { 'x-forwarded-proto': 'https' }] as Array<Record<string, string>>) {
      const res = await new HttpBrowser(direct.issuer).request(`${direct.issuer}/account/login`, { headers })
      expect(res.headers.get('strict-transport-security')).toBeNull()
      const cookies = setCookies(res)
      expect(cookies.size).toBeGreaterThan(0)
      for (const line of cookies.values()) expect(line).not.toMatch(/;\s*secure/i)
    }
  })

  it('behind a trusted TLS proxy: HSTS, and every cookie Secure, HttpOnly and SameSite=Lax', async () => {
    const browser = new HttpBrowser(proxied.issuer)
    const https = { 'x-forwarded-proto': 'https' }
    // The account area's sign-in sets its transaction cookie, the provider its interaction
    // cookies, the login page the CSRF cookie: follow the redirects by hand with the header.
    let res = await browser.request(`${proxied.issuer}/account/login`, { headers: https })
    const seen = new Map<string, string>()
    for (let hops = 0; hops < 5; hops++) {
      expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains')
      for (const [name, line] of setCookies(res)) seen.set(name, line)
      const location = res.headers.get('location')
      if (!location) break
      res = await browser.request(new URL(location, proxied.issuer).href, { headers: https })
    }
    expect(res.body).toContain('name="password"')
    // Our own cookies are prefixed over https (`__Secure-iam.account.tx`, `__Host-iam.csrf`: test/integration/cookie-names.test.ts).
    expect([...seen.keys()]).toEqual(expect.arrayContaining(['__Secure-iam.account.tx', '_interaction', '_interaction_resume', '__Host-iam.csrf']))
    for (const [name, line] of seen) {
      expect(line, name).toMatch(/;\s*secure/i)
      expect(line, name).toMatch(/;\s*httponly/i)
      expect(line, name).toMatch(/;\s*samesite=lax/i)
    }
    // Without the proxy's header, the same server is on plain http again.
    const plain = await new HttpBrowser(proxied.issuer).request(`${proxied.issuer}/account/login`)
    expect(plain.headers.get('strict-transport-security')).toBeNull()
  })

  it('audits refused token requests with the client and the error', async () => {
    const res = await fetch(`${proxied.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`svc:${SERVICE_SECRET}-wrong`).toString('base64')}` },
      body: 'grant_type=client_credentials',
    })
    expect(res.status).toBe(401)
    expect((await res.json() as { error: string }).error).toBe('invalid_client')
    const scope = await fetch(`${proxied.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`svc:${SERVICE_SECRET}`).toString('base64')}` },
      body: `grant_type=client_credentials&resource=${encodeURIComponent('https://unknown.example.test')}`,
    })
    expect(scope.status).toBe(400)
    // A NUL in what the request says (PostgreSQL cannot store U+0000) must not keep it out of the trail.
    const nul = await fetch(`${proxied.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&client_id=${encodeURIComponent('svc\u0000x')}&client_secret=x`,
    })
    expect(nul.status).toBe(401)
    await expect.poll(() => proxied.withDatabase((prisma) => prisma.auditEvent.findMany({ where: { type: 'token_request' }, orderBy: { at: 'asc' } })), { timeout: 10_000 }).toHaveLength(3)
    const rows = await proxied.withDatabase((prisma) => prisma.auditEvent.findMany({ where: { type: 'token_request' }, orderBy: { at: 'asc' } }))
    expect(rows.map((r) => [r.outcome, r.clientId, (r.details as { error: string }).error, (r.details as { grantType: string }).grantType])).toEqual([
      ['failure', 'svc', 'invalid_client', 'client_credentials'],
      ['failure', 'svc', 'invalid_target', 'client_credentials'],
      ['failure', 'svc\uFFFDx', 'invalid_client', 'client_credentials'],
    ])
    expect(rows.every((r) => r.ip && r.requestId)).toBe(true)
    expect(JSON.stringify(rows)).not.toContain(SERVICE_SECRET)
  })

  it('deletes audit events past AUDIT_RETENTION_DAYS and keeps the rest', async () => {
    const markers = await proxied.withDatabase(async (prisma) => (await prisma.auditEvent.findMany({ where: { type: 'login', userId: null } }))
      .map((e) => (e.details as { marker?: string } | null)?.marker))
    expect(markers).toEqual(['recent'])
  })
})

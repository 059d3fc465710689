// Behind the trusted proxy (TRUST_PROXY=true), a request whose X-Forwarded-Host (or Host, or an
// absolute request target) names another host must not make the server name that host: discovery
// (read by clients and cached by intermediaries), the provider's redirects and every redirect of
// our own pages name the ISSUER's origin, whatever the request says. Only the scheme the proxy
// reports still decides whether cookies are Secure (test/integration/proxy.test.ts).
import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { formWithAction } from '../support/browser.ts'
import { ALICE, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'

const PUBLIC = 'https://id.example.test'
const FORGED = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-For': '203.0.113.7' }

/** Every absolute URL in a JSON document (discovery's endpoints, issuer, …). */
function urlsIn(value: unknown): string[] {
  if (typeof value === 'string') return /^https?:\/\//.test(value) ? [value] : []
  if (Array.isArray(value)) return value.flatMap(urlsIn)
  if (value && typeof value === 'object') return Object.values(value).flatMap(urlsIn)
  return []
}

/** A Location names the public origin (or is relative to the page, so the browser keeps its own). */
function expectOnIssuer(location: string | null, what: string) {
  expect(location, what).toBeTruthy()
  if (location!.startsWith('/')) return
  expect(new URL(location!).origin, `${what}: ${location}`).toBe(PUBLIC)
}

describe('X-Forwarded-Host and Host do not move the server (TRUST_PROXY=true)', () => {
  let iam: IamInstance

  beforeAll(async () => {
    iam = await createIam('embedded', { env: { ISSUER: PUBLIC, TRUST_PROXY: 'true' } })
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
  })
  afterAll(async () => {
    await iam?.close()
  })

  it('discovery names only the ISSUER origin, whatever X-Forwarded-Host, X-Forwarded-Proto or Host say', async () => {
    for (const headers of [FORGED, { ...FORGED, 'X-Forwarded-Proto': 'http' }, { 'X-Forwarded-Host': 'evil.example' }]) {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const res = await fetch(`${iam.issuer}${path}`, { headers })
        if (res.status === 404) continue
        const urls = urlsIn(await res.json())
        expect(urls.length, path).toBeGreaterThan(5)
        for (const url of urls) expect(new URL(url).origin, `${path} ${JSON.stringify(headers)}: ${url}`).toBe(PUBLIC)
      }
    }
  })

  it('an absolute request target naming another host does not either', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: iam.port, path: 'http://evil.example/.well-known/openid-configuration', headers: { host: 'evil.example', ...FORGED } }, (res) => {
        let data = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => { data += d })
        res.on('end', () => resolve(data))
      })
      req.on('error', reject)
      req.end()
    })
    for (const url of urlsIn(JSON.parse(body))) expect(new URL(url).origin, url).toBe(PUBLIC)
  })

  it('every redirect of a sign-in (the provider’s and the account area’s) names the ISSUER origin', async () => {
    const jar = new Map<string, string>()
    const locations: string[] = []
    async function request(path: string, form?: Record<string, string>) {
      const res = await fetch(`${iam.issuer}${path}`, {
        method: form ? 'POST' : 'GET', redirect: 'manual',
        headers: { ...FORGED, ...(jar.size ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {}), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        body: form ? new URLSearchParams(form).toString() : undefined,
      })
      for (const raw of res.headers.getSetCookie()) {
        const [pair] = raw.split(';')
        const name = pair!.slice(0, pair!.indexOf('='))
        const value = pair!.slice(pair!.indexOf('=') + 1)
        if (value === '' || /expires=Thu, 01 Jan 1970/i.test(raw)) jar.delete(name)
        else jar.set(name, value)
      }
      const location = res.headers.get('location')
      if (location) locations.push(location)
      return { status: res.status, location, body: await res.text() }
    }
    async function navigate(path: string, form?: Record<string, string>) {
      let res = await request(path, form)
      for (let hops = 0; hops < 20 && res.status >= 300 && res.status < 400 && res.location; hops++) {
        expectOnIssuer(res.location, 'redirect')
        const next = new URL(res.location, PUBLIC)
        res = await request(next.pathname + next.search)
      }
      return res
    }

    // The account area: its sign-in through the provider, its pages, its sign-out.
    const login = await navigate('/')
    const form = formWithAction(login.body, '/login')
    const account = await navigate(new URL(form.action, PUBLIC).pathname, { ...form.fields, login: ALICE.email, password: ALICE.password })
    expect(account.status).toBe(200)
    expect(account.body).toContain(ALICE.email)
    const logout = await request('/account/logout', formWithAction(account.body, '/account/logout').fields)
    expectOnIssuer(logout.location, 'account sign-out')
    expect(locations.length).toBeGreaterThan(4)
    for (const location of locations) expectOnIssuer(location, 'redirect')

    // A client's authorization request: to the interaction on the ISSUER, then back to the client.
    const verifier = oidc.randomPKCECodeVerifier()
    const auth = await request(`/auth?${new URLSearchParams({
      client_id: 'spa', redirect_uri: SPA_REDIRECT, response_type: 'code', scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })}`)
    // Signed in already: the code goes straight back to the client, or the consent page comes first.
    if (!auth.location?.startsWith(SPA_REDIRECT)) expectOnIssuer(auth.location, '/auth')
  })
})

// Cookie names behind a TLS proxy: on an https ISSUER with TRUST_PROXY, a cookie on Path=/ with no
// Domain is named `__Host-` (the browser then refuses it from any other host, a sibling subdomain
// or plain http, and refuses a `Domain` or narrower path that would shadow it); a cookie with a
// narrower path (/account, /interaction/…, /auth/…) cannot be `__Host-` and is `__Secure-`. Walked
// through a whole sign-in to the account area as a browser behind the proxy sees it. Over plain
// http (no proxy saying https) the names stay plain: a browser would drop a prefixed cookie that is
// not Secure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIam, type IamInstance } from '../support/iam.ts'
import { formWithAction } from '../support/browser.ts'
import { ALICE, createFixtures } from '../support/fixtures.ts'

const PUBLIC = 'https://id.example.test'
const FORWARDED = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'id.example.test', 'X-Forwarded-For': '203.0.113.7' }

interface SetCookie { name: string; attributes: string[]; raw: string }
const parseSetCookie = (raw: string): SetCookie => {
  const [pair, ...attrs] = raw.split(';')
  return { name: pair!.slice(0, pair!.indexOf('=')).trim(), attributes: attrs.map((a) => a.trim().toLowerCase()), raw }
}

/** A browser behind the proxy: every request carries the proxy's headers; it keeps every Set-Cookie it saw. */
function proxiedBrowser(iam: IamInstance, headers: Record<string, string>, origin: string) {
  const jar = new Map<string, string>()
  const seen: SetCookie[] = []
  async function request(path: string, form?: Record<string, string>) {
    const res = await fetch(`${iam.issuer}${path}`, {
      method: form ? 'POST' : 'GET', redirect: 'manual',
      headers: { ...headers, ...(jar.size ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {}), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: form ? new URLSearchParams(form).toString() : undefined,
    })
    for (const raw of res.headers.getSetCookie()) {
      const cookie = parseSetCookie(raw)
      seen.push(cookie)
      const value = raw.slice(raw.indexOf('=') + 1, raw.indexOf(';') < 0 ? undefined : raw.indexOf(';'))
      if (value === '' || cookie.attributes.some((a) => a.startsWith('expires=thu, 01 jan 1970'))) jar.delete(cookie.name)
      else jar.set(cookie.name, value)
    }
    return { status: res.status, location: res.headers.get('location'), body: await res.text() }
  }
  /** Follows redirects on the server's public origin (or relative ones). */
  async function navigate(path: string, form?: Record<string, string>) {
    let res = await request(path, form)
    for (let hops = 0; hops < 20 && res.status >= 300 && res.status < 400 && res.location; hops++) {
      const next = new URL(res.location, origin)
      if (next.origin !== origin) break
      res = await request(next.pathname + next.search)
    }
    return res
  }
  return { request, navigate, seen, jar }
}

/** Signs in to /account as Alice; returns every Set-Cookie seen on the way. */
async function signInToAccount(iam: IamInstance, headers: Record<string, string>, origin: string) {
  const browser = proxiedBrowser(iam, headers, origin)
  const login = await browser.navigate('/account')
  expect(login.body).toContain('name="password"')
  const form = formWithAction(login.body, '/login')
  const account = await browser.navigate(new URL(form.action, origin).pathname, { ...form.fields, login: ALICE.email, password: ALICE.password })
  expect(account.status).toBe(200)
  expect(account.body).toContain(ALICE.email)
  return browser.seen.filter((c) => !c.attributes.some((a) => a.startsWith('expires=thu, 01 jan 1970')))
}

const pathOf = (c: SetCookie) => c.attributes.find((a) => a.startsWith('path='))?.slice('path='.length)

describe('cookie names behind a TLS proxy', () => {
  let trusted: IamInstance
  let plain: IamInstance

  beforeAll(async () => {
    ;[trusted, plain] = await Promise.all([
      createIam('embedded', { env: { ISSUER: PUBLIC, TRUST_PROXY: 'true' } }),
      createIam('embedded'),
    ])
    await Promise.all([trusted, plain].map(async (iam) => {
      await iam.withDatabase((prisma) => createFixtures(prisma))
      await iam.start()
    }))
  }, 240_000)
  afterAll(async () => {
    await Promise.all([trusted?.close(), plain?.close()])
  })

  it('https ISSUER with TRUST_PROXY: `__Host-` on Path=/ cookies, `__Secure-` on narrower paths, all Secure, none with a Domain', async () => {
    const cookies = await signInToAccount(trusted, FORWARDED, PUBLIC)
    const names = new Set(cookies.map((c) => c.name))
    // The provider's session, the CSRF secret: Path=/.
    for (const name of ['__Host-session', '__Host-iam.csrf']) expect(names, name).toContain(name)
    // The interaction and its resume (Path=/interaction/…, /auth/…), the account area's (Path=/account).
    for (const name of ['__Secure-interaction', '__Secure-interaction_resume', '__Secure-iam.account.tx', '__Secure-iam.account']) expect(names, name).toContain(name)
    for (const c of cookies) {
      expect(c.name, c.raw).toMatch(/^__(Host|Secure)-/)
      expect(c.attributes, c.raw).toContain('secure')
      expect(c.attributes.some((a) => a.startsWith('domain=')), c.raw).toBe(false)
      if (c.name.startsWith('__Host-')) expect(pathOf(c), c.raw).toBe('/')
      else expect(pathOf(c), c.raw).not.toBe('/')
    }
  })

  it('plain http: plain names, no Secure', async () => {
    const cookies = await signInToAccount(plain, {}, plain.issuer)
    const names = new Set(cookies.map((c) => c.name))
    for (const name of ['_session', 'iam.csrf', '_interaction', 'iam.account']) expect(names, name).toContain(name)
    for (const c of cookies) {
      expect(c.name, c.raw).not.toMatch(/^__(Host|Secure)-/)
      expect(c.attributes, c.raw).not.toContain('secure')
    }
  })
})

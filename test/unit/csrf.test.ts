import http from 'node:http'
import net from 'node:net'
import Koa from 'koa'
import { describe, expect, it } from 'vitest'
import { createCsrf } from '../../src/security/csrf.ts'
import { ACCOUNT_CSRF_SCOPE, SELF_SERVICE_CSRF_SCOPE } from '../../src/middleware/csrf-guard.ts'
import { csrfScopeOf } from '../../src/app.ts'

/** Exempt: the path's area takes unsafe requests without our token (the provider's endpoints, the bearer-token APIs). */
const isCsrfExempt = (path: string) => csrfScopeOf(path) === undefined

const app = new Koa()
app.keys = ['cookie-signing-key-for-tests-0123456789']

/** A real Koa context over node:http objects; `cookie` becomes the request's Cookie header. */
function context(cookie?: string) {
  const req = new http.IncomingMessage(new net.Socket())
  req.method = 'POST'
  req.url = '/interaction/uid1/login'
  req.headers = { host: 'id.example.test', ...(cookie ? { cookie } : {}) }
  const res = new http.ServerResponse(req)
  return app.createContext(req, res)
}

function setCookies(ctx: ReturnType<typeof context>): string[] {
  const h = ctx.res.getHeader('set-cookie')
  return h === undefined ? [] : Array.isArray(h) ? h : [String(h)]
}

/** The Cookie header a browser would send back after this response. */
function cookieHeaderFrom(ctx: ReturnType<typeof context>): string {
  return setCookies(ctx).map((c) => c.split(';')[0]).join('; ')
}

/** Issues a token in a fresh browser; returns it with the browser's cookie header. */
function issueFresh(csrf: ReturnType<typeof createCsrf>, scope: string) {
  const ctx = context()
  const token = csrf.issue(ctx, scope)
  return { token, cookie: cookieHeaderFrom(ctx) }
}

const csrf = createCsrf('csrf-hmac-key-0123456789abcdef')

describe('csrf.issue', () => {
  it('sets an HttpOnly, SameSite=Lax iam.csrf cookie on path / and returns a base64url token', () => {
    const ctx = context()
    const token = csrf.issue(ctx, 'uid1')
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const cookie = setCookies(ctx).find((c) => c.startsWith('iam.csrf='))
    expect(cookie).toBeDefined()
    const attrs = cookie!.toLowerCase().split(/;\s*/)
    expect(attrs).toContain('httponly')
    expect(attrs).toContain('samesite=lax')
    expect(attrs).toContain('path=/')
    expect(attrs).not.toContain('secure') // plain http request
    const value = cookie!.split(';')[0]!.slice('iam.csrf='.length)
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(token).not.toBe(value) // the token is an HMAC, not the secret itself
  })

  it('reuses the existing cookie secret instead of setting a new one', () => {
    const { token, cookie } = issueFresh(csrf, 'uid1')
    const ctx = context(cookie)
    expect(csrf.issue(ctx, 'uid1')).toBe(token)
    expect(setCookies(ctx)).toEqual([])
  })

  it('gives different browsers different tokens for one scope', () => {
    expect(issueFresh(csrf, 'uid1').token).not.toBe(issueFresh(csrf, 'uid1').token)
  })
})

describe('csrf cookie over https', () => {
  it('is `__Host-iam.csrf`: Secure, Path=/, no Domain; a token verifies against it', () => {
    const proxied = new Koa({ proxy: true })
    proxied.keys = app.keys
    const over = (cookie?: string) => {
      const req = new http.IncomingMessage(new net.Socket())
      req.method = 'POST'
      req.url = '/interaction/uid1/login'
      req.headers = { host: 'id.example.test', 'x-forwarded-proto': 'https', ...(cookie ? { cookie } : {}) }
      return proxied.createContext(req, new http.ServerResponse(req))
    }
    const ctx = over()
    const token = csrf.issue(ctx, 'uid1')
    const cookie = setCookies(ctx).find((c) => c.startsWith('__Host-iam.csrf='))
    expect(cookie).toBeDefined()
    const attrs = cookie!.toLowerCase().split(/;\s*/)
    expect(attrs).toEqual(expect.arrayContaining(['secure', 'path=/', 'httponly']))
    expect(attrs.some((a) => a.startsWith('domain='))).toBe(false)
    expect(setCookies(ctx).some((c) => c.startsWith('iam.csrf='))).toBe(false)
    expect(csrf.verify(over(cookieHeaderFrom(ctx)), 'uid1', token)).toBe(true)
  })
})

describe('csrf.verify', () => {
  it('accepts the token for the same scope and cookie', () => {
    const { token, cookie } = issueFresh(csrf, 'uid1')
    expect(csrf.verify(context(cookie), 'uid1', token)).toBe(true)
  })

  it('rejects the token for another scope', () => {
    const { token, cookie } = issueFresh(csrf, 'uid1')
    expect(csrf.verify(context(cookie), 'uid2', token)).toBe(false)
    expect(csrf.verify(context(cookie), '', token)).toBe(false)
  })

  it("rejects the token with another browser's cookie", () => {
    const a = issueFresh(csrf, 'uid1')
    const b = issueFresh(csrf, 'uid1')
    expect(csrf.verify(context(b.cookie), 'uid1', a.token)).toBe(false)
    expect(csrf.verify(context(a.cookie), 'uid1', b.token)).toBe(false)
  })

  it('rejects a cookie whose secret an attacker chose', () => {
    const { token } = issueFresh(csrf, 'uid1')
    expect(csrf.verify(context('iam.csrf=attacker-chosen-secret'), 'uid1', token)).toBe(false)
  })

  it('rejects when the cookie is missing, and does not set one', () => {
    const { token } = issueFresh(csrf, 'uid1')
    const ctx = context()
    expect(csrf.verify(ctx, 'uid1', token)).toBe(false)
    expect(setCookies(ctx)).toEqual([])
  })

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 12345],
    ['an object', { csrf: 'x' }],
  ])('rejects a non-string token: %s', (_label, bad) => {
    const { cookie } = issueFresh(csrf, 'uid1')
    expect(csrf.verify(context(cookie), 'uid1', bad)).toBe(false)
  })

  it('rejects the right token wrapped in an array (duplicated form field)', () => {
    const { token, cookie } = issueFresh(csrf, 'uid1')
    expect(csrf.verify(context(cookie), 'uid1', [token])).toBe(false)
  })

  it('rejects truncated, extended, empty and altered tokens', () => {
    const { token, cookie } = issueFresh(csrf, 'uid1')
    const ctx = context(cookie)
    expect(csrf.verify(ctx, 'uid1', token.slice(0, -1))).toBe(false)
    expect(csrf.verify(ctx, 'uid1', token.slice(0, 10))).toBe(false)
    expect(csrf.verify(ctx, 'uid1', `${token}A`)).toBe(false)
    expect(csrf.verify(ctx, 'uid1', '')).toBe(false)
    const altered = (token[0] === 'A' ? 'B' : 'A') + token.slice(1)
    expect(csrf.verify(ctx, 'uid1', altered)).toBe(false)
    expect(csrf.verify(ctx, 'uid1', token)).toBe(true)
  })

  it('rejects a token made with another HMAC key', () => {
    const { cookie } = issueFresh(csrf, 'uid1')
    const other = createCsrf('another-hmac-key-0123456789abcdef')
    const tokenFromOtherKey = other.issue(context(cookie), 'uid1')
    expect(csrf.verify(context(cookie), 'uid1', tokenFromOtherKey)).toBe(false)
  })
})

describe('csrfScopeOf: guarded by default, exempt by list', () => {
  it('reads the area as the routers match it: any letter case, any trailing slash', () => {
    for (const path of ['/account/logout', '/ACCOUNT/logout', '/Account/LOGOUT/', '/account', '/ACCOUNT', '/account//logout']) {
      expect(csrfScopeOf(path), path).toBe(ACCOUNT_CSRF_SCOPE)
    }
    expect(csrfScopeOf('/SELF-SERVICE/forgot-password')).toBe(SELF_SERVICE_CSRF_SCOPE)
    expect(csrfScopeOf('/Interaction/AbC_123/login')).toBe('AbC_123') // the uid as written: uids are case-sensitive
    expect(csrfScopeOf('/interaction/a%2Fb/login')).toBe('')
    expect(csrfScopeOf('/interaction/')).toBe('')
  })

  it('guards every other path with a scope no token matches', () => {
    for (const path of ['/', '//account/logout', '/account%2Flogout', '/%61ccount/logout', '/admin', '/ADMIN/API/users', '/Admin/api/users', '/api', '/API/demo/x', '/federation/x/callback', '/Token/x', '/%74oken', '/nowhere']) {
      expect(csrfScopeOf(path), path).toBe('')
      expect(isCsrfExempt(path), path).toBe(false)
    }
  })

  it('exempts only the provider’s endpoints (as its router folds them) and the bearer-token APIs (as their gates match)', () => {
    for (const path of ['/token', '/TOKEN', '/token/', '/token/introspection', '/token/revocation', '/me', '/auth', '/request', '/session/end', '/session/end/confirm', '/device', '/device/auth', '/reg', '/reg/some-client', '/admin/api', '/admin/api/users', '/api/demo/profile']) {
      expect(isCsrfExempt(path), path).toBe(true)
      expect(csrfScopeOf(path), path).toBeUndefined()
    }
    for (const path of ['/token//', '/tokens', '/token/x', '/reg/a/b', '/admin/apix', '/api/demox', '/tok\u0131n']) expect(isCsrfExempt(path), path).toBe(false)
  })
})

// CSRF protection for our forms: a random per-browser secret in an HttpOnly cookie, and in each
// form an HMAC of that secret bound to the form's scope (the interaction uid). A cross-site page
// can neither read the cookie nor compute the token.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Context } from 'koa'
import { hostCookieName } from './cookie-names.ts'

// Path=/ without a Domain: `__Host-iam.csrf` over https (src/security/cookie-names.ts).
const COOKIE = 'iam.csrf'

function secretFor(ctx: Context, create: boolean): string | undefined {
  const name = hostCookieName(COOKIE, ctx.secure)
  let secret = ctx.cookies.get(name, { signed: true })
  if (!secret && create) {
    secret = randomBytes(32).toString('base64url')
    ctx.cookies.set(name, secret, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/', overwrite: true })
  }
  return secret
}

function sign(key: string, secret: string, scope: string): string {
  return createHmac('sha256', key).update(`${secret}|${scope}`).digest('base64url')
}

export function createCsrf(key: string) {
  return {
    /** The token to put in the form's hidden `csrf` field. */
    issue(ctx: Context, scope: string): string {
      return sign(key, secretFor(ctx, true)!, scope)
    },
    verify(ctx: Context, scope: string, token: unknown): boolean {
      const secret = secretFor(ctx, false)
      if (!secret || typeof token !== 'string') return false
      const expected = Buffer.from(sign(key, secret, scope))
      const given = Buffer.from(token)
      return expected.length === given.length && timingSafeEqual(expected, given)
    },
  }
}
export type Csrf = ReturnType<typeof createCsrf>

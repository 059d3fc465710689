// Behind the trusted proxy, every URL built from the request names ISSUER's origin: oidc-provider
// builds its endpoint URLs (discovery) and redirects from ctx.href, and Koa takes the host from
// X-Forwarded-Host (or Host, or an absolute request target), which a client can write. Pinned
// here, a forged header cannot put another host into discovery (and a cache in front of it) or a
// redirect. The proxy's X-Forwarded-Proto still decides ctx.secure (Secure cookies, HSTS), as the
// scheme the browser really used; docs/deploy.md says what the proxy must set.
import type { Context, Middleware, Next } from 'koa'

export function publicOrigin(issuer: string): Middleware {
  const { origin, host, hostname } = new URL(issuer)
  return async function pinPublicOrigin(ctx: Context, next: Next) {
    const target = ctx.request.originalUrl
    const absolute = target.startsWith('/') ? undefined : URL.parse(target)
    const pathAndQuery = absolute ? `${absolute.pathname}${absolute.search}` : target
    Object.defineProperties(ctx.request, {
      origin: { value: origin, configurable: true },
      host: { value: host, configurable: true },
      hostname: { value: hostname, configurable: true },
      href: { value: `${origin}${pathAndQuery}`, configurable: true },
    })
    await next()
  }
}

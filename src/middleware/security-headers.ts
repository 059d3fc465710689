// Security headers on every response, and this response's CSP nonce (ctx.state.cspNonce) for the
// page's one script tag.
import { randomFillSync } from 'node:crypto'
import type { Context, Next } from 'koa'

// CSP nonces, one per response. Asking the CSPRNG for 16 bytes per response cost ~2.5 % of the
// server's CPU under load (docs/performance.md); bytes are drawn 4 KiB at a time instead and cut
// into nonces, each used once (Node buffers randomUUID the same way).
const NONCE_BYTES = 16
const pool = Buffer.alloc(NONCE_BYTES * 256)
let offset = pool.length

/** A fresh base64 nonce (128 bits), never handed out twice. */
export function cspNonce(): string {
  if (offset === pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const nonce = pool.toString('base64', offset, offset + NONCE_BYTES)
  offset += NONCE_BYTES
  return nonce
}

// Pages render no inline script or style. The one script (WebAuthn pages) runs only with this
// response's nonce, so even an injected <script src="/assets/..."> of our own origin would not run.
// connect-src: that script talks to this origin only. The provider's own pages (form_post,
// logout) set their own CSP over this one.
// img-src: our own images; a page showing a client's logo (the consent page) adds that logo's
// origin for that response only (allowImagesFrom), rather than every https origin for every page.
function contentSecurityPolicy(nonce: string, imageOrigins: readonly string[] = []): string {
  return `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self'; img-src ${["'self'", 'data:', ...imageOrigins].join(' ')}; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'`
}

/**
 * Lets this response's page load images from `origins` (URL origins: scheme://host[:port], which
 * cannot carry the spaces or semicolons that would end the source list).
 */
export function allowImagesFrom(ctx: Context, origins: readonly string[]): void {
  const safe = origins.filter((o) => /^https?:\/\/[^\s;,']+$/.test(o))
  ctx.set('Content-Security-Policy', contentSecurityPolicy(ctx.state.cspNonce as string, safe))
}

export function securityHeaders() {
  return async function securityHeadersMiddleware(ctx: Context, next: Next) {
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set('Referrer-Policy', 'no-referrer')
    ctx.set('X-Frame-Options', 'DENY')
    ctx.state.cspNonce = cspNonce()
    ctx.set('Content-Security-Policy', contentSecurityPolicy(ctx.state.cspNonce as string))
    // ctx.secure honours X-Forwarded-Proto only with TRUST_PROXY: a client cannot turn this on.
    if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains')
    await next()
  }
}

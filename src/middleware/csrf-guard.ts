// The one CSRF check for every form and script request on our pages: it parses the body (form or
// JSON) and refuses, before any route runs, an unsafe request (anything but GET, HEAD, OPTIONS)
// whose `csrf` field is not this browser's token for the page's scope. Routes therefore neither
// parse bodies nor check tokens themselves.
//
// Guarded by default, exempt by list: every path is guarded except the few listed below, so a new
// route, a path spelled in another letter case (our routers match case-insensitively), with a
// trailing or doubled slash, or percent-encoded cannot slip past it (test/integration/csrf.test.ts
// walks every POST route of our routers, and those spellings). A path that no route answers is
// refused too: nothing is lost, no token could be right for it.
//
// Exempt, on purpose: the provider's own endpoints (protocol requests authenticated by client
// credentials, codes or tokens; its logout and device forms carry their own xsrf field), and the
// bearer-token APIs (/admin/api, /api/demo: no cookie authenticates them, so no cross-site page
// can act with the browser's credentials there).
import { bodyParser } from '@koa/bodyparser'
import type { Context, Middleware, Next } from 'koa'
import type { AuditWriter } from '../audit/audit.ts'
import type { Csrf } from './csrf.ts'

/** The CSRF scope of pages outside an interaction and the account area (links from emails). */
export const SELF_SERVICE_CSRF_SCOPE = 'self-service'
/** One CSRF scope for the whole account area (its forms are not tied to an interaction). */
export const ACCOUNT_CSRF_SCOPE = 'account'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

// oidc-provider's routes (its defaults: src/oidc/provider.ts sets no `routes`) that take unsafe
// requests, as its router matches them: letters folded to one case, one trailing slash ignored.
const PROVIDER_ENDPOINTS = new Set([
  '/auth', '/token', '/token/introspection', '/token/revocation', '/me', '/request', '/session/end', '/session/end/confirm',
  '/device', '/device/auth', '/backchannel', '/challenge', '/credential', '/reg',
].map((p) => p.toUpperCase()))
const PROVIDER_CLIENT_MANAGEMENT = /^\/REG\/[^/]+$/ // /reg/:clientId (PUT, DELETE with a registration access token)

/** The bearer-token APIs, as exactly as their own gates match them (case-sensitive prefixes). */
const BEARER_APIS = ['/admin/api', '/api/demo']

function isProviderEndpoint(path: string): boolean {
  // The provider folds ASCII letters only; anything else is not one of its static routes.
  if (!/^[\x20-\x7e]*$/.test(path)) return false
  const folded = (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path).toUpperCase()
  return PROVIDER_ENDPOINTS.has(folded) || PROVIDER_CLIENT_MANAGEMENT.test(folded)
}

/** Whether an unsafe request to `path` goes without a CSRF token (see the list above). */
export function isCsrfExempt(path: string): boolean {
  return isProviderEndpoint(path) || BEARER_APIS.some((api) => path === api || path.startsWith(`${api}/`))
}

/**
 * The scope an unsafe request to `path` must carry a token for; undefined only when the path is
 * exempt. The area is read from the first segment as our routers match it (any letter case); a
 * path in no area gets '' (no token matches it: refused).
 */
export function csrfScopeOf(path: string): string | undefined {
  if (isCsrfExempt(path)) return undefined
  const [, area = '', second] = path.split('/')
  switch (area.toLowerCase()) {
    // The uid as written (uids are case-sensitive); a malformed one matches no token.
    case 'interaction': return second !== undefined && /^[A-Za-z0-9_-]{1,64}$/.test(second) ? second : ''
    case 'account': return ACCOUNT_CSRF_SCOPE
    case 'self-service': return SELF_SERVICE_CSRF_SCOPE
    default: return ''
  }
}

export interface CsrfGuardDeps {
  csrf: Csrf
  audit: AuditWriter
  /** Renders the human refusal page (the layout's error page). */
  refusalPage(ctx: Context, back: { href: string; label: string } | undefined): void
}

const REFUSED = 'This form was not accepted because it did not come from this page, or it has expired. Reload the page and try again.'

export function createCsrfGuard(deps: CsrfGuardDeps): Middleware {
  // Forms, and the WebAuthn script's JSON (an attestation in a form field can reach ~40 kB).
  const parse = bodyParser({
    enableTypes: ['form', 'json'], formLimit: '64kb', jsonLimit: '64kb',
    onError: (err, ctx) => ctx.throw((err as { status?: number }).status === 413 ? 413 : 400, 'The form could not be read.'),
  })
  return async function csrfGuard(ctx: Context, next: Next) {
    if (SAFE_METHODS.has(ctx.method)) return next()
    const scope = csrfScopeOf(ctx.path)
    if (scope === undefined) return next()
    await parse(ctx, async () => undefined)
    const body = ctx.request.body as Record<string, unknown> | undefined
    if (scope && deps.csrf.verify(ctx, scope, body?.csrf)) return next()

    await deps.audit.record(ctx, { type: 'csrf_rejected', outcome: 'failure', details: { path: ctx.path } })
    ctx.status = 403
    ctx.set('Cache-Control', 'no-store')
    if (ctx.request.is('json')) {
      ctx.body = { error: 'This page has expired. Reload it and try again.' }
      return
    }
    const back = scope === ACCOUNT_CSRF_SCOPE ? { href: '/account', label: 'Back to your account' } : undefined
    deps.refusalPage(ctx, back)
  }
}

export const CSRF_REFUSAL = { title: 'Form expired', message: REFUSED }

// The one CSRF check for every form and script request on our pages: it parses the body (form or
// JSON) and refuses, before any route runs, an unsafe request (anything but GET, HEAD, OPTIONS)
// whose `csrf` field is not this browser's token for the area's scope. Routes therefore neither
// parse bodies nor check tokens themselves.
//
// Each area that serves browsers runs it with its scope (src/app.ts): the interaction pages (the
// uid in the path), the account area, self-service, and with the scope '' (no token matches it:
// every unsafe request refused) the federation return, the console and the provider's area for
// anything but its own endpoints. The bearer-token APIs do not run it: no cookie authenticates
// them, so no cross-site page can act with the browser's credentials there. A new route in any of
// these areas, a path spelled in another letter case (our routers match case-insensitively),
// with a trailing or doubled slash, or percent-encoded cannot slip past it
// (test/integration/csrf.test.ts walks every POST route of our routers, and those spellings).
//
// The same scope is the one the area's pages put in their forms: the guard records it on
// ctx.state.csrfScope, and src/pages/render.ts issues the form's token for it.
import { bodyParser } from '@koa/bodyparser'
import type { Context, Middleware, Next } from 'koa'
import type { AuditWriter } from '../audit/audit.ts'
import type { Csrf } from '../security/csrf.ts'
import { pageText } from '../pages/page-text.ts'

/** The CSRF scope of pages outside an interaction and the account area (links from emails). */
export const SELF_SERVICE_CSRF_SCOPE = 'self-service'
/** One CSRF scope for the whole account area (its forms are not tied to an interaction). */
export const ACCOUNT_CSRF_SCOPE = 'account'
/** The scope of an area that takes no unsafe request from a browser: no token matches it. */
export const NO_FORMS = ''

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** An interaction's scope: its uid as written in /interaction/:uid/… (uids are case-sensitive); a malformed one matches no token. */
export function interactionScope(path: string): string {
  const uid = path.split('/')[2]
  return uid !== undefined && /^[A-Za-z0-9_-]{1,64}$/.test(uid) ? uid : NO_FORMS
}

/**
 * The scope of a request to an area: the token its forms carry, NO_FORMS when none can be right,
 * undefined when the area takes unsafe requests on other grounds (the provider's own endpoints).
 */
export type CsrfScope = (path: string) => string | undefined

export interface CsrfGuardDeps {
  csrf: Csrf
  audit: AuditWriter
  /** Renders the human refusal page (the layout's error page) with csrfRefusal's words. */
  refusalPage(ctx: Context, back: { href: string; label: string } | undefined): void
}

/** The guard for one area, refusing unsafe requests without a token for `scopeOf(path)`. */
export function csrfGuard(deps: CsrfGuardDeps, scopeOf: CsrfScope): Middleware {
  // Forms, and the WebAuthn script's JSON (an attestation in a form field can reach ~40 kB).
  const parse = bodyParser({
    enableTypes: ['form', 'json'], formLimit: '64kb', jsonLimit: '64kb',
    onError: (err, ctx) => ctx.throw((err as { status?: number }).status === 413 ? 413 : 400, pageText(ctx).t('csrf.unreadable')),
  })
  return async function csrfGuardMiddleware(ctx: Context, next: Next) {
    // One check per request: a page area whose router does not answer hands the request on to the
    // provider's area, whose guard then leaves it alone.
    if (ctx.state.csrfChecked) return next()
    ctx.state.csrfChecked = true
    const scope = scopeOf(ctx.path)
    if (scope) ctx.state.csrfScope = scope
    if (SAFE_METHODS.has(ctx.method) || scope === undefined) return next()
    await parse(ctx, async () => undefined)
    const body = ctx.request.body as Record<string, unknown> | undefined
    if (scope && deps.csrf.verify(ctx, scope, body?.csrf)) return next()

    await deps.audit.record(ctx, { type: 'csrf_rejected', outcome: 'failure', details: { path: ctx.path } })
    ctx.status = 403
    ctx.set('Cache-Control', 'no-store')
    if (ctx.request.is('json')) {
      ctx.body = { error: pageText(ctx).t('csrf.scriptRefused') }
      return
    }
    const back = scope === ACCOUNT_CSRF_SCOPE ? { href: '/account', label: pageText(ctx).t('csrf.backToAccount') } : undefined
    deps.refusalPage(ctx, back)
  }
}

/** The refusal page's title and message, in the request's language. */
export function csrfRefusal(ctx: Context): { title: string; message: string } {
  const tr = pageText(ctx)
  return { title: tr.t('csrf.title'), message: tr.t('csrf.message') }
}

// The one CSRF check for every form and script POST on our pages: it parses the body (form or
// JSON) and refuses, before any route runs, a POST whose `csrf` field is not this browser's token
// for the page's scope. Routes therefore neither parse bodies nor check tokens themselves, and a
// new route under a guarded prefix cannot forget the check (test/integration/csrf.test.ts walks
// every POST route of our routers).
//
// Not guarded, on purpose: the provider's own endpoints (protocol POSTs authenticated by client
// credentials, codes or tokens; its logout confirmation carries its own xsrf field).
import { bodyParser } from '@koa/bodyparser'
import type { Context, Middleware, Next } from 'koa'
import type { AuditWriter } from '../audit/audit.ts'
import type { Csrf } from './csrf.ts'

/** The CSRF scope of pages outside an interaction and the account area (links from emails). */
export const SELF_SERVICE_CSRF_SCOPE = 'self-service'
/** One CSRF scope for the whole account area (its forms are not tied to an interaction). */
export const ACCOUNT_CSRF_SCOPE = 'account'

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/|$)/

/** The scope a POST to `path` must carry a token for; undefined when the path is not ours to guard. */
export function csrfScopeOf(path: string): string | undefined {
  const interaction = INTERACTION.exec(path)
  if (interaction) return interaction[1]
  if (path.startsWith('/interaction/')) return '' // a malformed uid: nothing can match it
  if (path === '/account' || path.startsWith('/account/')) return ACCOUNT_CSRF_SCOPE
  if (path.startsWith('/self-service/')) return SELF_SERVICE_CSRF_SCOPE
  return undefined
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
    if (ctx.method !== 'POST') return next()
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

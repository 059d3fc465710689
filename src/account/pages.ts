// What every page of the account area shares: rendered with the account area's CSRF token,
// never cached, and error pages that lead back to where the person was.
import type { Context } from 'koa'
import type { Csrf } from '../security/csrf.ts'
import type { Db } from '../queries/db.ts'
import { findUserById } from '../queries/users.ts'
import type Provider from 'oidc-provider'
import type { AuditWriter } from '../audit/audit.ts'
import type { Clock } from '../security/clock.ts'
import { pageContext, renderPage, type PageName } from '../pages/render.ts'
import { pageWords } from '../pages/page-text.ts'
import type { MessageValues, Translator } from '../i18n/catalogs.ts'

/**
 * What the account area's signed cookie holds (the ID token was validated at sign-in), and the
 * provider session it is bound to (its uid, and the account area's sid in it).
 */
export interface AccountSession { sub: string; idToken: string; exp: number; sessionUid: string; sid: string }

/** What every account-area route module that acts on the signed-in person works with. */
export interface AccountAreaDeps {
  prisma: Db
  provider: Provider
  csrf: Csrf
  audit: AuditWriter
  clock: Clock
  siteName: string
  /**
   * The signed-in person's session, already checked against the live state (the provider session
   * it came from still holds, the person is active): src/account/routes.ts is the one place that
   * makes it. Undefined means "not signed in".
   */
  readSession(ctx: Context): AccountSession | undefined
}

/** What finding the signed-in person needs. */
export interface AccountUserDeps { prisma: Db; clock: Clock }

/** The person behind an unexpired account session, if they still exist and are active. */
export async function activeAccountUser(deps: AccountUserDeps, session: AccountSession | undefined) {
  if (!session || session.exp <= deps.clock.now()) return undefined
  const user = await findUserById(deps.prisma, session.sub)
  return user?.status === 'active' ? user : undefined
}

/**
 * The signed-in, active person with their account session; otherwise the browser is sent to sign
 * in (and back to `returnTo`) and the result is undefined: the handler just returns.
 */
export async function signedInOrRedirect(ctx: Context, deps: AccountUserDeps, session: AccountSession | undefined, returnTo: string) {
  const user = await activeAccountUser(deps, session)
  if (!session || !user) {
    ctx.status = 303
    ctx.redirect(`/account/login?return=${encodeURIComponent(returnTo)}`)
    return undefined
  }
  return { user, session }
}


/** A moment on the account area's pages: in the page's language, with its time zone (UTC) named. */
export function when(i18n: Translator, d: Date): { text: string; iso: string } {
  return { text: i18n.date(d, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' }), iso: d.toISOString() }
}

/** A day on the account area's pages, in the page's language. */
export function day(i18n: Translator, d: Date): { text: string; iso: string } {
  return { text: i18n.date(d, { dateStyle: 'medium', timeZone: 'UTC' }), iso: d.toISOString() }
}


/** An error page's words: catalog keys (the back link's too) and the message's values. */
export interface ErrorWords { title: string; message: string; back: string; values?: MessageValues }

export function createAccountPages(csrf: Csrf, siteName: string) {
  function page(ctx: Context, name: PageName, data: Record<string, unknown>) {
    ctx.set('Cache-Control', 'no-store')
    ctx.type = 'html'
    ctx.body = renderPage(name, pageContext(ctx, siteName, csrf), data)
  }
  /** The translator page `name` renders with for this request: for the messages a route makes for it. */
  const i18n = pageWords
  return {
    page,
    i18n,
    errorPage(ctx: Context, status: number, words: ErrorWords, backHref: string) {
      const { t } = i18n(ctx, 'error')
      ctx.status = status
      page(ctx, 'error', { title: t(words.title), message: t(words.message, words.values), backHref, backLabel: t(words.back) })
    },
  }
}

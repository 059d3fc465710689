// /account/sessions: where the person is signed in (browser, system, IP, when), and signing out
// one of those sessions, all the others, or everywhere. Signing a session out ends it at this
// server (the browser must sign in again) and revokes what applications got in it, refresh
// tokens included. "This device" is the session of the provider's cookie in this browser: the
// account area runs on the provider's own origin.
//
// No step-up: signing out only takes access away. Signing out this browser (alone or with all
// others) also signs the person out of the account area.
import type Router from '@koa/router'
import type { Context } from 'koa'
import type Provider from 'oidc-provider'
import { z } from 'zod'
import type { Clock } from '../security/clock.ts'
import { findLiveSessionOfUser } from '../queries/user-sessions.ts'
import { currentSessionUid, endAllSessionsOf, endSession, listActiveSessions } from '../identity/sessions.ts'
import { ACCOUNT_CLIENT_ID } from './relying-party.ts'
import { signedInOrRedirect, createAccountPages, when, type AccountAreaDeps } from './pages.ts'

export interface AccountSessionsDeps extends AccountAreaDeps {
  /** Clears the account area's own sign-in (its cookie). */
  signOutOfAccountArea(ctx: Context): void
}

/** What the sessions pages need beyond the account area's own deps (app.ts passes them through). */
export interface SessionExtras {
  provider: Provider
  clock: Clock
}

const SESSIONS = '/account/sessions'
const NOTICES = {
  ended: 'sessions.ended',
  others: 'sessions.endedOthers',
} as const
const rowId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)


export function registerSessionRoutes(router: Router, deps: AccountSessionsDeps): void {
  const { prisma, provider, csrf, audit, siteName } = deps
  const pages = createAccountPages(csrf, siteName)

  /** The signed-in, active person and this browser's session uid; otherwise off to sign in. */
  async function signedIn(ctx: Context) {
    const user = (await signedInOrRedirect(ctx, deps, deps.readSession(ctx), SESSIONS))?.user
    if (!user) return undefined
    return { id: user.id, current: await currentSessionUid(provider, ctx, user.id) }
  }

  function signedOutHere(ctx: Context, everywhere: boolean) {
    deps.signOutOfAccountArea(ctx)
    ctx.status = 303
    ctx.redirect(everywhere ? '/account/signed-out?everywhere=1' : '/account/signed-out')
  }

  router.get(SESSIONS, async (ctx) => {
    const person = await signedIn(ctx)
    if (!person) return
    const sessions = await listActiveSessions(deps, person.id)
    const i18n = pages.i18n(ctx, 'account-sessions')
    const { t } = i18n
    const views = sessions
      .map((s) => ({
        id: s.id,
        device: t('sessions.device', { browser: s.browser ?? t('sessions.unknownBrowser'), os: s.os ?? t('sessions.unknownSystem') }),
        ip: s.ip,
        signedIn: when(i18n, s.createdAt),
        lastSeen: when(i18n, s.lastSeenAt),
        current: s.sessionUid === person.current,
      }))
      .sort((a, b) => Number(b.current) - Number(a.current) || b.lastSeen.iso.localeCompare(a.lastSeen.iso))
    const done = typeof ctx.query.done === 'string' && ctx.query.done in NOTICES ? ctx.query.done as keyof typeof NOTICES : undefined
    pages.page(ctx, 'account-sessions', {
      notice: done ? t(NOTICES[done]) : undefined,
      sessions: views,
      others: views.some((s) => !s.current),
    })
  })

  router.post(`${SESSIONS}/:id/end`, async (ctx) => {
    const person = await signedIn(ctx)
    if (!person) return
    const id = rowId.safeParse(ctx.params.id)
    const row = id.success ? await findLiveSessionOfUser(prisma, id.data, person.id) : null
    if (!row) {
      await audit.record(ctx, { type: 'session_ended', outcome: 'failure', userId: person.id, clientId: ACCOUNT_CLIENT_ID, details: { reason: 'not_found' } })
      return pages.errorPage(ctx, 404, { title: 'sessions.notFound', message: 'sessions.notFoundMessage', back: 'sessions.back' }, SESSIONS)
    }
    await endSession(deps, row, { reason: 'signed_out', ctx })
    if (row.sessionUid === person.current) return signedOutHere(ctx, false)
    ctx.status = 303
    ctx.redirect(`${SESSIONS}?done=ended`)
  })

  router.post(`${SESSIONS}/end-others`, async (ctx) => {
    const person = await signedIn(ctx)
    if (!person) return
    await endAllSessionsOf(deps, person.id, { reason: 'signed_out_elsewhere', exceptSessionUid: person.current, ctx })
    ctx.status = 303
    ctx.redirect(`${SESSIONS}?done=others`)
  })

  router.post(`${SESSIONS}/end-all`, async (ctx) => {
    const person = await signedIn(ctx)
    if (!person) return
    if (person.current) await endSession(deps, { userId: person.id, sessionUid: person.current }, { reason: 'signed_out', ctx })
    await endAllSessionsOf(deps, person.id, { reason: 'signed_out_elsewhere', ctx })
    signedOutHere(ctx, true)
  })
}

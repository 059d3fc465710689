// Records each browser session of the provider as a UserSession row (device facts, sign-in and
// last-seen times) and links the grants given in it, so people can see and end their sessions in
// /account. Runs around the provider's mount: after oidc-provider handled a request that loaded
// the session (authorization, its resume after an interaction, device flow, logout), the session
// it saved is in ctx.oidc.session.
//
// A new session (a sign-in) may push the person over MAX_SESSIONS_PER_USER: the oldest are ended.
// A session oidc-provider destroyed (RP-initiated logout) is marked ended.
import type { Context, Middleware, Next } from 'koa'
import Bowser from 'bowser'
import { newRowId } from '../queries/row-id.ts'
import { findSessionRowByUid, insertSessionRow, refreshLiveSessionRow, refreshSessionRow } from '../queries/user-sessions.ts'
import { linkGrantsToSession } from '../queries/user-grants.ts'
import { grantIdsOf } from '../oidc/adapters/shared.ts'
import type { Logger } from '../observability/logger.ts'
import { providerClientId, providerLoginAccountId, providerSession, type ProviderSession } from '../oidc/provider-internals.ts'
import { endSession, enforceSessionLimit, markSessionEnded, type SessionDeps } from '../identity/sessions.ts'

export interface SessionTrackingDeps extends SessionDeps {
  logger: Logger
  maxSessionsPerUser: number
}

const MAX_USER_AGENT = 512

/** Browser and operating system names from a User-Agent, as people know them ("Firefox 128", "Windows 10"). */
export function describeDevice(userAgent: string | undefined): { browser: string | null; os: string | null } {
  if (!userAgent) return { browser: null, os: null }
  const { browser, os } = Bowser.parse(userAgent)
  const major = browser.version?.split('.')[0]
  const osVersion = os.name === 'Windows' ? os.versionName : os.version
  return {
    browser: browser.name ? [browser.name, major].filter(Boolean).join(' ') : null,
    os: os.name ? [os.name, osVersion].filter(Boolean).join(' ') : null,
  }
}

export function trackSessions(deps: SessionTrackingDeps): Middleware {
  const { prisma, logger } = deps

  async function signedOut(ctx: Context, session: ProviderSession): Promise<void> {
    const row = await findSessionRowByUid(prisma, session.uid)
    if (!row || row.endedAt) return
    if (await markSessionEnded(deps, { id: row.id }, 'signed_out') === 1) {
      const clientId = providerClientId(ctx)
      await deps.audit?.record(ctx, { type: 'session_ended', outcome: 'success', userId: row.userId, clientId, details: { reason: 'signed_out', session: row.id } })
    }
  }

  /** A row for a session not recorded yet; false when one exists (the same browser's concurrent request, or a sign-in again in this session). */
  async function createRow(ctx: Context, session: ProviderSession, accountId: string, at: Date): Promise<boolean> {
    const userAgent = ctx.get('user-agent').slice(0, MAX_USER_AGENT) || null
    const { browser, os } = describeDevice(userAgent ?? undefined)
    return insertSessionRow(prisma, { id: newRowId(), userId: accountId, sessionUid: session.uid, sessionId: session.jti, userAgent, browser, os, ip: ctx.ip || null, at })
  }

  async function seen(ctx: Context, session: ProviderSession, accountId: string): Promise<void> {
    const at = deps.clock?.date() ?? new Date()
    const grantIds = grantIdsOf(session)
    // The two common cases take one statement each (every sign-in passes both): the resume right
    // after the login interaction creates the row; a later request of a live session of the same
    // account refreshes it. Anything else (a row of another account or an ended one, a sign-in
    // again in the same session) goes the long way below.
    const justSignedIn = providerLoginAccountId(ctx) === accountId
    let created = justSignedIn && await createRow(ctx, session, accountId, at)
    const refreshed = !justSignedIn && await refreshLiveSessionRow(prisma, session.uid, accountId, session.jti, at)
    if (!created && !refreshed) {
      const existing = await findSessionRowByUid(prisma, session.uid)
      if (existing?.endedAt || (existing && existing.userId !== accountId)) {
        // A request that was under way when the session was ended saved it again: end it for good.
        await endSession(deps, existing, { reason: existing.endReason ?? 'signed_out', ctx })
        return
      }
      created = !existing && await createRow(ctx, session, accountId, at)
      if (!created) await refreshSessionRow(prisma, session.uid, session.jti, at)
    }
    if (grantIds.length) {
      await linkGrantsToSession(prisma, accountId, grantIds, session.uid)
    }
    if (created) await enforceSessionLimit(deps, accountId, session.uid, deps.maxSessionsPerUser, ctx)
  }

  return async function sessionTracking(ctx: Context, next: Next) {
    await next()
    // Only the provider's routes that load a session have one (src/oidc/provider-internals.ts).
    const session = providerSession(ctx)
    if (!session) return
    try {
      if (session.destroyed) await signedOut(ctx, session)
      else if (session.accountId) await seen(ctx, session, session.accountId)
    } catch (err) {
      // The provider has answered already (a redirect with a code, a page): keep its answer. The
      // session is recorded on its next request; its grants are indexed separately.
      logger.error({ err, reqId: ctx.state.requestId }, 'recording the session failed')
    }
  }
}

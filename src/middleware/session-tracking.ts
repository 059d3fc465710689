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
import { Prisma } from '../generated/prisma/client.ts'
import { newRowId } from '../store/row-id.ts'
import type { Logger } from '../observability/logger.ts'
import { endSession, enforceSessionLimit, markSessionEnded, type SessionDeps } from '../identity/sessions.ts'
import { executeSql } from '../store/raw-sql.ts'

export interface SessionTrackingDeps extends SessionDeps {
  logger: Logger
  maxSessionsPerUser: number
}

/** What we read of oidc-provider's Session (lib/models/session.js). */
interface ProviderSession {
  uid: string
  jti: string
  accountId?: string | undefined
  destroyed?: boolean | undefined
  authorizations?: Record<string, { grantId?: string | undefined }> | undefined
}

const MAX_USER_AGENT = 512

function sessionOf(ctx: Context): ProviderSession | undefined {
  // ctx.oidc exists only on the provider's own routes, and holds a session only on those that load it.
  const oidc = (ctx as { oidc?: { session?: ProviderSession } }).oidc
  const session = oidc?.session
  return session && typeof session.uid === 'string' ? session : undefined
}

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
    const row = await prisma.userSession.findUnique({ where: { sessionUid: session.uid } })
    if (!row || row.endedAt) return
    if (await markSessionEnded(deps, { id: row.id }, 'signed_out') === 1) {
      const clientId = (ctx as { oidc?: { client?: { clientId: string } } }).oidc?.client?.clientId
      await deps.audit?.record(ctx, { type: 'session_ended', outcome: 'success', userId: row.userId, clientId, details: { reason: 'signed_out', session: row.id } })
    }
  }

  /** A row for a session not recorded yet; false when one exists (the same browser's concurrent request, or a sign-in again in this session). */
  async function createRow(ctx: Context, session: ProviderSession, accountId: string, at: Date): Promise<boolean> {
    const userAgent = ctx.get('user-agent').slice(0, MAX_USER_AGENT) || null
    const { browser, os } = describeDevice(userAgent ?? undefined)
    // One statement written out (every sign-in runs it; see findActiveAccount in identity/users.ts).
    const inserted = await executeSql(prisma, Prisma.sql`
      INSERT INTO "UserSession" (id, "userId", "sessionUid", "sessionId", "userAgent", browser, os, ip, "createdAt", "lastSeenAt")
      VALUES (${newRowId()}, ${accountId}, ${session.uid}, ${session.jti}, ${userAgent}, ${browser}, ${os}, ${ctx.ip || null}, ${at}, ${at})
      ON CONFLICT ("sessionUid") DO NOTHING`)
    return inserted === 1
  }

  async function seen(ctx: Context, session: ProviderSession, accountId: string): Promise<void> {
    const at = deps.clock?.date() ?? new Date()
    const grantIds = Object.values(session.authorizations ?? {}).flatMap((a) => (typeof a.grantId === 'string' ? [a.grantId] : []))
    // The two common cases take one statement each (every sign-in passes both): the resume right
    // after the login interaction creates the row; a later request of a live session of the same
    // account refreshes it. Anything else (a row of another account or an ended one, a sign-in
    // again in the same session) goes the long way below.
    const justSignedIn = (ctx as { oidc?: { result?: { login?: { accountId?: unknown } } } }).oidc?.result?.login?.accountId === accountId
    let created = justSignedIn && await createRow(ctx, session, accountId, at)
    // The two statements every sign-in runs are written out (Prisma compiles each query anew: see
    // findActiveAccount in identity/users.ts); the rare paths below stay Prisma queries.
    const refreshed = !justSignedIn && await executeSql(prisma, Prisma.sql`
      UPDATE "UserSession" SET "sessionId" = ${session.jti}, "lastSeenAt" = ${at}
      WHERE "sessionUid" = ${session.uid} AND "userId" = ${accountId} AND "endedAt" IS NULL`) === 1
    if (!created && !refreshed) {
      const existing = await prisma.userSession.findUnique({ where: { sessionUid: session.uid } })
      if (existing?.endedAt || (existing && existing.userId !== accountId)) {
        // A request that was under way when the session was ended saved it again: end it for good.
        await endSession(deps, existing, { reason: existing.endReason ?? 'signed_out', ctx })
        return
      }
      created = !existing && await createRow(ctx, session, accountId, at)
      if (!created) await prisma.userSession.update({ where: { sessionUid: session.uid }, data: { sessionId: session.jti, lastSeenAt: at } })
    }
    if (grantIds.length) {
      await executeSql(prisma, Prisma.sql`UPDATE "UserGrant" SET "sessionUid" = ${session.uid} WHERE "grantId" IN (${Prisma.join(grantIds)}) AND "userId" = ${accountId}`)
    }
    if (created) await enforceSessionLimit(deps, accountId, session.uid, deps.maxSessionsPerUser, ctx)
  }

  return async function sessionTracking(ctx: Context, next: Next) {
    await next()
    const session = sessionOf(ctx)
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

// A person's browser sessions (UserSession rows, one per oidc-provider Session.uid) and the grants
// given to applications (UserGrant rows, written by the Grant adapter's index). Ending a session
// here ends it for real: the provider's Session is destroyed (the browser must sign in again) and
// every grant given in it is revoked with all its tokens (refresh tokens stop working).
//
// The rows are an index over the provider's store, which stays the truth: a row whose provider
// session has gone (expired) is marked ended when it is next looked at.
import type { Context } from 'koa'
import type Provider from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import type { AuditWriter } from '../audit/audit.ts'
import type { Clock } from '../security/clock.ts'
import { countOpenSessionsOfUser, listOpenSessionUidsOfUser, listOpenSessionsOfUser, markSessionRowEnded } from '../queries/user-sessions.ts'
import { listGrantIdsOfSession, listGrantIdsOfUserOutsideSession } from '../queries/user-grants.ts'
import { GRANT_ARTIFACT_MODELS, grantIdsOf } from '../oidc/adapters/shared.ts'
import { sendBackchannelLogout } from '../oidc/provider-internals.ts'

export interface SessionDeps {
  prisma: Db
  provider: Provider
  audit?: AuditWriter | undefined
  clock?: Clock | undefined
}

/** Why a session ended (UserSession.endReason). */
export type SessionEndReason =
  | 'signed_out' // the person signed out (RP-initiated logout, or this session from /account)
  | 'signed_out_elsewhere' // "sign out everywhere" from another session
  | 'evicted' // the oldest, when a sign-in went over MAX_SESSIONS_PER_USER
  | 'password_reset'
  | 'password_changed'
  | 'admin'
  | 'expired' // the provider session timed out

export interface ActiveSession {
  id: string
  sessionUid: string
  browser: string | null
  os: string | null
  ip: string | null
  createdAt: Date
  lastSeenAt: Date
}

const now = (deps: SessionDeps) => deps.clock?.date() ?? new Date()

/** Deletes every token and code of the grant, then the grant (its UserGrant row goes with it). */
export async function revokeGrant(provider: Provider, grantId: string): Promise<void> {
  await Promise.all(GRANT_ARTIFACT_MODELS.map((model) => provider[model].adapter.revokeByGrantId(grantId)))
  await provider.Grant.adapter.destroy(grantId)
}

/**
 * The uid of the provider session this browser holds (its session cookie), when it is signed in
 * as `userId`; the account area runs on the provider's origin, so the cookie comes along.
 */
export async function currentSessionUid(provider: Provider, ctx: Context, userId: string): Promise<string | undefined> {
  const session = await provider.Session.get(ctx)
  return session.accountId === userId ? session.uid : undefined
}

/**
 * Which provider session a relying party's sign-in came from: the session's uid, and the `sid` the
 * provider gave that client in it (the ID token's `sid` claim).
 */
export interface SessionBinding { sessionUid: string; sid: string }

const sidOf = (session: { authorizations?: Record<string, { sid?: unknown }> | undefined } | undefined, clientId: string) => {
  const sid = session?.authorizations?.[clientId]?.sid
  return typeof sid === 'string' ? sid : undefined
}

/**
 * The binding of a sign-in that `clientId` just completed in this browser: the browser's provider
 * session, when it is signed in as `userId` and gave the client the `sid` its ID token carries.
 * The relying party must run on the provider's origin (its session cookie comes along).
 */
export async function bindToBrowserSession(provider: Provider, ctx: Context, userId: string, clientId: string, sid: unknown): Promise<SessionBinding | undefined> {
  if (typeof sid !== 'string' || sid === '') return undefined
  const session = await provider.Session.get(ctx)
  if (session.accountId !== userId || sidOf(session, clientId) !== sid) return undefined
  return { sessionUid: session.uid, sid }
}

/**
 * Whether a sign-in bound to a provider session still holds: the session lives, is the same
 * person's, and still has the client's sign-in with that sid. Everything that ends a session ends
 * it here too: signing out (there, or of that client alone), "sign out everywhere", a password
 * reset or change, an administrator, the session limit, expiry.
 */
export async function isBindingLive(provider: Provider, binding: SessionBinding, userId: string, clientId: string): Promise<boolean> {
  const session = await provider.Session.findByUid(binding.sessionUid)
  return session?.accountId === userId && sidOf(session, clientId) === binding.sid
}

/**
 * The person's sessions that are still alive, oldest first. Rows whose provider session has
 * gone are marked ended ('expired') on the way.
 */
export async function listActiveSessions(deps: SessionDeps, userId: string): Promise<ActiveSession[]> {
  const rows: ActiveSession[] = await listOpenSessionsOfUser(deps.prisma, userId)
  const alive = await Promise.all(rows.map(async (row) => {
    const session = await deps.provider.Session.findByUid(row.sessionUid)
    if (session?.accountId === userId) return row
    await markSessionEnded(deps, { id: row.id }, 'expired')
    return undefined
  }))
  return alive.filter((row) => row !== undefined)
}

/** Marks a session's row ended (by its id, or by its sessionUid and userId), if it was not; how many rows it marked. */
export function markSessionEnded(deps: SessionDeps, row: { id: string } | { sessionUid: string; userId: string }, reason: string): Promise<number> {
  return markSessionRowEnded(deps.prisma, row, reason, now(deps))
}

type ProviderSession = NonNullable<Awaited<ReturnType<Provider['Session']['findByUid']>>>

/**
 * Sends a logout token to every client of the session that registered a backchannel_logout_uri,
 * through the provider's own client method (signing, delivery, SSRF rules). A client that does
 * not answer does not stop the sign-out: it is logged as an audit failure.
 */
async function notifyBackchannelLogout(deps: SessionDeps, session: ProviderSession, ctx: Context | undefined): Promise<void> {
  const clientIds = Object.keys(session.authorizations ?? {})
  await Promise.all(clientIds.map(async (clientId) => {
    const client = await deps.provider.Client.find(clientId)
    const sid = session.sidFor(clientId)
    if (!client?.backchannelLogoutUri || !sid || !session.accountId) return
    try {
      // A Client method of oidc-provider 9 (lib/models/client.js) its type definitions omit.
      await sendBackchannelLogout(client, session.accountId, sid)
    } catch (err) {
      await deps.audit?.record(ctx, {
        type: 'backchannel_logout', outcome: 'failure', userId: session.accountId, clientId,
        details: { error: (err as Error).message.slice(0, 200) },
      })
    }
  }))
}

/**
 * Ends one session: destroys the provider session, revokes the grants given in it, marks its row
 * ended and audits `session_ended`. Safe to repeat: a second call finds nothing to end and does
 * not audit. Says whether
 * the provider session was still alive, and which grants were revoked.
 */
export async function endSession(
  deps: SessionDeps,
  row: { userId: string; sessionUid: string },
  opts: { reason: SessionEndReason | string; ctx?: Context | undefined; actor?: string | undefined },
): Promise<{ wasAlive: boolean; grantIds: string[] }> {
  const { prisma, provider } = deps
  const session = await provider.Session.findByUid(row.sessionUid)
  const linked = await listGrantIdsOfSession(prisma, row.userId, row.sessionUid)
  const grantIds = [...new Set([...grantIdsOf(session?.accountId === row.userId ? session : undefined), ...linked])]
  // Applications signed in with this session and listening hear of it (OIDC Back-Channel Logout),
  // as they would from the provider's own logout endpoint; then the browser (it can do no more
  // from now on), then what applications hold.
  if (session?.accountId === row.userId) await notifyBackchannelLogout(deps, session, opts.ctx)
  if (session) await session.destroy()
  for (const grantId of grantIds) await revokeGrant(provider, grantId)
  const count = await markSessionEnded(deps, row, opts.reason)
  // Also when there was no row to end (a session from before sessions were recorded).
  if (count === 1 || session) {
    await deps.audit?.record(opts.ctx, {
      type: 'session_ended', outcome: 'success', userId: row.userId, actor: opts.actor,
      details: { reason: opts.reason, session: row.sessionUid, grantsRevoked: grantIds.length },
    })
  }
  return { wasAlive: Boolean(session), grantIds }
}

/**
 * Ends every session of the person and revokes every grant they gave (so offline refresh tokens
 * die too), except the session `exceptSessionUid` (the browser the person is using) and the grants
 * given in it. Call it after a password reset or change, or for "sign out everywhere".
 */
export async function endAllSessionsOf(
  deps: { prisma: Db; provider: Provider; audit?: AuditWriter | undefined; clock?: Clock | undefined },
  userId: string,
  opts: { reason: string; exceptSessionUid?: string | undefined; ctx?: Context | undefined; actor?: string | undefined },
): Promise<{ sessions: number; grants: number }> {
  const { prisma, provider } = deps
  const { exceptSessionUid } = opts
  const rows = await listOpenSessionUidsOfUser(prisma, userId, exceptSessionUid)
  const revoked = new Set<string>()
  let sessions = 0
  for (const row of rows) {
    const ended = await endSession(deps, row, opts)
    for (const grantId of ended.grantIds) revoked.add(grantId)
    if (ended.wasAlive) sessions += 1
  }

  // Grants outside any session we know of: offline access, device flow, sessions older than the
  // session index. Keep the ones the current browser's session holds.
  const kept = new Set<string>()
  if (exceptSessionUid) {
    const current = await provider.Session.findByUid(exceptSessionUid)
    if (current?.accountId === userId) for (const grantId of grantIdsOf(current)) kept.add(grantId)
  }
  const grants = await listGrantIdsOfUserOutsideSession(prisma, userId, exceptSessionUid)
  for (const grantId of grants) {
    if (kept.has(grantId) || revoked.has(grantId)) continue
    await revokeGrant(provider, grantId)
    revoked.add(grantId)
  }
  if (revoked.size > 0 || sessions > 0) {
    await deps.audit?.record(opts.ctx, {
      type: 'sessions_revoked', outcome: 'success', userId, actor: opts.actor,
      details: { reason: opts.reason, sessions, grants: revoked.size, keptCurrentSession: Boolean(exceptSessionUid) },
    })
  }
  return { sessions, grants: revoked.size }
}

/**
 * MAX_SESSIONS_PER_USER: after `newSessionUid` was created, ends the oldest other sessions (by
 * sign-in time) until the person has at most `max`.
 */
export async function enforceSessionLimit(deps: SessionDeps, userId: string, newSessionUid: string, max: number, ctx?: Context): Promise<number> {
  if (await countOpenSessionsOfUser(deps.prisma, userId) <= max) return 0
  // Only now pay for the liveness check: expired sessions do not count against the limit.
  const active = await listActiveSessions(deps, userId)
  const excess = active.length - max
  if (excess <= 0) return 0
  const oldest = active.filter((s) => s.sessionUid !== newSessionUid).slice(0, excess)
  for (const row of oldest) await endSession(deps, { ...row, userId }, { reason: 'evicted', ctx })
  return oldest.length
}

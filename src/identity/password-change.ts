// A signed-in person changes their own password (/account/password). The current password proves
// it is them and not someone at an unlocked computer; a wrong one counts towards the lockout like a
// failed sign-in, so the form cannot be used to guess it. Once changed, every other session ends
// and every grant given outside this browser's session is revoked: whoever knew the old password
// is signed out everywhere, applications' refresh tokens included.
import type { Context } from 'koa'
import type Provider from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import { findUserById, replacePasswordIfUnchanged } from '../queries/users.ts'
import type { AuditWriter } from '../audit/audit.ts'
import type { Clock } from '../security/clock.ts'
import { tooManyAttemptsMessage } from '../security/rate-limits.ts'
import { passwordGuard, type LockoutSettings } from '../security/lockout.ts'
import { hashPassword } from './passwords.ts'
import { authenticateWithPassword } from './users.ts'
import { checkNewPassword } from './password-policy.ts'
import { endAllSessionsOf } from './sessions.ts'

export interface PasswordChangeDeps {
  prisma: Db
  provider: Provider
  audit: AuditWriter
  clock: Clock
  lockout: LockoutSettings
  passwordMinLength: number
}

export type PasswordChangeResult =
  | { ok: true; sessionsEnded: number; grantsRevoked: number }
  | { ok: false; reason: 'no_password' | 'locked' | 'wrong_current_password' | 'policy'; message: string; retryAfter?: number }

export async function changePassword(
  deps: PasswordChangeDeps,
  userId: string,
  input: { current: string; next: string },
  opts: { ctx: Context; clientId: string; keepSessionUid?: string | undefined },
): Promise<PasswordChangeResult> {
  const { prisma, audit, clock, ctx } = { ...deps, ...opts }
  const refuse = async (reason: Exclude<PasswordChangeResult, { ok: true }>['reason'], message: string, retryAfter?: number): Promise<PasswordChangeResult> => {
    await audit.record(ctx, { type: 'password_change', outcome: 'failure', userId, clientId: opts.clientId, details: { reason } })
    return { ok: false, reason, message, ...(retryAfter ? { retryAfter } : {}) }
  }

  const user = await findUserById(prisma, userId)
  if (!user?.passwordHash) return refuse('no_password', 'Your account has no password: you sign in another way.')
  // The sign-in check: a wrong password counts towards the lockout, a locked account is refused.
  const proof = await authenticateWithPassword(prisma, { userId }, input.current, passwordGuard(deps, ctx, opts.clientId))
  if (!proof.ok && proof.reason === 'locked') {
    const lockedUntil = user.lockedUntil?.getTime() ?? clock.now() + deps.lockout.duration * 1000
    const retryAfter = Math.max(1, Math.ceil((lockedUntil - clock.now()) / 1000))
    return refuse('locked', tooManyAttemptsMessage(retryAfter, 'Too many wrong passwords were entered for this account.'), retryAfter)
  }
  if (!proof.ok) return refuse('wrong_current_password', 'Your current password is not right. Type it again.')
  const policy = checkNewPassword(input.next, { minLength: deps.passwordMinLength, userInputs: [user.email, user.username, user.displayName, user.givenName, user.familyName] })
  if (!policy.ok) return refuse('policy', policy.message)

  // Only if nobody changed it meanwhile: two tabs submitting at once cannot both win.
  if (!(await replacePasswordIfUnchanged(prisma, userId, user.passwordHash, await hashPassword(input.next), clock.date()))) return refuse('wrong_current_password', 'Your password was changed meanwhile. Type your current password again.')

  const ended = await endAllSessionsOf(deps, userId, { reason: 'password_changed', exceptSessionUid: opts.keepSessionUid, ctx })
  await audit.record(ctx, {
    type: 'password_change', outcome: 'success', userId, clientId: opts.clientId,
    details: { sessionsEnded: ended.sessions, grantsRevoked: ended.grants },
  })
  return { ok: true, sessionsEnded: ended.sessions, grantsRevoked: ended.grants }
}

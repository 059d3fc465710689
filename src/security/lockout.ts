// Brute-force lockout per account: LOCKOUT_THRESHOLD failed sign-ins within LOCKOUT_WINDOW seconds
// lock the account for LOCKOUT_DURATION seconds. The counters live in the User row (failedLogins,
// failedLoginsSince, lockedUntil), so every replica sees them, and are read against the Clock, so
// tests move time instead of waiting.
//
// Every write is a conditional updateMany: the condition is checked by the database on the row
// it changes, so concurrent failures cannot under-count and only one of them locks the account.
import type { Context } from 'koa'
import type { PrismaClient } from '../store/database.ts'
import type { AuditWriter } from '../audit/audit.ts'
import { systemClock, type Clock } from './clock.ts'
import { executeSql } from '../store/raw-sql.ts'
import { Prisma } from '../generated/prisma/client.ts'

/** config.lockout: counts and seconds. */
export interface LockoutSettings { threshold: number; window: number; duration: number }

/** What authenticateWithPassword needs to apply the lockout (see passwordGuard). */
export interface PasswordGuard {
  clock: Clock
  lockout: LockoutSettings
  /** Called once, by the failure that locks the account: audits it. */
  onLocked(userId: string, failures: number): Promise<void>
}

/** The guard for a request: lockouts it causes are audited with its IP, user agent and request id. */
export function passwordGuard(deps: { clock: Clock; lockout: LockoutSettings; audit: AuditWriter }, ctx: Context | undefined, clientId?: string): PasswordGuard {
  return {
    clock: deps.clock,
    lockout: deps.lockout,
    onLocked: (userId, failures) => deps.audit.record(ctx, {
      type: 'account_locked', outcome: 'failure', userId, clientId,
      details: { failures, lockedUntil: new Date(deps.clock.now() + deps.lockout.duration * 1000).toISOString() },
    }),
  }
}

export function isLocked(user: { lockedUntil: Date | null }, clock: Clock): boolean {
  return user.lockedUntil !== null && user.lockedUntil.getTime() > clock.now()
}

/**
 * Counts a failed sign-in of an existing account; locks it when this failure reaches the
 * threshold. A failure within the window adds one; outside it (or with none) starts a new window.
 * Failures while locked are not counted, so hammering a locked account does not extend its lock.
 * Returns true when this failure locked the account.
 */
export async function recordFailedSignIn(prisma: PrismaClient, userId: string, guard: PasswordGuard): Promise<boolean> {
  const { clock, lockout } = guard
  const now = clock.date()
  const windowStart = new Date(now.getTime() - lockout.window * 1000)
  const unlocked = { OR: [{ lockedUntil: null }, { lockedUntil: { lte: now } }] }

  // Within a running window: an atomic increment. Otherwise start a window; if a concurrent
  // failure started it first, the increment applies on the second try.
  let counted = false
  for (let attempt = 0; attempt < 2 && !counted; attempt++) {
    const inWindow = await prisma.user.updateMany({
      where: { id: userId, failedLoginsSince: { gt: windowStart }, AND: [unlocked] },
      data: { failedLogins: { increment: 1 } },
    })
    if (inWindow.count) counted = true
    else {
      const fresh = await prisma.user.updateMany({
        where: { id: userId, AND: [unlocked, { OR: [{ failedLoginsSince: null }, { failedLoginsSince: { lte: windowStart } }] }] },
        data: { failedLogins: 1, failedLoginsSince: now, lockedUntil: null },
      })
      if (fresh.count) counted = true
    }
  }
  if (!counted) return false // locked meanwhile, or the account is gone

  // The lock resets the count, so the account starts afresh when the lock ends; only the one
  // update that finds the count at the threshold locks it (and audits).
  const locked = await prisma.user.updateMany({
    where: { id: userId, failedLogins: { gte: lockout.threshold }, AND: [unlocked] },
    data: { lockedUntil: new Date(now.getTime() + lockout.duration * 1000), failedLogins: 0, failedLoginsSince: null },
  })
  if (!locked.count) return false
  await guard.onLocked(userId, lockout.threshold)
  return true
}

/** The fields an unlock writes: the count starts again. */
export const clearedFailures = { failedLogins: 0, failedLoginsSince: null, lockedUntil: null } as const

/**
 * The write of a successful sign-in: its time, the failure count cleared as `clearedFailures`
 * clears it, and a rehashed password when the hash was upgraded. One statement written out (every
 * sign-in runs it; see findActiveAccount in identity/users.ts for why not a Prisma update), which
 * sets updatedAt as Prisma's @updatedAt would.
 */
export async function recordSignIn(prisma: PrismaClient, userId: string, at: Date, rehashed?: string): Promise<void> {
  await executeSql(prisma, Prisma.sql`
    UPDATE "User" SET "lastLoginAt" = ${at}, "failedLogins" = 0, "failedLoginsSince" = NULL, "lockedUntil" = NULL,
      "passwordHash" = COALESCE(${rehashed ?? null}::text, "passwordHash"), "updatedAt" = ${at}
    WHERE id = ${userId}`)
}

/**
 * Ends a lock and clears the failure count now; for administrators (the admin API) and the
 * `user unlock` command. `actor`: who did it (an administrator's user id, or 'cli'). Audited as
 * `account_unlocked` whether or not a lock was running (the count is cleared either way).
 */
export async function unlockAccount(
  prisma: PrismaClient, audit: AuditWriter, userId: string, actor: string,
  opts: { ctx?: Context | undefined; clock?: Clock | undefined } = {},
): Promise<{ found: boolean; wasLocked: boolean }> {
  const user = await prisma.user.findUnique({ where: { id: userId }, select: { lockedUntil: true } })
  if (!user) return { found: false, wasLocked: false }
  await prisma.user.update({ where: { id: userId }, data: clearedFailures })
  const wasLocked = user.lockedUntil !== null && user.lockedUntil.getTime() > (opts.clock ?? systemClock).now()
  await audit.record(opts.ctx, { type: 'account_unlocked', outcome: 'success', actor, userId, details: { wasLocked, lockedUntil: wasLocked ? user.lockedUntil!.toISOString() : null } })
  return { found: true, wasLocked }
}

/**
 * What a sign-in page says for a wrong password, an unknown login and a locked account alike (the
 * lock must not reveal that the account exists).
 */
export function signInRefusedMessage(lockout: LockoutSettings): string {
  const minutes = Math.max(1, Math.ceil(lockout.duration / 60))
  return `The email, username or password is not correct, or the account is locked for a while after too many failed attempts. Check what you typed and try again, or reset your password. A locked account opens again after ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}.`
}

// Brute-force lockout (docs/adr/0150-sign-in-failures-per-address.md). Failed password sign-ins
// are counted twice, in SignInFailure rows that live in the database (every replica sees them):
//   - per account and address: LOCKOUT_THRESHOLD failures within LOCKOUT_WINDOW seconds from one
//     address lock that address out of that account for LOCKOUT_DURATION seconds. The owner,
//     elsewhere, is not locked out by a stranger hammering the account (OWASP ASVS V2.2.1);
//   - per account from anywhere: ACCOUNT_WIDE_FACTOR times as many lock the account everywhere,
//     for LOCKOUT_DURATION, doubling with each further lock up to MAX_ACCOUNT_LOCK_FACTOR times it:
//     the backstop against guessing spread over many addresses. A known account's account-wide
//     lock is also written to User.lockedUntil, which the sign-in reads, the admin API shows, and
//     unlock, password reset and a successful sign-in clear.
//   - per account and known device: a browser that signed in to the account before (its device
//     cookie, security/device-cookie.ts) counts its failures under `device:<id>` only and is not
//     held by the account-wide lock, so a stranger cannot lock the owner's own browser out.
//     LOCKOUT_THRESHOLD failures lock the device out of the account for LOCKOUT_DURATION: until
//     then it signs in as an unknown device would (per address, account-wide lock and all).
// Unknown logins are counted exactly like known accounts (same statements, same rows, same
// audit), so neither the answer nor the work behind it tells whether an account exists.
//
// The counts are single atomic statements (INSERT … ON CONFLICT DO UPDATE), and only the one
// update that finds a count at its threshold locks: concurrent failures cannot under-count, and
// each lock is audited once. Failures while locked are not counted, so hammering a lock does not
// extend it, and an address locked out of an account adds nothing to the account-wide count.
import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import type { Context } from 'koa'
import type { Db } from '../queries/db.ts'
import { clearSignInFailures, countSignInFailure, deleteSignInFailures, listLiveLocksOfAccount, listLockedSources, lockSignInFailure } from '../queries/sign-in-failures.ts'
import { clearUserLock, findUserLock, recordUserSignIn, setUserLockedUntil } from '../queries/users.ts'
import type { AuditWriter } from '../audit/audit.ts'
import { systemClock, type Clock } from './clock.ts'
import { translator, type Translator } from '../i18n/catalogs.ts'
import type { KnownDevice } from './device-cookie.ts'

/** config.lockout: counts and seconds; how many days a device cookie is honoured (security/device-cookie.ts). */
export interface LockoutSettings { threshold: number; window: number; duration: number; deviceCookieDays?: number | undefined }

/** The account-wide count locks at this many times LOCKOUT_THRESHOLD. */
export const ACCOUNT_WIDE_FACTOR = 4
/** Consecutive account-wide locks double, up to this many times LOCKOUT_DURATION. */
export const MAX_ACCOUNT_LOCK_FACTOR = 4

/** The scope of a lock: one address or one known device out of one account, or the account everywhere. */
export type LockScope = 'address' | 'device' | 'account'

/** What authenticateWithPassword needs to apply the lockout (see passwordGuard). */
export interface PasswordGuard {
  clock: Clock
  lockout: LockoutSettings
  /** The address the attempt comes from (the request's IP). */
  source: string
  /** The browser's valid device cookie (security/device-cookie.ts), if it sent one. */
  device?: KnownDevice | undefined
  /**
   * Asked once the account is looked up and before the password is checked, with whether the
   * request comes from a device known for it: the sign-in form's per-account rate limit, which
   * known devices skip. A refusal ends the check as `rate_limited`.
   */
  admit?: ((knownDevice: boolean) => Promise<{ ok: true } | { ok: false; retryAfter: number }>) | undefined
  /** Called once, by the failure that locks: audits it. `userId` is absent for an unknown login. */
  onLocked(lock: { userId?: string | undefined; scope: LockScope; failures: number; lockedUntil: Date }): Promise<void>
}

/** The guard for a request: lockouts it causes are audited with its IP, user agent and request id. */
export function passwordGuard(deps: { clock: Clock; lockout: LockoutSettings; audit: AuditWriter }, ctx: Context | undefined, clientId?: string): PasswordGuard {
  return {
    clock: deps.clock,
    lockout: deps.lockout,
    source: addressBlock(ctx?.ip),
    onLocked: ({ userId, scope, failures, lockedUntil }) => deps.audit.record(ctx, {
      type: 'account_locked', outcome: 'failure', userId, clientId,
      details: { failures, lockedUntil: lockedUntil.toISOString(), scope },
    }),
  }
}

/**
 * What a failure is counted under for its address: an IPv4 address as it is (an IPv4-mapped IPv6
 * address as IPv4), an IPv6 address by its /64, since one host commonly holds a whole /64 and
 * would otherwise get a fresh allowance, and trip the account-wide lock, from one machine.
 */
export function addressBlock(ip: string | undefined): string {
  if (!ip) return 'unknown'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped) return mapped[1]!
  if (!isIP(ip) || !ip.includes(':')) return ip
  const [head = '', tail = ''] = ip.split('%')[0]!.split('::')
  const left = head ? head.split(':') : []
  const right = ip.includes('::') ? (tail ? tail.split(':') : []) : []
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`
}

export function isLocked(user: { lockedUntil: Date | null }, clock: Clock): boolean {
  return user.lockedUntil !== null && user.lockedUntil.getTime() > clock.now()
}

/**
 * The key failures are counted under: a known account by its id (so its email and its username
 * share one count), an unknown login by a hash of its normalised form (no typed text is stored).
 */
export function failureAccount(who: { userId: string } | { login: string }): string {
  if ('userId' in who) return `u:${who.userId}`
  return `l:${createHash('sha256').update(who.login).digest('base64url').slice(0, 32)}`
}

/**
 * Which locks hold now for `account` at `guard.source` and, for a known device, at `device`
 * (`device:<id>`): one statement, known and unknown accounts alike.
 */
export async function readLocks(prisma: Db, account: string, guard: PasswordGuard, device?: string): Promise<Record<LockScope, boolean>> {
  const locked = await listLockedSources(prisma, account, [guard.source, '', device ?? ''], guard.clock.date())
  return {
    address: locked.includes(guard.source),
    device: device !== undefined && locked.includes(device),
    account: locked.includes(''),
  }
}

/**
 * Counts a failed sign-in for `account` from `guard.source` and from anywhere, or, from a known
 * device (`device`: `device:<id>`), under that device only; locks the address, the device or the
 * account when this failure brings a count to its threshold. `userId`: the known account (its
 * account-wide lock is written to User.lockedUntil too).
 */
export async function recordFailedSignIn(prisma: Db, account: string, guard: PasswordGuard, userId?: string, device?: string): Promise<void> {
  const { clock, lockout } = guard
  const now = clock.date()
  const windowStart = new Date(now.getTime() - lockout.window * 1000)
  // A window that ran out (or none: after a lock) starts again at one.
  const counted = await countSignInFailure(prisma, account, device ? [device] : [guard.source, ''], windowStart, now)
  for (const row of counted) {
    const scope: LockScope = row.source === '' ? 'account' : row.source === device ? 'device' : 'address'
    const threshold = scope === 'account' ? lockout.threshold * ACCOUNT_WIDE_FACTOR : lockout.threshold
    if (row.failures < threshold) continue
    const factor = scope === 'account' ? Math.min(2 ** row.locks, MAX_ACCOUNT_LOCK_FACTOR) : 1
    const lockedUntil = new Date(now.getTime() + lockout.duration * factor * 1000)
    // The lock resets the count, so the address starts afresh when the lock ends; only the one
    // update that finds the count at the threshold locks (and audits).
    if (!await lockSignInFailure(prisma, account, row.source, threshold, lockedUntil, scope === 'account' ? 1 : 0, now)) continue
    if (scope === 'account' && userId) await setUserLockedUntil(prisma, userId, lockedUntil, now)
    await guard.onLocked({ userId, scope, failures: threshold, lockedUntil })
  }
}

/**
 * A right password: the counts of `sources` start again (other addresses' and devices' locks
 * stay). An unknown device clears its address's and the account-wide counts (and its device
 * cookie's, if it carries one for the account); a known device only its own, so the owner
 * signing in does not give a stranger's guessing a fresh allowance.
 */
export async function clearFailedSignIns(prisma: Db, account: string, sources: string[]): Promise<void> {
  await clearSignInFailures(prisma, account, sources)
}

/**
 * The write of a successful sign-in: its time, the failure count cleared (as an unlock clears it),
 * and a rehashed password when the hash was upgraded; one hand-written statement (every sign-in
 * runs it). `keepLock`: a known device signed in past an account-wide lock, which goes on holding
 * everyone else.
 */
export async function recordSignIn(prisma: Db, userId: string, at: Date, rehashed?: string, keepLock = false): Promise<void> {
  await recordUserSignIn(prisma, userId, at, rehashed, keepLock)
}

/**
 * Ends every lock of the account (account-wide and per address) and clears the counts now; for administrators (the admin API) and the
 * `user unlock` command. `actor`: who did it (an administrator's user id, or 'cli'). Audited as
 * `account_unlocked` whether or not a lock was running (the count is cleared either way).
 */
export async function unlockAccount(
  prisma: Db, audit: AuditWriter, userId: string, actor: string,
  opts: { ctx?: Context | undefined; clock?: Clock | undefined } = {},
): Promise<{ found: boolean; wasLocked: boolean }> {
  const user = await findUserLock(prisma, userId)
  if (!user) return { found: false, wasLocked: false }
  const now = (opts.clock ?? systemClock).now()
  const account = failureAccount({ userId })
  const addressLocks = await listLiveLocksOfAccount(prisma, account, new Date(now))
  await clearUserLock(prisma, userId)
  await deleteSignInFailures(prisma, account)
  const until = [user.lockedUntil, ...addressLocks.map((l) => l.lockedUntil)].filter((d): d is Date => d !== null && d.getTime() > now)
  const wasLocked = until.length > 0
  const lockedUntil = wasLocked ? new Date(Math.max(...until.map((d) => d.getTime()))).toISOString() : null
  await audit.record(opts.ctx, { type: 'account_unlocked', outcome: 'success', actor, userId, details: { wasLocked, lockedUntil } })
  return { found: true, wasLocked }
}

/**
 * What a sign-in page says for a wrong password, an unknown login and a locked account alike (the
 * lock must not reveal that the account exists). Short, so people read it; the last sentence is
 * the lockout's hint, in every case ("at least": account-wide locks grow when they repeat), so a
 * locked person learns to wait without the page saying that this account is the one locked.
 * In the page's language (`tr`, from src/pages/page-text.ts).
 */
export function signInRefusedMessage(lockout: LockoutSettings, tr: Translator = translator('en')): string {
  return tr.t('signin.refused', { count: Math.max(1, Math.ceil(lockout.duration / 60)) })
}

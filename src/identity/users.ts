// People who sign in: creation, lookup by login name, password authentication.
import { z } from 'zod'
import type { Db } from '../queries/db.ts'
import { findUserForPasswordCheck, insertUser, setUserPasswordHash } from '../queries/users.ts'
import { hashPassword, needsRehash, verifyPassword } from './passwords.ts'
import { ensureDefaultTenant } from './tenants.ts'
import { clearFailedSignIns, failureAccount, isLocked, readLocks, recordFailedSignIn, recordSignIn, type PasswordGuard } from '../security/lockout.ts'
import { deviceSource } from '../security/device-cookie.ts'
import { userMfaFactsOf, type UserMfaFacts } from '../mfa/factors.ts'
import type { Clock } from '../security/clock.ts'

export const emailSchema = z.string().trim().toLowerCase().pipe(z.email().max(254))
export const usernameSchema = z.string().trim().toLowerCase().regex(/^[a-z0-9._-]{2,64}$/, 'letters, digits, . _ - (2 to 64)')

/** Emails and usernames are stored lower-cased and NFKC-normalised; logins are matched the same way. */
export function normalizeLogin(login: string): string {
  return login.normalize('NFKC').trim().toLowerCase()
}

export interface NewUser {
  email: string
  password?: string | undefined
  username?: string | undefined
  displayName?: string | undefined
  givenName?: string | undefined
  familyName?: string | undefined
  phone?: string | undefined
  tenantId?: string | undefined
  emailVerified?: boolean | undefined
  passwordExpired?: boolean | undefined
}

export async function createUser(prisma: Db, input: NewUser) {
  const email = emailSchema.parse(input.email.normalize('NFKC'))
  const username = input.username === undefined ? null : usernameSchema.parse(input.username.normalize('NFKC'))
  const tenantId = input.tenantId ?? (await ensureDefaultTenant(prisma)).id
  return insertUser(prisma, {
      tenantId,
      email,
      username,
      displayName: input.displayName ?? null,
      givenName: input.givenName ?? null,
      familyName: input.familyName ?? null,
      phone: input.phone ?? null,
      emailVerified: input.emailVerified ?? false,
      passwordExpired: input.passwordExpired ?? false,
      passwordHash: input.password ? await hashPassword(input.password) : null,
  })
}

/** Longest password accepted anywhere (new passwords: identity/password-policy.ts, PASSWORD_MIN_LENGTH). */
export const MAX_PASSWORD_LENGTH = 1024

export async function setPassword(prisma: Db, userId: string, password: string, opts: { expired?: boolean; clock?: Clock | undefined } = {}) {
  await setUserPasswordHash(prisma, userId, await hashPassword(password), opts.expired ?? false, opts.clock?.date() ?? new Date())
}

export type PasswordLoginResult =
  /** `knownDevice`: the browser's device cookie named the account (security/device-cookie.ts). */
  | { ok: true; userId: string; passwordExpired: boolean; email: string; emailVerified: boolean; mfa: UserMfaFacts; knownDevice: boolean }
  /** 'locked': brute-force lockout (src/security/lockout.ts); for audit rows only, pages show it like 'invalid_credentials'. */
  | { ok: false; reason: 'invalid_credentials' | 'locked' | 'disabled'; userId?: string | undefined }
  /** The guard's `admit` refused (the per-account rate limit); only callers that pass one get it. */
  | { ok: false; reason: 'rate_limited'; retryAfter: number; userId?: string | undefined }

/**
 * Checks a password: of a username-or-email (sign-in), or of a known user (`{ userId }`: linking an
 * upstream sign-in, changing the password). An unknown login, a wrong password and a locked account
 * run the same statements and one argon2 verification (src/security/lockout.ts counts unknown
 * logins like accounts), and callers show them alike, so neither the answer nor its timing tells
 * whether an account exists or is locked (docs/adr/0150). Failures count towards the lockout (per
 * address and account-wide); a locked account is refused even with the right password; a success
 * clears this address's and the account-wide counts. A browser whose device cookie names the
 * account (and is not itself locked out) is counted per device only and passes the account-wide
 * lock: whether it does is decided from the signed cookie and the row already read, so the work
 * for a stranger is the same whether the account exists or not.
 */
export async function authenticateWithPassword(prisma: Db, who: string | { userId: string }, password: string, guard: PasswordGuard): Promise<PasswordLoginResult> {
  const login = typeof who === 'string' ? normalizeLogin(who) : who
  const user = await findUserForPasswordCheck(prisma, login)
  const account = failureAccount(user ? { userId: user.id } : typeof login === 'string' ? { login } : login)
  const device = deviceSource(guard.device, user?.id, user?.passwordChangedAt)
  const locks = await readLocks(prisma, account, guard, device)
  // A device locked out of the account by its own failures is an unknown device until the lock ends.
  const knownDevice = device !== undefined && !locks.device
  if (guard.admit) {
    const admitted = await guard.admit(knownDevice)
    if (!admitted.ok) return { ok: false, reason: 'rate_limited', retryAfter: admitted.retryAfter, userId: user?.id }
  }
  const valid = await verifyPassword(user?.passwordHash, password)
  // A known account's account-wide lock is the one in its row (unlock and password reset end it there).
  if (!knownDevice && (locks.address || (user ? isLocked(user, guard.clock) : locks.account))) return { ok: false, reason: 'locked', userId: user?.id }
  if (!user || !valid) {
    await recordFailedSignIn(prisma, account, guard, user?.id, knownDevice ? device : undefined)
    return { ok: false, reason: 'invalid_credentials', userId: user?.id }
  }
  if (user.status !== 'active') return { ok: false, reason: 'disabled', userId: user.id }
  // Upgrade hashes made with older parameters while we hold the plaintext.
  const rehashed = user.passwordHash && needsRehash(user.passwordHash) ? await hashPassword(password) : undefined
  await recordSignIn(prisma, user.id, guard.clock.date(), rehashed, knownDevice)
  await clearFailedSignIns(prisma, account, knownDevice ? [device] : [guard.source, '', ...(device ? [device] : [])])
  return { ok: true, userId: user.id, passwordExpired: user.passwordExpired, email: user.email, emailVerified: user.emailVerified, mfa: userMfaFactsOf(user), knownDevice }
}

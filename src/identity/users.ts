// People who sign in: creation, lookup by login name, password authentication.
import { z } from 'zod'
import type { PrismaClient } from '../store/database.ts'
import { hashPassword, needsRehash, verifyPassword } from './passwords.ts'
import { ensureDefaultTenant } from './tenants.ts'
import { clearFailedSignIns, failureAccount, isLocked, readLocks, recordFailedSignIn, recordSignIn, type PasswordGuard } from '../security/lockout.ts'
import { deviceSource } from '../security/device-cookie.ts'
import { userMfaFactsOf, type MfaFactsSource, type UserMfaFacts } from '../mfa/factors.ts'
import { Prisma } from '../generated/prisma/client.ts'
import { queryRows } from '../store/raw-sql.ts'

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

export async function createUser(prisma: PrismaClient, input: NewUser) {
  const email = emailSchema.parse(input.email.normalize('NFKC'))
  const username = input.username === undefined ? null : usernameSchema.parse(input.username.normalize('NFKC'))
  const tenantId = input.tenantId ?? (await ensureDefaultTenant(prisma)).id
  return prisma.user.create({
    data: {
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
    },
  })
}

/** Longest password accepted anywhere (new passwords: identity/password-policy.ts, PASSWORD_MIN_LENGTH). */
export const MAX_PASSWORD_LENGTH = 1024

export async function setPassword(prisma: PrismaClient, userId: string, password: string, opts: { expired?: boolean } = {}) {
  await prisma.user.update({ where: { id: userId }, data: { passwordHash: await hashPassword(password), passwordExpired: opts.expired ?? false, passwordChangedAt: new Date() } })
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
export async function authenticateWithPassword(prisma: PrismaClient, who: string | { userId: string }, password: string, guard: PasswordGuard): Promise<PasswordLoginResult> {
  const login = typeof who === 'string' ? normalizeLogin(who) : who
  const user = await findForPasswordCheck(prisma, login)
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
  await recordSignIn(prisma, user.id, new Date(), rehashed, knownDevice)
  await clearFailedSignIns(prisma, account, knownDevice ? [device] : [guard.source, '', ...(device ? [device] : [])])
  return { ok: true, userId: user.id, passwordExpired: user.passwordExpired, email: user.email, emailVerified: user.emailVerified, mfa: userMfaFactsOf(user), knownDevice }
}

// The hot reads below are SQL written out rather than Prisma queries: they run on every sign-in,
// every token response with an ID token and every refresh, and Prisma 6 compiles each query anew
// in its wasm query compiler (no plan cache). Measured on PostgreSQL (docs/performance.md): a
// read with `include` cost ~0.8 ms of CPU per call, the same read as one statement through
// Prisma's $queryRaw 0.17–0.3 ms, and on the pool itself, as they all run now
// (src/store/raw-sql.ts), ~0.07 ms. The few other statements written out for the same reason point here. Their table
// and column names are held to prisma/schema.prisma by test/unit/written-out-sql.test.ts; the
// sign-in, claims (oidc-flows "releases each profile claim as stored"), lockout and MFA policy
// suites read every field they return.

/** Roles (with names, for the claims) and verified factors in MfaFactsSource's shape, for userMfaFactsOf. */
const ROLES_AND_FACTOR_COUNT = Prisma.sql`
  COALESCE((SELECT json_agg(json_build_object('role', json_build_object('name', r.name, 'mfaRequired', r."mfaRequired")))
    FROM "UserRole" ur JOIN "Role" r ON r.id = ur."roleId" WHERE ur."userId" = u.id), '[]'::json) AS roles,
  json_build_object('mfaFactors', (SELECT count(*) FROM "MfaFactor" f WHERE f."userId" = u.id AND f.verified)) AS "_count"`

interface RolesAndFactorCount extends MfaFactsSource {
  roles: Array<{ role: { name: string; mfaRequired: boolean } }>
}

/** What the password check reads: the hash, the lockout and status fields, the MFA policy's facts. */
interface PasswordCheckRow extends RolesAndFactorCount {
  id: string
  email: string
  emailVerified: boolean
  status: string
  passwordHash: string | null
  passwordExpired: boolean
  passwordChangedAt: Date | null
  lockedUntil: Date | null
}

/** By a normalised login (an email if it has an @, else a username) or by id. */
async function findForPasswordCheck(prisma: PrismaClient, who: string | { userId: string }): Promise<PasswordCheckRow | null> {
  const where = typeof who !== 'string' ? Prisma.sql`u.id = ${who.userId}`
    : who.includes('@') ? Prisma.sql`u.email = ${who}` : Prisma.sql`u.username = ${who}`
  const rows = await queryRows<PasswordCheckRow>(prisma, Prisma.sql`
    SELECT u.id, u.email, u."emailVerified", u.status::text AS status, u."passwordHash", u."passwordExpired", u."passwordChangedAt", u."lockedUntil",
      ${ROLES_AND_FACTOR_COUNT}
    FROM "User" u WHERE ${where}`)
  return rows[0] ?? null
}

/** What ID tokens, userinfo and the MFA policy read of an active user (findActiveAccount). */
export interface ActiveAccountRow extends RolesAndFactorCount {
  id: string
  email: string
  emailVerified: boolean
  username: string | null
  displayName: string | null
  givenName: string | null
  familyName: string | null
  phone: string | null
  phoneVerified: boolean
  updatedAt: Date
  tenant: { slug: string }
}

/**
 * The user with tenant, role names and the count of verified MFA factors, as the token and userinfo
 * claims need them (with the roles' flags, the MFA policy's user facts: the provider's prompt check
 * reads them from the account it loaded, not again); null if gone or disabled.
 */
export async function findActiveAccount(prisma: PrismaClient, id: string): Promise<ActiveAccountRow | null> {
  const rows = await queryRows<ActiveAccountRow>(prisma, Prisma.sql`
    SELECT u.id, u.email, u."emailVerified", u.username, u."displayName", u."givenName", u."familyName",
      u.phone, u."phoneVerified", u."updatedAt", json_build_object('slug', t.slug) AS tenant,
      ${ROLES_AND_FACTOR_COUNT}
    FROM "User" u JOIN "Tenant" t ON t.id = u."tenantId"
    WHERE u.id = ${id} AND u.status = 'active'`)
  return rows[0] ?? null
}

/** A user's email, for the consent page's "signed in as" (every consent shows it; written out). */
export async function emailOf(prisma: PrismaClient, id: string): Promise<string | undefined> {
  const [row] = await queryRows<{ email: string }>(prisma, Prisma.sql`SELECT email FROM "User" WHERE id = ${id}`)
  return row?.email
}

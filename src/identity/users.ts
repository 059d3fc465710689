// People who sign in: creation, lookup by login name, password authentication.
import { z } from 'zod'
import type { PrismaClient } from '../store/database.ts'
import { hashPassword, needsRehash, verifyPassword } from './passwords.ts'
import { ensureDefaultTenant } from './tenants.ts'
import { clearedFailures, isLocked, recordFailedSignIn, type PasswordGuard } from '../security/lockout.ts'
import { MFA_FACTS_INCLUDE, userMfaFactsOf, type UserMfaFacts } from '../mfa/factors.ts'

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
  | { ok: true; userId: string; passwordExpired: boolean; email: string; emailVerified: boolean; mfa: UserMfaFacts }
  /** 'locked': brute-force lockout (src/security/lockout.ts); for audit rows only, pages show it like 'invalid_credentials'. */
  | { ok: false; reason: 'invalid_credentials' | 'locked' | 'disabled'; userId?: string | undefined }

/**
 * Checks a password: of a username-or-email (sign-in), or of a known user (`{ userId }`: linking an
 * upstream sign-in, changing the password). An unknown login, a wrong password and a locked account
 * return after the same work (one argon2 verification), and callers show them alike, so neither
 * the answer nor its timing tells whether an account exists or is locked. Failures count towards
 * the lockout; a locked account is refused even with the right password; a success clears the count.
 */
export async function authenticateWithPassword(prisma: PrismaClient, who: string | { userId: string }, password: string, guard: PasswordGuard): Promise<PasswordLoginResult> {
  let user
  if (typeof who === 'string') {
    const name = normalizeLogin(who)
    user = name.includes('@')
      ? await prisma.user.findUnique({ where: { email: name }, include: MFA_FACTS_INCLUDE })
      : await prisma.user.findUnique({ where: { username: name }, include: MFA_FACTS_INCLUDE })
  } else {
    user = await prisma.user.findUnique({ where: { id: who.userId }, include: MFA_FACTS_INCLUDE })
  }
  const valid = await verifyPassword(user?.passwordHash, password)
  if (!user) return { ok: false, reason: 'invalid_credentials' }
  if (isLocked(user, guard.clock)) return { ok: false, reason: 'locked', userId: user.id }
  if (!valid) {
    await recordFailedSignIn(prisma, user.id, guard)
    return { ok: false, reason: 'invalid_credentials', userId: user.id }
  }
  if (user.status !== 'active') return { ok: false, reason: 'disabled', userId: user.id }
  // Upgrade hashes made with older parameters while we hold the plaintext.
  const rehash = user.passwordHash && needsRehash(user.passwordHash) ? { passwordHash: await hashPassword(password) } : {}
  await prisma.user.update({ where: { id: user.id }, data: { lastLoginAt: new Date(), ...clearedFailures, ...rehash } })
  return { ok: true, userId: user.id, passwordExpired: user.passwordExpired, email: user.email, emailVerified: user.emailVerified, mfa: userMfaFactsOf(user) }
}

/** What ID tokens, userinfo and the MFA policy read of an active user (findActiveAccount). */
export interface ActiveAccountRow {
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
  // The shapes MFA_FACTS_INCLUDE gives, so that userMfaFactsOf derives the MFA facts from either read.
  roles: Array<{ role: { name: string; mfaRequired: boolean } }>
  _count: { mfaFactors: number }
}

/**
 * The user with tenant, role names and the count of verified MFA factors, as the token and userinfo
 * claims need them (with the roles' flags, the MFA policy's user facts: the provider's prompt check
 * reads them from the account it loaded, not again); null if gone or disabled.
 *
 * One SQL statement written out rather than a Prisma `include`: this read runs on every token
 * response with an ID token, every refresh and every resume of a sign-in, and Prisma 6 compiles
 * each query anew in its wasm query compiler (no plan cache). Measured on PostgreSQL, one walker:
 * the `include` read cost ~0.8 ms of CPU per call, this ~0.17 ms. Column names follow
 * prisma/schema.prisma; test/integration/claims.test.ts and the userinfo suites read every field.
 */
export async function findActiveAccount(prisma: PrismaClient, id: string): Promise<ActiveAccountRow | null> {
  const rows = await prisma.$queryRaw<ActiveAccountRow[]>`
    SELECT u.id, u.email, u."emailVerified", u.username, u."displayName", u."givenName", u."familyName",
      u.phone, u."phoneVerified", u."updatedAt",
      json_build_object('slug', t.slug) AS tenant,
      COALESCE((SELECT json_agg(json_build_object('role', json_build_object('name', r.name, 'mfaRequired', r."mfaRequired")))
        FROM "UserRole" ur JOIN "Role" r ON r.id = ur."roleId" WHERE ur."userId" = u.id), '[]'::json) AS roles,
      json_build_object('mfaFactors', (SELECT count(*) FROM "MfaFactor" f WHERE f."userId" = u.id AND f.verified)) AS "_count"
    FROM "User" u JOIN "Tenant" t ON t.id = u."tenantId"
    WHERE u.id = ${id} AND u.status = 'active'`
  return rows[0] ?? null
}

// People who sign in: creation, lookup by login name, password authentication.
import { z } from 'zod'
import type { PrismaClient } from '../store/database.ts'
import { hashPassword, needsRehash, verifyPassword } from './passwords.ts'
import { ensureDefaultTenant } from './tenants.ts'

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

/** The minimum for a new password (NIST SP 800-63B: 8 at least; we ask for 12). */
export const MIN_PASSWORD_LENGTH = 12
export const MAX_PASSWORD_LENGTH = 1024

export async function setPassword(prisma: PrismaClient, userId: string, password: string, opts: { expired?: boolean } = {}) {
  await prisma.user.update({ where: { id: userId }, data: { passwordHash: await hashPassword(password), passwordExpired: opts.expired ?? false } })
}

export type PasswordLoginResult =
  | { ok: true; userId: string; passwordExpired: boolean }
  | { ok: false; reason: 'invalid_credentials' | 'disabled'; userId?: string | undefined }

/**
 * Checks a username-or-email and password. An unknown login and a wrong password return the same
 * result after the same work (one argon2 verification), so neither the answer nor its timing
 * tells whether an account exists.
 */
export async function authenticateWithPassword(prisma: PrismaClient, login: string, password: string): Promise<PasswordLoginResult> {
  const name = normalizeLogin(login)
  const user = name.includes('@')
    ? await prisma.user.findUnique({ where: { email: name } })
    : await prisma.user.findUnique({ where: { username: name } })
  const valid = await verifyPassword(user?.passwordHash, password)
  if (!user || !valid) return { ok: false, reason: 'invalid_credentials', userId: user?.id }
  if (user.status !== 'active') return { ok: false, reason: 'disabled', userId: user.id }
  // Upgrade hashes made with older parameters while we hold the plaintext.
  const rehash = user.passwordHash && needsRehash(user.passwordHash) ? { passwordHash: await hashPassword(password) } : {}
  await prisma.user.update({ where: { id: user.id }, data: { lastLoginAt: new Date(), ...rehash } })
  return { ok: true, userId: user.id, passwordExpired: user.passwordExpired }
}

/** The user with roles and tenant, as the token and userinfo claims need them; null if gone or disabled. */
export async function findActiveUserWithRoles(prisma: PrismaClient, id: string) {
  const user = await prisma.user.findUnique({
    where: { id },
    include: { tenant: true, roles: { include: { role: true } } },
  })
  if (!user || user.status !== 'active') return null
  return user
}

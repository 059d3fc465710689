// One-time codes sent by email, SMS or WhatsApp: 6 digits from a CSPRNG, stored as a keyed
// digest, valid for MFA_CODE_TTL, at most MFA_CODE_MAX_ATTEMPTS guesses, resends throttled, and a
// new code replaces the old. The code is sent before anything is stored: when sending fails,
// nothing is left behind.
import { randomInt } from 'node:crypto'
import type { Db } from '../queries/db.ts'
import { consumeMfaChallenge, countMfaChallengeAttempt, findLatestMfaChallenge, findLatestOpenMfaChallenge, mfaChallengeAttempts, replaceMfaChallenge } from '../queries/mfa-challenges.ts'
import type { SecretBox } from '../security/encryption.ts'
import { systemClock, type Clock } from '../security/clock.ts'

export interface CodeSettings { codeTtl: number; maxAttempts: number; resendSeconds: number }

/** email | sms | whatsapp for sign-in; enrol-… while confirming a new destination. */
export type CodePurpose = 'email' | 'sms' | 'whatsapp' | 'enrol-email' | 'enrol-sms' | 'enrol-whatsapp'

const digestPurpose = (purpose: string, userId: string) => `otp:${purpose}:${userId}`

/** "10 minutes", "45 seconds": how long a code lives, in the messages that carry it. */
export function describeDuration(seconds: number): string {
  if (seconds % 60 === 0) return `${seconds / 60} ${seconds === 60 ? 'minute' : 'minutes'}`
  return `${seconds} seconds`
}

export type IssueResult =
  | { ok: true; expiresAt: Date }
  | { ok: false; reason: 'throttled'; retryAfter: number }
  /** `error` says why (never contains the code): for the audit log and operators. */
  | { ok: false; reason: 'send_failed'; error: string }

export async function issueCode(
  prisma: Db, box: SecretBox, settings: CodeSettings,
  input: { userId: string; purpose: CodePurpose; destination: string; factorId?: string | undefined; send: (code: string) => Promise<void> },
  clock: Clock = systemClock,
): Promise<IssueResult> {
  const last = await findLatestMfaChallenge(prisma, input.userId, input.purpose)
  if (last && settings.resendSeconds > 0) {
    const wait = Math.ceil((last.createdAt.getTime() + settings.resendSeconds * 1000 - clock.now()) / 1000)
    if (wait > 0) return { ok: false, reason: 'throttled', retryAfter: wait }
  }
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0')
  try {
    await input.send(code)
  } catch (err) {
    return { ok: false, reason: 'send_failed', error: err instanceof Error ? err.message : String(err) }
  }
  const expiresAt = new Date(clock.now() + settings.codeTtl * 1000)
  // A new code makes every earlier one for this purpose useless.
  await replaceMfaChallenge(prisma, {
    userId: input.userId, purpose: input.purpose, factorId: input.factorId ?? null, destination: input.destination,
    codeHash: box.digest(digestPurpose(input.purpose, input.userId), code), maxAttempts: settings.maxAttempts, expiresAt,
  })
  return { ok: true, expiresAt }
}

export type CodeCheck =
  | { ok: true; factorId: string | null; destination: string | null }
  | { ok: false; reason: 'invalid'; attemptsLeft: number }
  | { ok: false; reason: 'exhausted' | 'expired' | 'missing' }

export async function verifyCode(
  prisma: Db, box: SecretBox, input: { userId: string; purpose: CodePurpose; code: string }, clock: Clock = systemClock,
): Promise<CodeCheck> {
  const challenge = await findLatestOpenMfaChallenge(prisma, input.userId, input.purpose)
  if (!challenge) return { ok: false, reason: 'missing' }
  if (challenge.expiresAt.getTime() <= clock.now()) return { ok: false, reason: 'expired' }
  // Count the guess before judging it, atomically: concurrent guesses cannot exceed the limit.
  if (!await countMfaChallengeAttempt(prisma, challenge.id, challenge.maxAttempts)) return { ok: false, reason: 'exhausted' }
  const attempts = (await mfaChallengeAttempts(prisma, challenge.id)) ?? challenge.maxAttempts
  const code = input.code.replace(/\s/g, '')
  if (!/^\d{6}$/.test(code) || !box.matchesDigest(challenge.codeHash, digestPurpose(input.purpose, input.userId), code)) {
    const attemptsLeft = challenge.maxAttempts - attempts
    return attemptsLeft > 0 ? { ok: false, reason: 'invalid', attemptsLeft } : { ok: false, reason: 'exhausted' }
  }
  if (!await consumeMfaChallenge(prisma, challenge.id, clock.date())) return { ok: false, reason: 'missing' }
  return { ok: true, factorId: challenge.factorId, destination: challenge.destination }
}

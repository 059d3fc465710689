// TOTP (RFC 6238, SHA-1, 6 digits, 30 s) with otplib. The seed is sealed at rest; a code is
// accepted within ±1 time step and only once: the accepted step is stored with a conditional
// update, so a replay in the same window (or a race of two requests) is refused.
import { generateSecret, generateURI, verify } from 'otplib'
import QRCode from 'qrcode'
import type { Db } from '../queries/db.ts'
import type { SecretBox } from '../security/encryption.ts'
import { advanceTotpStep, type MfaFactor } from '../queries/mfa-factors.ts'
import { addVerifiedFactor } from './factors.ts'

const PERIOD = 30
const TOLERANCE = PERIOD // ±1 step

export interface TotpEnrolment {
  secret: string
  uri: string
  /** The QR code as an SVG document (rendered server-side; no script needed). */
  qrSvg: string
}

export function newTotpSecret(): string {
  return generateSecret()
}

/** The provisioning URI and QR code for `secret` (a new one when not given). */
export async function startTotpEnrolment(issuerName: string, accountName: string, secret = generateSecret()): Promise<TotpEnrolment> {
  const uri = generateURI({ issuer: issuerName, label: accountName, secret })
  const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 })
  return { secret, uri, qrSvg }
}

export type TotpCheck = { ok: true; step: number } | { ok: false; reason: 'invalid' | 'replayed' }

async function check(secret: string, code: string, afterStep: number | null, epoch?: number): Promise<TotpCheck> {
  if (!/^\d{6}$/.test(code)) return { ok: false, reason: 'invalid' }
  const result = await verify({ secret, token: code, epochTolerance: TOLERANCE, ...(epoch === undefined ? {} : { epoch }) }).catch(() => ({ valid: false as const }))
  if (!result.valid) return { ok: false, reason: 'invalid' }
  const now = epoch ?? Math.floor(Date.now() / 1000)
  const step = Math.floor(now / PERIOD) + result.delta
  if (afterStep !== null && step <= afterStep) return { ok: false, reason: 'replayed' }
  return { ok: true, step }
}

/** Whether `code` is right for a secret being set up (nothing is stored). */
export async function checkTotpCode(secret: string, code: string): Promise<boolean> {
  return (await check(secret, code, null)).ok
}

/**
 * Confirms a new TOTP factor with its first code; only then does it count. `asFirst`: see
 * addVerifiedFactor (stored only while the account still has no second factor).
 */
export async function confirmTotpEnrolment(
  prisma: Db, box: SecretBox, userId: string, secret: string, code: string,
  opts: { label?: string | undefined; asFirst: boolean },
): Promise<{ ok: true; factor: MfaFactor } | { ok: false; reason: 'invalid' | 'not_first' }> {
  const result = await check(secret, code, null)
  if (!result.ok) return { ok: false, reason: 'invalid' }
  const factor = await addVerifiedFactor(prisma, {
    userId, kind: 'totp', label: opts.label ?? 'Authenticator app', secret: box.seal(secret, `totp:${userId}`), lastUsedStep: result.step, lastUsedAt: new Date(),
  }, { asFirst: opts.asFirst })
  return factor ? { ok: true, factor } : { ok: false, reason: 'not_first' }
}

/** Verifies a code for an enrolled factor and records its time step (once only). */
export async function verifyTotp(prisma: Db, box: SecretBox, factor: { id: string; userId: string; secret: string | null; lastUsedStep: number | null }, code: string): Promise<TotpCheck> {
  if (!factor.secret) return { ok: false, reason: 'invalid' }
  const result = await check(box.open(factor.secret, `totp:${factor.userId}`), code, factor.lastUsedStep)
  if (!result.ok) return result
  // Whoever moves lastUsedStep forward first wins; a concurrent replay updates nothing.
  return await advanceTotpStep(prisma, factor.id, result.step, new Date()) ? result : { ok: false, reason: 'replayed' }
}

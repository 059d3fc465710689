// Backup codes: 10 single-use codes, shown once, stored as keyed digests. Regenerating replaces
// the whole set. A code is spent with a conditional update, so it works exactly once.
import { randomInt } from 'node:crypto'
import type { Db } from '../queries/db.ts'
import { countUnusedBackupCodes, findBackupCode, replaceBackupCodes, spendBackupCode } from '../queries/backup-codes.ts'
import type { SecretBox } from '../security/encryption.ts'
import { systemClock, type Clock } from '../security/clock.ts'

export const BACKUP_CODE_COUNT = 10
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789' // no 0/o, 1/l/i
const PURPOSE = 'backup-code'

function newCode(): string {
  const chars = Array.from({ length: 10 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')
  return `${chars.slice(0, 5)}-${chars.slice(5)}`
}

/** People type codes with spaces, dashes and capitals; compare the letters only. */
export function normalizeBackupCode(input: string): string {
  const bare = input.toLowerCase().replace(/[^a-z0-9]/g, '')
  return bare.length === 10 ? `${bare.slice(0, 5)}-${bare.slice(5)}` : bare
}

/** Creates a new set (voiding the old one) and returns the codes: the only time they are seen. */
export async function regenerateBackupCodes(prisma: Db, box: SecretBox, userId: string): Promise<string[]> {
  const codes = Array.from({ length: BACKUP_CODE_COUNT }, newCode)
  await replaceBackupCodes(prisma, userId, codes.map((code) => box.digest(PURPOSE, code)))
  return codes
}

export type BackupCodeCheck = { ok: true; remaining: number } | { ok: false; reason: 'invalid' | 'used' }

export async function useBackupCode(prisma: Db, box: SecretBox, userId: string, input: string, clock: Clock = systemClock): Promise<BackupCodeCheck> {
  const candidates = box.digestCandidates(PURPOSE, normalizeBackupCode(input))
  const row = await findBackupCode(prisma, userId, candidates)
  if (!row) return { ok: false, reason: 'invalid' }
  if (!await spendBackupCode(prisma, row.id, clock.date())) return { ok: false, reason: 'used' }
  return { ok: true, remaining: await countUnusedBackupCodes(prisma, userId) }
}

export async function remainingBackupCodes(prisma: Db, userId: string): Promise<number> {
  return countUnusedBackupCodes(prisma, userId)
}

// Backup codes: 10 single-use codes, shown once, stored as keyed digests. Regenerating replaces
// the whole set. A code is spent with a conditional update, so it works exactly once.
import { randomInt } from 'node:crypto'
import type { PrismaClient } from '../store/database.ts'
import type { SecretBox } from '../security/encryption.ts'

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
export async function regenerateBackupCodes(prisma: PrismaClient, box: SecretBox, userId: string): Promise<string[]> {
  const codes = Array.from({ length: BACKUP_CODE_COUNT }, newCode)
  await prisma.$transaction([
    prisma.backupCode.deleteMany({ where: { userId } }),
    prisma.backupCode.createMany({ data: codes.map((code) => ({ userId, hash: box.digest(PURPOSE, code) })) }),
  ])
  return codes
}

export type BackupCodeCheck = { ok: true; remaining: number } | { ok: false; reason: 'invalid' | 'used' }

export async function useBackupCode(prisma: PrismaClient, box: SecretBox, userId: string, input: string): Promise<BackupCodeCheck> {
  const candidates = box.digestCandidates(PURPOSE, normalizeBackupCode(input))
  const row = await prisma.backupCode.findFirst({ where: { userId, hash: { in: candidates } } })
  if (!row) return { ok: false, reason: 'invalid' }
  const { count } = await prisma.backupCode.updateMany({ where: { id: row.id, usedAt: null }, data: { usedAt: new Date() } })
  if (count !== 1) return { ok: false, reason: 'used' }
  const remaining = await prisma.backupCode.count({ where: { userId, usedAt: null } })
  return { ok: true, remaining }
}

export async function remainingBackupCodes(prisma: PrismaClient, userId: string): Promise<number> {
  return prisma.backupCode.count({ where: { userId, usedAt: null } })
}

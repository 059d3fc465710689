// Second factors for test users, written with the same keys the server under test uses
// (createIam passes TEST_ENCRYPTION_KEYS as ENCRYPTION_KEYS).
import { generate } from 'otplib'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'
import { createSecretBox, loadEncryptionKeys } from '../../src/security/encryption.ts'
import { newTotpSecret } from '../../src/mfa/totp.ts'
import { regenerateBackupCodes } from '../../src/mfa/backup-codes.ts'

export const TEST_ENCRYPTION_KEYS = `test1:${Buffer.alloc(32, 7).toString('base64')}`

export async function testSecretBox() {
  return createSecretBox(await loadEncryptionKeys({ encryptionKeys: TEST_ENCRYPTION_KEYS, keysDir: '/nonexistent' }))
}

export async function addTotpFactor(prisma: PrismaClient, userId: string, secret = newTotpSecret()): Promise<string> {
  const box = await testSecretBox()
  await prisma.mfaFactor.create({ data: { userId, kind: 'totp', label: 'Authenticator app', secret: box.seal(secret, `totp:${userId}`), verified: true } })
  return secret
}

export async function addCodeFactor(prisma: PrismaClient, userId: string, kind: 'email' | 'sms' | 'whatsapp', destination: string): Promise<string> {
  const labels = { email: 'Email', sms: 'Phone (SMS)', whatsapp: 'WhatsApp' }
  const factor = await prisma.mfaFactor.create({ data: { userId, kind, label: labels[kind], destination, verified: true } })
  return factor.id
}

export async function addBackupCodes(prisma: PrismaClient, userId: string): Promise<string[]> {
  return regenerateBackupCodes(prisma, await testSecretBox(), userId)
}

/** The TOTP code for `secret` now, or `stepsAgo` time steps ago. */
export function totpCode(secret: string, stepsAgo = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) - stepsAgo * 30 })
}

// BackupCode rows: a person's set of single-use codes, stored as digests.
import type { Db, DbOrTx } from './db.ts'

/** Replaces the person's whole set with `hashes`, in one transaction. */
export async function replaceBackupCodes(db: Db, userId: string, hashes: string[]): Promise<void> {
  await db.$transaction([
    db.backupCode.deleteMany({ where: { userId } }),
    db.backupCode.createMany({ data: hashes.map((hash) => ({ userId, hash })) }),
  ])
}

/** The person's code whose digest is one of `hashes` (used or not). */
export async function findBackupCode(db: DbOrTx, userId: string, hashes: string[]) {
  return db.backupCode.findFirst({ where: { userId, hash: { in: hashes } } })
}

/** Marks the code used at `at` unless it already is. True for the one caller that spent it. */
export async function spendBackupCode(db: DbOrTx, id: string, at: Date): Promise<boolean> {
  const { count } = await db.backupCode.updateMany({ where: { id, usedAt: null }, data: { usedAt: at } })
  return count === 1
}

export async function countUnusedBackupCodes(db: DbOrTx, userId: string): Promise<number> {
  return db.backupCode.count({ where: { userId, usedAt: null } })
}

/** Deletes the person's whole set; how many codes there were. */
export async function deleteBackupCodes(db: DbOrTx, userId: string): Promise<number> {
  return (await db.backupCode.deleteMany({ where: { userId } })).count
}

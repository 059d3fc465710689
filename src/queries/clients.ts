// Client rows: the OIDC client registry the provider reads at runtime.
import type { Prisma } from '../generated/prisma/client.ts'
import type { DbOrTx } from './db.ts'

export type { Client } from '../generated/prisma/client.ts'

/**
 * Registers a built-in first-party client, or refreshes its metadata (when ISSUER changed); its
 * name is set only when it is created.
 */
export async function upsertFirstPartyClient(db: DbOrTx, input: { id: string; name: string; metadata: object }): Promise<void> {
  const { metadata } = input
  await db.client.upsert({
    where: { id: input.id },
    update: { metadata, firstParty: true },
    create: { id: input.id, name: input.name, metadata, firstParty: true },
  })
}

export interface NewClientRow {
  id: string
  name: string
  metadata: object
  secretHash: string | null
  firstParty: boolean
  mfaPolicy: string
  mfaMaxAge: number | null
  tenantId: string | null
}

export async function insertClient(db: DbOrTx, row: NewClientRow): Promise<void> {
  await db.client.create({ data: row })
}

/** A change of settings (and, when the client starts or stops using a secret, of its hashes). */
export async function updateClientSettings(db: DbOrTx, id: string, data: {
  name: string; metadata: object; firstParty: boolean; mfaPolicy: string; mfaMaxAge: number | null
  secretHash?: string | null; previousSecretHash?: null; previousSecretExpiresAt?: null
}): Promise<void> {
  await db.client.update({ where: { id }, data })
}

/** A rotation: the new secret's hash, and the replaced one while it keeps working (or null). */
export async function replaceClientSecret(db: DbOrTx, id: string, data: { secretHash: string; previousSecretHash: string | null; previousSecretExpiresAt: Date | null }): Promise<void> {
  await db.client.update({ where: { id }, data })
}

/** The client's secret hashes as stored now: the current one, and the one a rotation replaced with its expiry. */
export function findClientSecretHashes(db: DbOrTx, id: string) {
  return db.client.findUnique({ where: { id }, select: { secretHash: true, previousSecretHash: true, previousSecretExpiresAt: true } })
}

export function findClientById(db: DbOrTx, id: string) {
  return db.client.findUnique({ where: { id } })
}

/** What decides whether the client's tokens still count: enabled, when registered, when last disabled. */
export function findClientTokenWindow(db: DbOrTx, id: string) {
  return db.client.findUnique({ where: { id }, select: { disabled: true, disabledAt: true, createdAt: true } })
}

/** Records `at` as the moment before which the client's tokens no longer count (no error when it is gone). */
export async function markClientTokensEnded(db: DbOrTx, id: string, at: Date): Promise<void> {
  await db.client.updateMany({ where: { id }, data: { disabledAt: at } })
}

/** The tenant the client belongs to (its id and own registration mode), or null (no such client, or no tenant). */
export async function findClientTenantRegistration(db: DbOrTx, id: string) {
  return (await db.client.findUnique({ where: { id }, select: { tenant: { select: { id: true, registrationMode: true } } } }))?.tenant ?? null
}

export async function clientIdTaken(db: DbOrTx, id: string): Promise<boolean> {
  return (await db.client.count({ where: { id } })) > 0
}

/** The stored metadata, or undefined when there is no such client. */
export async function findClientMetadataColumn(db: DbOrTx, id: string): Promise<Prisma.JsonValue | undefined> {
  return (await db.client.findUnique({ where: { id }, select: { metadata: true } }))?.metadata
}

export async function setClientMetadata(db: DbOrTx, id: string, metadata: object): Promise<void> {
  await db.client.update({ where: { id }, data: { metadata } })
}

export async function deleteClient(db: DbOrTx, id: string): Promise<void> {
  await db.client.delete({ where: { id } })
}

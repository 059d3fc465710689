// Keeps UserGrant (the grants a person gave, by user) in step with the provider's Grant store, so
// "sign out everywhere" and a password reset can find and revoke every grant of a person; the
// artifact stores are keyed by id and cannot be searched by account.
//
// Order matters when the two stores differ (Grant in Redis, UserGrant in the database): the index
// row is written before the grant, so a grant can never exist unindexed (a failed index write
// fails the upsert and the provider issues nothing); it is deleted after the grant, so at worst a
// row outlives its grant, and revoking a grant that is gone does nothing.
import type { Adapter, AdapterPayload } from 'oidc-provider'
import type { PrismaClient } from '../../store/database.ts'
import { executeSql } from '../../store/raw-sql.ts'
import { Prisma } from '../../generated/prisma/client.ts'

export function withGrantIndex(prisma: PrismaClient, grants: Adapter): Adapter {
  return {
    find: (id) => grants.find(id),
    findByUid: (uid) => grants.findByUid(uid),
    findByUserCode: (userCode) => grants.findByUserCode(userCode),
    consume: (id) => grants.consume(id),
    revokeByGrantId: (grantId) => grants.revokeByGrantId(grantId),
    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const userId = typeof payload.accountId === 'string' ? payload.accountId : undefined
      const clientId = typeof payload.clientId === 'string' ? payload.clientId : undefined
      if (userId && clientId) {
        const expiresAt = typeof expiresIn === 'number' ? new Date(Date.now() + expiresIn * 1000) : null
        // One statement written out (every consent runs it; see findActiveAccount in
        // identity/users.ts for why). A grant for an account that is not a user row (deleted
        // meanwhile) has nothing to index: the SELECT finds no user and nothing is written, and
        // the provider must still work. Times are this process's, in UTC, as Prisma writes them
        // (the column's SQL default would be the database session's local time).
        await executeSql(prisma, Prisma.sql`
          INSERT INTO "UserGrant" ("grantId", "userId", "clientId", "expiresAt", "createdAt")
          SELECT ${id}, u.id, ${clientId}, ${expiresAt}::timestamp, ${new Date()} FROM "User" u WHERE u.id = ${userId}
          ON CONFLICT ("grantId") DO UPDATE SET "expiresAt" = EXCLUDED."expiresAt"`)
      }
      await grants.upsert(id, payload, expiresIn)
    },
    async destroy(id: string): Promise<void> {
      await grants.destroy(id)
      // Written out too: every session-limit eviction revokes the grants given in the session.
      await executeSql(prisma, Prisma.sql`DELETE FROM "UserGrant" WHERE "grantId" = ${id}`)
    },
  }
}

// Keeps UserGrant (the grants a person gave, by user) in step with the provider's Grant store, so
// "sign out everywhere" and a password reset can find and revoke every grant of a person; the
// artifact stores are keyed by id and cannot be searched by account.
//
// Order matters when the two stores differ (Grant in Redis, UserGrant in the database): the index
// row is written before the grant, so a grant can never exist unindexed (a failed index write
// fails the upsert and the provider issues nothing); it is deleted after the grant, so at worst a
// row outlives its grant, and revoking a grant that is gone does nothing.
import type { Adapter, AdapterPayload } from 'oidc-provider'
import type { Db } from '../../queries/db.ts'
import { indexGrant, unindexGrant } from '../../queries/user-grants.ts'

export function withGrantIndex(prisma: Db, grants: Adapter): Adapter {
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
        const at = new Date()
        const expiresAt = typeof expiresIn === 'number' ? new Date(at.getTime() + expiresIn * 1000) : null
        // A grant for an account that is not a user row (deleted meanwhile) is not indexed, and
        // the provider must still work.
        await indexGrant(prisma, { grantId: id, userId, clientId, expiresAt, at })
      }
      await grants.upsert(id, payload, expiresIn)
    },
    async destroy(id: string): Promise<void> {
      await grants.destroy(id)
      await unindexGrant(prisma, id)
    },
  }
}

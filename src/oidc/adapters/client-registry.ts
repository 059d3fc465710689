// The provider's Client model reads the client registry in the database. Clients are managed
// through our CLI and admin API, never through the provider (dynamic registration is off).
import type { Adapter, AdapterPayload } from 'oidc-provider'
import type { Db } from '../../queries/db.ts'
import { findClientMetadata } from '../../clients/registry.ts'
import { createRecentReads } from '../../store/recent-reads.ts'

// Every token request looks its client up; a short cache saves a query per request while keeping
// registry changes visible within a second.
const CACHE_MS = 1_000

export function createClientRegistryAdapter(prisma: Db): Adapter {
  const cache = createRecentReads<AdapterPayload | undefined>({ ttlMs: CACHE_MS, maxEntries: 10_000 })
  const readOnly = async () => { throw new Error('the client registry is read-only to the provider') }
  return {
    async find(id) {
      const hit = cache.get(id)
      if (hit) return hit.value
      const value = (await findClientMetadata(prisma, id)) as AdapterPayload | undefined
      cache.set(id, value)
      return value
    },
    upsert: readOnly,
    destroy: readOnly,
    consume: readOnly,
    revokeByGrantId: readOnly,
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
  }
}

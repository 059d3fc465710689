// The provider's Client model reads the client registry in the database. Clients are managed
// through our CLI, admin API and console; the provider writes only through its dynamic
// registration endpoints (RFC 7591/7592, when DYNAMIC_CLIENT_REGISTRATION is on), and only after
// their registration policy ran (src/oidc/dynamic-registration.ts).
import type { Adapter, AdapterPayload } from 'oidc-provider'
import type { Db } from '../../queries/db.ts'
import { findClientMetadata } from '../../clients/registry.ts'
import { createRecentReads } from '../../store/recent-reads.ts'
import { removeRegisteredClient, storeRegisteredClient } from '../dynamic-registration.ts'

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
    // A registration (RFC 7591) or an update (RFC 7592): the secret is stored hashed.
    async upsert(id, payload) {
      cache.delete(id)
      await storeRegisteredClient(prisma, id, payload as Record<string, unknown>)
      cache.delete(id)
    },
    // A registrant deleting its client (RFC 7592): its grants and tokens end with it.
    async destroy(id) {
      cache.delete(id)
      await removeRegisteredClient(prisma, id)
      cache.delete(id)
    },
    consume: readOnly,
    revokeByGrantId: readOnly,
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
  }
}

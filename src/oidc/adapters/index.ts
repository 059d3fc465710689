// Chooses where oidc-provider keeps each model: clients come from the client registry; every
// other artifact goes to Redis when configured, else to the database (the embedded store).
// Grants are indexed by user in the database as well (grant-index.ts).
import type { Db } from '../../queries/db.ts'
import type { RedisClient } from '../../store/redis.ts'
import type { AdapterFactory } from '../client-metadata.ts'
import { createClientRegistryAdapter } from './client-registry.ts'
import { createRedisAdapterFactory } from './redis.ts'
import { createDatabaseAdapterFactory } from './database.ts'
import { withGrantIndex } from './grant-index.ts'

export function createAdapterFactory(prisma: Db, redis?: RedisClient): AdapterFactory {
  const artifacts = redis ? createRedisAdapterFactory(redis) : createDatabaseAdapterFactory(prisma)
  const clients = createClientRegistryAdapter(prisma)
  // Grants are also indexed by user (UserGrant), to revoke all of a person's grants at once.
  const grants = withGrantIndex(prisma, artifacts('Grant'))
  return (name) => (name === 'Client' ? clients : name === 'Grant' ? grants : artifacts(name))
}

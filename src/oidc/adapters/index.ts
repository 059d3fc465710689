// Chooses where oidc-provider keeps each model: clients come from the client registry; every
// other artifact goes to Redis when configured, else to the database (the embedded store).
import type { PrismaClient } from '../../store/database.ts'
import type { Redis } from '../../store/redis.ts'
import type { AdapterFactory } from '../client-metadata.ts'
import { createClientRegistryAdapter } from './client-registry.ts'
import { createRedisAdapterFactory } from './redis.ts'
import { createDatabaseAdapterFactory } from './database.ts'

export function createAdapterFactory(prisma: PrismaClient, redis?: Redis): AdapterFactory {
  const artifacts = redis ? createRedisAdapterFactory(redis) : createDatabaseAdapterFactory(prisma)
  const clients = createClientRegistryAdapter(prisma)
  return (name) => (name === 'Client' ? clients : artifacts(name))
}

// The Redis client factory (standalone for now; Sentinel and Cluster arrive with scale-out).
import { Redis } from 'ioredis'

export type { Redis }

export async function openRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    // Fail a command quickly rather than queueing it forever while Redis is away.
    maxRetriesPerRequest: 2,
    connectTimeout: 5_000,
  })
  await redis.connect()
  return redis
}

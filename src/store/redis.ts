// The Redis client factory: one ioredis client for the topology the configuration names
// (standalone REDIS_URL, Sentinel, or Cluster). Every user (oidc adapter, rate limits, readiness)
// takes the common `RedisClient` type and sticks to what works on all three: single-key commands,
// Lua scripts and MULTI whose keys share one hash tag.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { RedisTopology } from '../config.ts'

export type { Redis, Cluster }
/** A standalone/Sentinel connection or a Cluster: what the adapters and rate limits accept. */
export type RedisClient = Redis | Cluster

// Fail a command quickly rather than queueing it forever while Redis is away. Auto-pipelining:
// the commands that concurrent requests issue in one event-loop turn go out in one write (and one
// read), which under load is most of the cost of talking to Redis (docs/performance.md).
const COMMON: RedisOptions = { lazyConnect: true, maxRetriesPerRequest: 2, connectTimeout: 5_000, enableAutoPipelining: true }

/** Connects to the configured Redis; rejects when it cannot be reached at start. */
export async function openRedis(topology: RedisTopology | string): Promise<RedisClient> {
  const t: RedisTopology = typeof topology === 'string' ? { kind: 'standalone', url: topology } : topology
  const client = createRedisClient(t)
  try {
    await client.connect()
  } catch (err) {
    client.disconnect()
    throw new Error(`cannot connect to Redis (${describeRedis(t)}): ${(err as Error).message}`, { cause: err })
  }
  return client
}

export function createRedisClient(t: RedisTopology): RedisClient {
  switch (t.kind) {
    case 'standalone':
      return withErrorListener(new Redis(t.url, {
        ...COMMON,
        // While the server is away, fail each command at once (the caller answers 503) instead of
        // queueing it until a reconnect (src/store/unavailable.ts); a hung server (port open, no
        // replies) fails each command after commandTimeout.
        enableOfflineQueue: false,
        commandTimeout: 2_000,
        // Reconnect attempts at most 500 ms apart, so service is back within about that long of
        // Redis returning, however long it was away.
        retryStrategy: (times) => Math.min(times * 50, 500),
      }))
    case 'sentinel':
      return new Redis({
        ...COMMON,
        sentinels: t.sentinels,
        name: t.name,
        username: t.username,
        password: t.password,
        sentinelPassword: t.sentinelPassword,
        // A failover closes the old master's connections; ask the sentinels again at once.
        sentinelRetryStrategy: (times) => Math.min(times * 100, 2_000),
        // Learn of a failover from the sentinels' +switch-master, not only from a dropped connection,
        failoverDetector: true,
        // and a write refused by a demoted master (READONLY) reconnects to the new one and is resent.
        reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
        ...(t.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
      })
    case 'cluster': {
      const options: ClusterOptions = {
        lazyConnect: true,
        enableAutoPipelining: true,
        // Queue nothing for long while the cluster is away (see COMMON), and follow slot moves.
        clusterRetryStrategy: (times) => Math.min(times * 100, 2_000),
        redisOptions: {
          maxRetriesPerRequest: 2,
          connectTimeout: 5_000,
          username: t.username,
          password: t.password,
          ...(t.tls ? { tls: {} } : {}),
        },
        // TLS certificates name the hosts; keep the configured names instead of the IPs nodes announce.
        ...(t.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
      }
      return new Cluster(t.nodes, options)
    }
  }
}

/**
 * Connection errors are reported by the commands that fail (as 503s) and by readiness; without a
 * listener ioredis prints each reconnect failure to stderr as an "Unhandled error event".
 */
function withErrorListener<T extends RedisClient>(client: T): T {
  client.on('error', () => undefined)
  return client
}

/** For logs and errors: where Redis is, without credentials. */
export function describeRedis(t: RedisTopology): string {
  switch (t.kind) {
    case 'standalone': {
      const u = new URL(t.url)
      return `standalone ${u.protocol}//${u.host}`
    }
    case 'sentinel':
      return `sentinel master "${t.name}" via ${t.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}${t.tls ? ' (TLS)' : ''}`
    case 'cluster':
      return `cluster ${t.nodes.map((n) => `${n.host}:${n.port}`).join(',')}${t.tls ? ' (TLS)' : ''}`
  }
}

// Redis topology and WORKERS settings: exactly one topology, each with its own options, clear
// errors for the rest.
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { describeRedis } from '../../src/store/redis.ts'
import { planWorkers, workerHeapArgs } from '../../src/workers.ts'
import { quotaCpus } from '../../src/cpu-limit.ts'

const error = (env: Record<string, string>) => {
  try {
    loadConfig(env)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return (err as Error).message
  }
  throw new Error('expected a ConfigError')
}

describe('Redis topology settings', () => {
  it('none: no Redis', () => {
    expect(loadConfig({}).redis).toBeUndefined()
  })

  it('REDIS_URL: standalone', () => {
    expect(loadConfig({ REDIS_URL: 'rediss://u:p@cache:6380/2' }).redis).toEqual({ kind: 'standalone', url: 'rediss://u:p@cache:6380/2' })
  })

  it('REDIS_SENTINELS + REDIS_SENTINEL_NAME: Sentinel, with credentials and TLS', () => {
    const c = loadConfig({ REDIS_SENTINELS: 's1:26379, s2, [::1]:26380', REDIS_SENTINEL_NAME: 'mymaster', REDIS_PASSWORD: 'pw', REDIS_SENTINEL_PASSWORD: 'spw', REDIS_TLS: 'true' })
    expect(c.redis).toEqual({
      kind: 'sentinel', name: 'mymaster', tls: true, username: undefined, password: 'pw', sentinelPassword: 'spw',
      sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }, { host: '::1', port: 26380 }],
    })
    expect(describeRedis(c.redis!)).toBe('sentinel master "mymaster" via s1:26379,s2:26379,::1:26380 (TLS)')
  })

  it('REDIS_CLUSTER_NODES: Cluster', () => {
    const c = loadConfig({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001', REDIS_USERNAME: 'iam', REDIS_PASSWORD: 'pw' })
    expect(c.redis).toEqual({ kind: 'cluster', nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }], username: 'iam', password: 'pw', tls: false })
    expect(describeRedis(c.redis!)).not.toContain('pw')
  })

  it('refuses more than one topology, and options of another topology', () => {
    expect(error({ REDIS_URL: 'redis://r', REDIS_CLUSTER_NODES: 'n1:7000' })).toContain('REDIS_URL, REDIS_CLUSTER_NODES: set exactly one Redis topology')
    expect(error({ REDIS_SENTINELS: 's1:26379' })).toContain('REDIS_SENTINEL_NAME: required with REDIS_SENTINELS')
    expect(error({ REDIS_CLUSTER_NODES: 'n1:7000', REDIS_SENTINEL_NAME: 'mymaster' })).toContain('REDIS_SENTINEL_NAME: only with REDIS_SENTINELS')
    expect(error({ REDIS_URL: 'redis://r', REDIS_PASSWORD: 'pw' })).toContain('REDIS_URL carries its credentials')
    expect(error({ REDIS_URL: 'redis://r', REDIS_TLS: 'true' })).toContain('use a rediss:// REDIS_URL')
    expect(error({ REDIS_PASSWORD: 'pw' })).toContain('REDIS_PASSWORD: only with REDIS_SENTINELS or REDIS_CLUSTER_NODES')
    expect(error({ REDIS_CLUSTER_NODES: 'n1:notaport' })).toContain('REDIS_CLUSTER_NODES: "n1:notaport" is not host:port')
    expect(error({ REDIS_CLUSTER_NODES: ' , ' })).toContain('REDIS_CLUSTER_NODES: no host:port given')
  })
})

describe('WORKERS', () => {
  it('defaults to the number of CPUs; 1 is one process; the embedded database forces one', () => {
    expect(loadConfig({}).workers).toBeGreaterThanOrEqual(1)
    expect(loadConfig({ WORKERS: '3' }).workers).toBe(3)
    expect(error({ WORKERS: '0' })).toContain('WORKERS')
    expect(planWorkers({ workers: 3, databaseUrl: 'postgresql://db/iam' })).toEqual({ workers: 3 })
    expect(planWorkers({ workers: 1, databaseUrl: undefined })).toEqual({ workers: 1 })
    const embedded = planWorkers({ workers: 3, databaseUrl: undefined })
    expect(embedded.workers).toBe(1)
    expect(embedded.reason).toContain('WORKERS=3 ignored')
  })

  it('counts a container’s CPU quota (cgroup v2 cpu.max, v1 cfs quota/period), not the host’s CPUs', () => {
    expect(quotaCpus('200000 100000\n')).toBe(2)
    expect(quotaCpus('150000 100000')).toBe(2)
    expect(quotaCpus('50000 100000')).toBe(1)
    expect(quotaCpus('max 100000\n')).toBeUndefined()
    expect(quotaCpus(undefined, '300000\n', '100000\n')).toBe(3)
    expect(quotaCpus(undefined, '-1\n', '100000\n')).toBeUndefined()
    expect(quotaCpus(undefined, undefined, undefined)).toBeUndefined()
  })

  it('shares a container memory limit between the workers’ heaps, unless the operator set one', () => {
    const GiB = 2 ** 30
    expect(workerHeapArgs(2, 1 * GiB, 24 * GiB, '')).toEqual(['--max-old-space-size=256'])
    expect(workerHeapArgs(4, 512 * 2 ** 20, 24 * GiB, '')).toEqual(['--max-old-space-size=64'])
    expect(workerHeapArgs(2, 2 ** 64, 24 * GiB, '')).toEqual([]) // no limit: Node reports more than the machine has
    expect(workerHeapArgs(2, 0, 24 * GiB, '')).toEqual([])
    expect(workerHeapArgs(2, 1 * GiB, 24 * GiB, '--max-old-space-size=300')).toEqual([])
  })
})

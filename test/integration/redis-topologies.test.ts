// The server on each Redis topology it can be configured for, besides the standalone REDIS_URL the
// other suites use: a real 3-node Redis Cluster (REDIS_CLUSTER_NODES) and a Sentinel set
// (REDIS_SENTINELS + REDIS_SENTINEL_NAME) with a failover. On each: a full sign-in (code + PKCE
// through the pages), userinfo and a refresh work, and the protocol state and rate-limit counters
// are in that Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { createFixtures, ALICE } from '../support/fixtures.ts'
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.ts'
import { startRedisSentinel, type RedisSentinelSet } from '../support/redis-sentinel.ts'
import { discoverSpa, signInAndRefresh } from '../support/code-flow.ts'
import { sleep } from '../support/processes.ts'

async function keysOn(port: number, pattern: string): Promise<string[]> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null })
  c.on('error', () => undefined)
  try {
    await c.connect()
    return await c.keys(pattern)
  } finally {
    c.disconnect()
  }
}

async function readiness(iam: IamInstance) {
  const res = await fetch(`${iam.issuer}/readyz`)
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

describe('Redis Cluster (REDIS_CLUSTER_NODES)', () => {
  let cluster: RedisCluster
  let iam: IamInstance

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 })
    // Two of the three nodes are enough to find the cluster: the rest is discovered.
    iam = await createIam('postgres-redis', { env: { REDIS_CLUSTER_NODES: cluster.nodes.slice(0, 2).map((n) => `${n.host}:${n.port}`).join(',') } })
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
  }, 120_000)

  afterAll(async () => {
    await iam?.close()
    await cluster?.stop()
  })

  it('says which Redis it uses, and is ready', async () => {
    expect(iam.logs()).toMatch(/"artifacts":"redis cluster 127\.0\.0\.1:\d+,127\.0\.0\.1:\d+"/)
    expect(iam.logs()).toContain('rate limits: counters in Redis')
    expect(await readiness(iam)).toMatchObject({ status: 200, body: { status: 'ready', redis: 'ok' } })
  })

  it('signs in (code + PKCE), serves userinfo and refreshes', async () => {
    const { tokens, userinfo, refreshed } = await signInAndRefresh(iam.issuer)
    expect(tokens.claims()!.iss).toBe(iam.issuer)
    expect(userinfo.email).toBe(ALICE.email)
    expect(refreshed.access_token).toBeTruthy()
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token)
    // The rotated-away refresh token is refused (consume is atomic on the cluster too) and that
    // revokes the grant: its index and members live in different slots, deleted per slot.
    const spa = await discoverSpa(iam.issuer)
    await expect(oidc.refreshTokenGrant(spa, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' })
    await expect(oidc.refreshTokenGrant(spa, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' })
  })

  it('keeps protocol state and rate-limit counters in the cluster, spread over its nodes', async () => {
    await signInAndRefresh(iam.issuer)
    const perNode = await Promise.all(cluster.nodes.map(async (n) => ({
      oidc: await keysOn(n.port, 'oidc:*'),
      limits: await keysOn(n.port, 'iam:rl:*'),
    })))
    const oidcKeys = perNode.flatMap((n) => n.oidc)
    const limitKeys = perNode.flatMap((n) => n.limits)
    expect(oidcKeys.some((k) => k.startsWith('oidc:Session:{'))).toBe(true)
    expect(oidcKeys.some((k) => k.startsWith('oidc:Grant:{'))).toBe(true)
    expect(oidcKeys.some((k) => k.startsWith('oidc:RefreshToken:{'))).toBe(true)
    expect(perNode.filter((n) => n.oidc.length > 0).length).toBeGreaterThanOrEqual(2)
    // The sign-in counted on the IP and the account (a success clears the account's count, the
    // IP's stays at 0 after its reward, so its key exists).
    expect(limitKeys.some((k) => k.startsWith('iam:rl:signIn:ip:'))).toBe(true)
  })
})

describe('Redis Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_NAME)', () => {
  let sentinel: RedisSentinelSet
  let iam: IamInstance

  beforeAll(async () => {
    sentinel = await startRedisSentinel({ sentinels: 2 })
    iam = await createIam('postgres-redis', { env: {
      REDIS_SENTINELS: sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
      REDIS_SENTINEL_NAME: sentinel.name,
    } })
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
  }, 120_000)

  afterAll(async () => {
    await iam?.close()
    await sentinel?.stop()
  })

  it('signs in (code + PKCE), serves userinfo and refreshes, on the master the sentinels name', async () => {
    expect(iam.logs()).toContain(`"artifacts":"redis sentinel master \\"${sentinel.name}\\" via`)
    const { userinfo, refreshed } = await signInAndRefresh(iam.issuer)
    expect(userinfo.email).toBe(ALICE.email)
    expect(refreshed.refresh_token).toBeTruthy()
    const master = await sentinel.masterPort()
    expect((await keysOn(master, 'oidc:Session:*')).length).toBeGreaterThan(0)
    expect((await keysOn(master, 'iam:rl:signIn:ip:*')).length).toBeGreaterThan(0)
  })

  it('keeps working after a failover: tokens from before it still refresh, new sign-ins work', async () => {
    const before = await signInAndRefresh(iam.issuer)
    const oldMaster = await sentinel.masterPort()
    const newMaster = await sentinel.failover()
    expect(newMaster).not.toBe(oldMaster)

    // The server follows the sentinels to the new master; a request or two may fail while it
    // reconnects. Bounded: 60 attempts, 250 ms apart.
    let refreshed: oidc.TokenEndpointResponse | undefined
    let lastError: unknown
    for (let attempt = 0; attempt < 60 && !refreshed; attempt++) {
      try {
        refreshed = await oidc.refreshTokenGrant(before.spa, before.refreshed.refresh_token!)
      } catch (err) {
        lastError = err
        // A refused token would not come back: fail at once rather than retry it.
        if ((err as { error?: string }).error === 'invalid_grant') throw err
        await sleep(250)
      }
    }
    expect(refreshed, `refresh after failover: ${String(lastError)}`).toBeTruthy()
    // The rotated refresh token was written after the failover, so on the new master (the old
    // one is its replica now and refuses writes). Opaque token values are their ids.
    expect(await keysOn(newMaster, `oidc:RefreshToken:{${refreshed!.refresh_token!}}`)).toHaveLength(1)

    const after = await signInAndRefresh(iam.issuer)
    expect(after.userinfo.email).toBe(ALICE.email)
    expect(await readiness(iam)).toMatchObject({ status: 200, body: { status: 'ready', redis: 'ok' } })
  })
})

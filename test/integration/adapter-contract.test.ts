// One contract for every oidc-provider adapter we ship, run against the real stores: Redis
// (standalone and a 3-node Cluster), the database adapter on embedded PGlite and on PostgreSQL.
// Plus, per store, the provider end to end: 50 concurrent redemptions of one authorization code
// (and of one rotating refresh token) must yield exactly one token response.
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Cluster, Redis } from 'ioredis'
import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDatabaseAdapterFactory, purgeExpiredArtifacts } from '../../src/oidc/adapters/database.ts'
import { createRedisAdapterFactory, hashTagOf } from '../../src/oidc/adapters/redis.ts'
import { migrateDatabase } from '../../src/store/database.ts'
import { openDatabase } from '../../src/queries/db.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts'
import { sleep } from '../support/processes.ts'
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.ts'
import { startRedis } from '../support/redis-server.ts'

type AdapterFactory = (name: string) => Adapter

interface Store {
  factory: AdapterFactory
  /** the Redis client, for TTL checks */
  redis?: Redis | Cluster
  prisma?: PrismaClient
  close(): Promise<void>
}

interface Backend {
  name: string
  start(): Promise<Store>
}

const now = () => Math.floor(Date.now() / 1000)

function tokenPayload(kind: string, extra: Partial<AdapterPayload> = {}): AdapterPayload {
  const iat = now()
  return { iat, exp: iat + 600, jti: randomUUID(), kind, clientId: 'client-1', accountId: 'account-1', ...extra }
}

// --- backends ----------------------------------------------------------------------------------

let postgres: PostgresServer | undefined
const getPostgres = async () => (postgres ??= await startPostgres())

const clusterClient = (cluster: RedisCluster) => new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } })

/** A Redis-backed store; close() disconnects the client, then stops its server(s). */
function redisStore(redis: Redis | Cluster, servers: { stop(): Promise<void> }): Store {
  return {
    factory: createRedisAdapterFactory(redis),
    redis,
    async close() { redis.disconnect(); await servers.stop() },
  }
}

const backends: Backend[] = [
  {
    name: 'redis (standalone)',
    async start() {
      const server = await startRedis()
      return redisStore(new Redis(server.url, { maxRetriesPerRequest: 1 }), server)
    },
  },
  {
    name: 'redis (cluster, 3 masters)',
    async start() {
      const cluster = await startRedisCluster({ masters: 3 })
      return redisStore(clusterClient(cluster), cluster)
    },
  },
  {
    name: 'database (embedded PGlite)',
    async start() {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'iam-adapter-'))
      await migrateDatabase({ dataDir })
      const db = await openDatabase({ dataDir })
      return {
        factory: createDatabaseAdapterFactory(db.prisma),
        prisma: db.prisma,
        async close() { await db.close(); rmSync(dataDir, { recursive: true, force: true }) },
      }
    },
  },
  {
    name: 'database (PostgreSQL)',
    async start() {
      const databaseUrl = await (await getPostgres()).createDatabase()
      const target = { databaseUrl, dataDir: tmpdir() }
      await migrateDatabase(target)
      const db = await openDatabase(target)
      return {
        factory: createDatabaseAdapterFactory(db.prisma),
        prisma: db.prisma,
        async close() { await db.close() },
      }
    },
  },
]

afterAll(async () => { await postgres?.stop() })

// --- the contract ------------------------------------------------------------------------------

for (const backend of backends) {
  describe(`adapter contract: ${backend.name}`, () => {
    let store: Store
    let adapter: (name: string) => Adapter
    beforeAll(async () => {
      store = await backend.start()
      adapter = store.factory
    })
    afterAll(async () => { await store?.close() })

    it('upsert then find returns the payload; a missing id is undefined', async () => {
      const at = adapter('AccessToken')
      const id = randomUUID()
      const payload = tokenPayload('AccessToken', { grantId: randomUUID(), scope: 'openid email', extra: { n: 1.5, list: [] } })
      await at.upsert(id, payload, 600)
      expect(await at.find(id)).toEqual(payload)
      expect(await at.find(randomUUID())).toBeUndefined()
      // models are separate namespaces
      expect(await adapter('RefreshToken').find(id)).toBeUndefined()
    })

    it('upsert overwrites the whole artifact, including a consumed mark', async () => {
      const ac = adapter('AuthorizationCode')
      const id = randomUUID()
      await ac.upsert(id, tokenPayload('AuthorizationCode', { scope: 'openid' }), 60)
      await ac.consume(id)
      const replacement = tokenPayload('AuthorizationCode', { scope: 'openid profile' })
      await ac.upsert(id, replacement, 60)
      expect(await ac.find(id)).toEqual(replacement)
      // and it can be consumed again, once
      await ac.consume(id)
      await expect(ac.consume(id)).rejects.toBeInstanceOf(errors.InvalidGrant)
    })

    it('concurrent upserts of one id all succeed; the store holds one of them', async () => {
      const session = adapter('Session')
      const id = randomUUID()
      const uid = randomUUID()
      const versions = Array.from({ length: 20 }, (_, i): AdapterPayload => ({ jti: id, kind: 'Session', uid, exp: now() + 600, loginTs: i }))
      await Promise.all(versions.map((v) => session.upsert(id, v, 600)))
      expect(versions).toContainEqual(await session.find(id))
      expect(await session.findByUid(uid)).toEqual(await session.find(id))
    })

    it('an expired artifact and its lookups are missing', async () => {
      const session = adapter('Session')
      const dc = adapter('DeviceCode')
      const sessionId = randomUUID()
      const uid = randomUUID()
      const codeId = randomUUID()
      const userCode = `EXP-${randomUUID().slice(0, 8)}`
      await session.upsert(sessionId, { jti: sessionId, kind: 'Session', uid, exp: now() }, 0.15)
      await dc.upsert(codeId, tokenPayload('DeviceCode', { userCode, grantId: randomUUID() }), 0.15)
      expect(await session.find(sessionId)).toBeDefined()

      if (store.redis) {
        // the store's own TTL does the expiring: every key carries one
        const ttl = await store.redis.pttl(`oidc:Session:{${sessionId}}`)
        expect(ttl).toBeGreaterThan(0)
        expect(ttl).toBeLessThanOrEqual(150)
        expect(await store.redis.pttl(`oidc:uid:{${uid}}`)).toBeGreaterThan(0)
        expect(await store.redis.pttl(`oidc:userCode:{${userCode}}`)).toBeGreaterThan(0)
      }

      await sleep(250)
      expect(await session.find(sessionId)).toBeUndefined()
      expect(await session.findByUid(uid)).toBeUndefined()
      expect(await dc.find(codeId)).toBeUndefined()
      expect(await dc.findByUserCode(userCode)).toBeUndefined()
      await expect(dc.consume(codeId)).rejects.toBeInstanceOf(errors.InvalidGrant)
    })

    if (backend.name.startsWith('database')) {
      it('purgeExpiredArtifacts deletes expired rows only', async () => {
        const at = adapter('AccessToken')
        const expired = randomUUID()
        const live = randomUUID()
        await at.upsert(expired, tokenPayload('AccessToken'), -10) // expiresAt in the past
        await at.upsert(live, tokenPayload('AccessToken'), 600)
        expect(await purgeExpiredArtifacts(store.prisma!)).toBeGreaterThanOrEqual(1)
        expect(await store.prisma!.oidcArtifact.count({ where: { model: 'AccessToken', id: expired } })).toBe(0)
        expect(await at.find(live)).toBeDefined()
      })
    } else {
      it('lookups and the grant index live at least as long as their artifacts', async () => {
        const redis = store.redis!
        const grantId = randomUUID()
        const codeId = randomUUID()
        const userCode = `TTL-${randomUUID().slice(0, 8)}`
        await adapter('DeviceCode').upsert(codeId, tokenPayload('DeviceCode', { grantId, userCode }), 600)
        await adapter('AccessToken').upsert(randomUUID(), tokenPayload('AccessToken', { grantId }), 60)
        const artifactTtl = await redis.pttl(`oidc:DeviceCode:{${codeId}}`)
        const lookupTtl = await redis.pttl(`oidc:userCode:{${userCode}}`)
        const indexTtl = await redis.pttl(`oidc:grant:{${grantId}}`)
        expect(artifactTtl).toBeGreaterThan(599_000)
        expect(Math.abs(lookupTtl - artifactTtl)).toBeLessThan(1000)
        // the index keeps the longest member's TTL, not the latest upsert's
        expect(indexTtl).toBeGreaterThanOrEqual(artifactTtl)
        expect(await redis.zcard(`oidc:grant:{${grantId}}`)).toBe(3) // code, its userCode lookup, token
      })
    }

    it('findByUid finds a Session; findByUserCode finds a DeviceCode', async () => {
      const session = adapter('Session')
      const sessionId = randomUUID()
      const uid = randomUUID()
      const sessionPayload: AdapterPayload = { jti: sessionId, kind: 'Session', uid, exp: now() + 600, accountId: 'account-1', loginTs: now(), authorizations: { 'client-1': { sid: 'sid-1', grantId: 'g-1' } } }
      await session.upsert(sessionId, sessionPayload, 600)
      expect(await session.findByUid(uid)).toEqual(sessionPayload)
      expect(await session.findByUid(randomUUID())).toBeUndefined()

      const dc = adapter('DeviceCode')
      const codeId = randomUUID()
      const userCode = `UC-${randomUUID().slice(0, 8)}`
      const code = tokenPayload('DeviceCode', { userCode, deviceInfo: { ip: '127.0.0.1' } })
      await dc.upsert(codeId, code, 600)
      expect(await dc.findByUserCode(userCode)).toEqual(code)
      expect(await dc.findByUserCode('NOPE-NOPE')).toBeUndefined()

      // the user approves: the device code is saved again with the grant and account
      const approved = { ...code, grantId: randomUUID(), accountId: 'account-2' }
      await dc.upsert(codeId, approved, 600)
      expect(await dc.findByUserCode(userCode)).toEqual(approved)

      // a destroyed session is no longer found by uid
      await session.destroy(sessionId)
      expect(await session.findByUid(uid)).toBeUndefined()
    })

    it('consume sets `consumed` once; a second consume is refused and, a replay, revokes the grant', async () => {
      const ac = adapter('AuthorizationCode')
      const id = randomUUID()
      const grantId = randomUUID()
      const payload = tokenPayload('AuthorizationCode', { grantId })
      await ac.upsert(id, payload, 60)
      const at = adapter('AccessToken')
      const tokenId = randomUUID()
      await at.upsert(tokenId, tokenPayload('AccessToken', { grantId }), 60)
      const before = now()
      await ac.consume(id)
      const first = await ac.find(id)
      expect(first).toMatchObject(payload)
      expect(first?.consumed).toBeGreaterThanOrEqual(before)
      expect(first?.consumed).toBeLessThanOrEqual(now())

      const refused = await ac.consume(id).then(() => undefined, (e: unknown) => e)
      expect(refused).toBeInstanceOf(errors.InvalidGrant)
      expect(refused).toMatchObject({ error: 'invalid_grant', error_detail: 'authorization code already consumed' })
      // The code was presented twice: it leaked. Its grant's artifacts are gone, and a token of
      // the grant written after the revocation (the first redemption's, late) does not stay.
      expect(await ac.find(id)).toBeUndefined()
      expect(await at.find(tokenId)).toBeUndefined()
      const late = randomUUID()
      await at.upsert(late, tokenPayload('AccessToken', { grantId }), 60)
      expect(await at.find(late)).toBeUndefined()
      // … nor does the Grant, saved again by a request that had loaded it before.
      await adapter('Grant').upsert(grantId, { jti: grantId, kind: 'Grant', accountId: 'account-1', clientId: 'client-1' }, 60)
      expect(await adapter('Grant').find(grantId)).toBeUndefined()

      // a payload saved as consumed counts as consumed, and its timestamp is kept
      const old = randomUUID()
      await ac.upsert(old, tokenPayload('AuthorizationCode', { consumed: 1_000_000 }), 60)
      await expect(ac.consume(old)).rejects.toBeInstanceOf(errors.InvalidGrant)
      expect((await ac.find(old))?.consumed).toBe(1_000_000)

      await expect(ac.consume(randomUUID())).rejects.toMatchObject({ error: 'invalid_grant', error_detail: 'authorization code not found' })
      // expired (but maybe not yet purged) is not found either
      const expired = randomUUID()
      await ac.upsert(expired, tokenPayload('AuthorizationCode'), -10)
      await sleep(5)
      await expect(ac.consume(expired)).rejects.toMatchObject({ error: 'invalid_grant', error_detail: 'authorization code not found' })

      if (store.prisma) {
        // the column agrees with the payload (both UTC)
        const kept = randomUUID()
        await ac.upsert(kept, tokenPayload('AuthorizationCode', { grantId: randomUUID() }), 60)
        await ac.consume(kept)
        const consumed = (await ac.find(kept))?.consumed
        const row = await store.prisma.oidcArtifact.findUnique({ where: { model_id: { model: 'AuthorizationCode', id: kept } } })
        expect(Math.abs(row!.consumedAt!.getTime() / 1000 - Number(consumed))).toBeLessThan(2)
      }
    })

    it('50 concurrent consumes of one code: exactly one succeeds, and the replays revoke its grant', async () => {
      for (const model of ['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']) {
        const a = adapter(model)
        const id = randomUUID()
        await a.upsert(id, tokenPayload(model, { grantId: randomUUID() }), 60)
        const results = await Promise.allSettled(Array.from({ length: 50 }, () => a.consume(id)))
        const won = results.filter((r) => r.status === 'fulfilled')
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
        expect(won, model).toHaveLength(1)
        expect(lost, model).toHaveLength(49)
        for (const r of lost) expect(r.reason).toBeInstanceOf(errors.InvalidGrant)
        expect(await a.find(id)).toBeUndefined()
      }
      // a pushed authorization request is refused with the error its endpoint uses
      const par = adapter('PushedAuthorizationRequest')
      const parId = randomUUID()
      await par.upsert(parId, tokenPayload('PushedAuthorizationRequest'), 60)
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => par.consume(parId)))
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(errors.InvalidRequestUri)
    })

    it('revokeByGrantId removes every artifact of the grant and nothing of other grants', async () => {
      const grantId = randomUUID()
      const otherGrantId = randomUUID()
      const models = ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode'] as const
      const ours: Array<[string, string]> = []
      for (const model of models) {
        for (let i = 0; i < 3; i++) {
          const id = randomUUID()
          await adapter(model).upsert(id, tokenPayload(model, { grantId, ...(model === 'DeviceCode' ? { userCode: `RV-${id.slice(0, 8)}` } : {}) }), 600)
          ours.push([model, id])
        }
      }
      const theirs = randomUUID()
      await adapter('AccessToken').upsert(theirs, tokenPayload('AccessToken', { grantId: otherGrantId }), 600)
      // the Grant itself is the provider's to destroy (revokeGrantPolicy), not revokeByGrantId's
      await adapter('Grant').upsert(grantId, { jti: grantId, kind: 'Grant', accountId: 'account-1', clientId: 'client-1', exp: now() + 600 }, 600)
      const unrelatedSession = randomUUID()
      await adapter('Session').upsert(unrelatedSession, { jti: unrelatedSession, kind: 'Session', uid: randomUUID() }, 600)

      await adapter('AccessToken').revokeByGrantId(grantId)

      for (const [model, id] of ours) expect(await adapter(model).find(id), `${model} ${id}`).toBeUndefined()
      expect(await adapter('DeviceCode').findByUserCode(`RV-${ours.find(([m]) => m === 'DeviceCode')![1].slice(0, 8)}`)).toBeUndefined()
      expect(await adapter('AccessToken').find(theirs)).toBeDefined()
      expect(await adapter('Grant').find(grantId)).toBeDefined()
      expect(await adapter('Session').find(unrelatedSession)).toBeDefined()
      if (store.redis) expect(await store.redis.exists(`oidc:grant:{${grantId}}`)).toBe(0)

      // revoking again (every model's adapter is called by the provider) is harmless
      await adapter('RefreshToken').revokeByGrantId(grantId)
      await adapter('RefreshToken').revokeByGrantId(randomUUID())
    })

    it('destroy removes one artifact', async () => {
      const rt = adapter('RefreshToken')
      const [a, b] = [randomUUID(), randomUUID()]
      const grantId = randomUUID()
      await rt.upsert(a, tokenPayload('RefreshToken', { grantId }), 600)
      await rt.upsert(b, tokenPayload('RefreshToken', { grantId }), 600)
      await rt.destroy(a)
      await rt.destroy(randomUUID()) // missing: no error
      expect(await rt.find(a)).toBeUndefined()
      expect(await rt.find(b)).toBeDefined()
    })

    it('stores strings jsonb cannot hold (a NUL, an unpaired surrogate) and reads them back exactly; consume still works', async () => {
      // They reach payloads from request parameters (a logout state, a nonce); the fuzz test found the 500.
      const session = adapter('Session')
      const id = randomUUID()
      const payload: AdapterPayload = { jti: id, kind: 'Session', exp: now() + 600, uid: randomUUID(), state: { x: { state: 'a\u0000b', other: '\ud800 \udfff', literal: '\\u0000' } } }
      await session.upsert(id, payload, 600)
      expect(await session.find(id)).toEqual(payload)
      expect(await session.findByUid(payload.uid as string)).toEqual(payload)
      const ac = adapter('AuthorizationCode')
      const code = randomUUID()
      const codePayload = tokenPayload('AuthorizationCode', { grantId: randomUUID(), nonce: '\u0000' })
      await ac.upsert(code, codePayload, 60)
      await ac.consume(code)
      expect(await ac.find(code)).toMatchObject({ ...codePayload, consumed: expect.any(Number) })
      await expect(ac.consume(code)).rejects.toBeInstanceOf(errors.InvalidGrant)
    })

    it('stores a large payload intact', async () => {
      const interaction = adapter('Interaction')
      const id = randomUUID()
      const payload: AdapterPayload = {
        jti: id,
        kind: 'Interaction',
        exp: now() + 600,
        params: {
          client_id: 'client-1',
          claims: JSON.stringify({ id_token: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`claim_${i}`, { essential: true }])) }),
          request: 'x'.repeat(256 * 1024),
          unicode: 'ünïcödé ✓ 🔐',
        },
        prompt: { name: 'login', reasons: ['no_session'], details: {} },
      }
      await interaction.upsert(id, payload, 600)
      expect(await interaction.find(id)).toEqual(payload)
    })

    it('provider: 50 concurrent redemptions of one code and of one rotating refresh token give one token response each', async () => {
      const op = await startProvider(adapter)
      try {
        const code = await op.issueCode()
        const statuses = await Promise.all(Array.from({ length: 50 }, () => op.token({
          grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI,
        })))
        expect(statuses.filter((r) => r.status === 200), JSON.stringify(statuses.map((r) => r.status))).toHaveLength(1)
        expect(statuses.filter((r) => r.status === 400 && r.body.error === 'invalid_grant')).toHaveLength(49)

        // the second part needs a grant that the replays above did not revoke
        const fresh = await op.token({ grant_type: 'authorization_code', code: await op.issueCode(), redirect_uri: REDIRECT_URI })
        expect(fresh.status).toBe(200)
        const refreshToken = fresh.body.refresh_token
        expect(refreshToken).toEqual(expect.any(String))
        const refreshed = await Promise.all(Array.from({ length: 50 }, () => op.token({
          grant_type: 'refresh_token', refresh_token: String(refreshToken),
        })))
        expect(refreshed.filter((r) => r.status === 200)).toHaveLength(1)
        expect(refreshed.filter((r) => r.status === 400 && r.body.error === 'invalid_grant')).toHaveLength(49)
      } finally {
        await op.close()
      }
    })
  })
}

// --- hash tags -----------------------------------------------------------------------------------

describe('redis adapter keys and cluster slots', () => {
  let cluster: RedisCluster
  let redis: Cluster
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 })
    redis = clusterClient(cluster)
  })
  afterAll(async () => { redis?.disconnect(); await cluster?.stop() })

  const slotOf = async (key: string) => Number(await redis.cluster('KEYSLOT', key))

  it('every key is hash-tagged; what is written together shares a slot', async () => {
    const factory = createRedisAdapterFactory(redis, { prefix: 'slots' })
    const grantId = randomUUID()
    const uid = randomUUID()
    const userCode = `SL-${randomUUID().slice(0, 8)}`
    await factory('Grant').upsert(grantId, { jti: grantId, kind: 'Grant', accountId: 'a', clientId: 'c' }, 600)
    await factory('Session').upsert('session-1', { jti: 'session-1', kind: 'Session', uid }, 600)
    const tokenIds: Array<[string, string]> = []
    for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode']) {
      for (let i = 0; i < 4; i++) {
        const id = randomUUID()
        tokenIds.push([model, id])
        await factory(model).upsert(id, tokenPayload(model, { grantId, ...(model === 'DeviceCode' && i === 0 ? { userCode } : {}) }), 600)
      }
    }

    const keys = (await Promise.all(redis.nodes('master').map((node) => node.keys('slots:*')))).flat()
    expect(keys.length).toBe(1 /* Grant */ + 1 /* index */ + 2 /* Session + uid */ + 16 /* tokens */ + 1 /* userCode */)
    for (const key of keys) {
      // a non-empty {tag}: the slot is chosen by the identifier alone
      expect(key).toMatch(/^slots:[A-Za-z]+:\{[^{}]+\}$/)
      expect(await slotOf(key)).toBe(await slotOf(`{${hashTagOf(key)}}`))
    }

    // The Grant and its index share the grantId slot, so they could be updated together.
    expect(await slotOf(`slots:Grant:{${grantId}}`)).toBe(await slotOf(`slots:grant:{${grantId}}`))
    // Token ids are random and found by id alone, so tokens of one grant are spread over slots:
    // revokeByGrantId must (and does) delete per slot.
    const tokenSlots = new Set(await Promise.all(tokenIds.map(([m, id]) => slotOf(`slots:${m}:{${id}}`))))
    expect(tokenSlots.size).toBeGreaterThan(1)
    const members = await redis.zrange(`slots:grant:{${grantId}}`, 0, -1)
    expect(new Set(members)).toEqual(new Set([...tokenIds.map(([m, id]) => `slots:${m}:{${id}}`), `slots:userCode:{${userCode}}`]))

    await factory('AccessToken').revokeByGrantId(grantId)
    const left = (await Promise.all(redis.nodes('master').map((node) => node.keys('slots:*')))).flat().sort()
    // … and leaves the grant's tombstone, in the grant's slot (its index script checks it).
    expect(left).toEqual([`slots:Grant:{${grantId}}`, 'slots:Session:{session-1}', `slots:uid:{${uid}}`, `slots:revokedGrant:{${grantId}}`].sort())
    expect(await slotOf(`slots:revokedGrant:{${grantId}}`)).toBe(await slotOf(`slots:grant:{${grantId}}`))
  })

  it('token writes keep working after every node has forgotten its scripts', async () => {
    const factory = createRedisAdapterFactory(redis, { prefix: 'flushed' })
    const grantId = randomUUID()
    const write = async () => {
      const token = tokenPayload('AccessToken', { grantId })
      await factory('AccessToken').upsert(token.jti!, token, 600)
      return token
    }
    await write() // every node's connection has now sent the scripts once
    await Promise.all(redis.nodes('master').map((node) => node.script('FLUSH')))
    const token = await write()
    expect(await factory('AccessToken').find(token.jti!)).toEqual(token)
    expect(await redis.zrange(`flushed:grant:{${grantId}}`, 0, -1)).toContain(`flushed:AccessToken:{${token.jti}}`)
  })

  it('hashTagOf follows the Redis Cluster rule', () => {
    expect(hashTagOf('oidc:AccessToken:{abc}')).toBe('abc')
    expect(hashTagOf('a{}b{c}')).toBe('a{}b{c}') // empty first tag: the whole key
    expect(hashTagOf('a{b}c}{d}')).toBe('b')
    expect(hashTagOf('a{bc')).toBe('a{bc')
    expect(hashTagOf('plain')).toBe('plain')
  })
})

// --- a provider over the adapter -----------------------------------------------------------------

const REDIRECT_URI = 'https://rp.example.test/cb'
const TEST_SIGNING_KEY = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: 'test-rs256', alg: 'RS256', use: 'sig',
}

interface TestProvider {
  issueCode(): Promise<string>
  token(params: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }>
  close(): Promise<void>
}

async function startProvider(adapter: AdapterFactory): Promise<TestProvider> {
  const provider = new Provider('http://127.0.0.1', {
    adapter,
    clients: [{
      client_id: 'rp',
      client_secret: 'rp-secret-rp-secret-rp-secret-rp-secret',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }],
    scopes: ['openid', 'offline_access'],
    pkce: { required: () => false },
    rotateRefreshToken: true,
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    jwks: { keys: [TEST_SIGNING_KEY] },
    features: { devInteractions: { enabled: false } },
    ttl: { Grant: 600, AccessToken: 600, RefreshToken: 600, IdToken: 600, AuthorizationCode: 60 },
  })
  const server: Server = createServer(provider.callback())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const basic = `Basic ${Buffer.from('rp:rp-secret-rp-secret-rp-secret-rp-secret').toString('base64')}`

  return {
    async issueCode() {
      const client = await provider.Client.find('rp')
      if (!client) throw new Error('client rp not configured')
      const grant = new provider.Grant({ accountId: 'account-1', clientId: 'rp' })
      grant.addOIDCScope('openid offline_access')
      const grantId = await grant.save()
      const code = new provider.AuthorizationCode({
        accountId: 'account-1',
        client,
        grantId,
        redirectUri: REDIRECT_URI,
        scope: 'openid offline_access',
        authTime: now(),
        gty: 'authorization_code',
      })
      return code.save()
    },
    async token(params) {
      const res = await fetch(`http://127.0.0.1:${port}/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(params),
      })
      return { status: res.status, body: await res.json() as Record<string, unknown> }
    },
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  }
}

describe('redis adapter scripts', () => {
  let server: Awaited<ReturnType<typeof startRedis>>
  let redis: Redis
  beforeAll(async () => {
    server = await startRedis()
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 })
  })
  afterAll(async () => { redis?.disconnect(); await server?.stop() })

  // Writes are Lua scripts sent by their SHA; a restarted Redis has forgotten them.
  it('writes, consumes and revokes after Redis has forgotten its scripts', async () => {
    const factory = createRedisAdapterFactory(redis, { prefix: 'flushed' })
    const grantId = randomUUID()
    await redis.script('FLUSH')
    const token = tokenPayload('AccessToken')
    await factory('AccessToken').upsert(token.jti!, token, 600)
    const code = tokenPayload('AuthorizationCode', { grantId })
    await factory('AuthorizationCode').upsert(code.jti!, code, 600)
    expect(await factory('AccessToken').find(token.jti!)).toEqual(token)
    expect(await factory('AuthorizationCode').find(code.jti!)).toEqual(code)
    await redis.script('FLUSH')
    await factory('AuthorizationCode').consume(code.jti!)
    expect((await factory('AuthorizationCode').find(code.jti!))?.consumed).toBeTypeOf('number')
    await factory('AuthorizationCode').revokeByGrantId(grantId)
    expect(await factory('AuthorizationCode').find(code.jti!)).toBeUndefined()
  })

  it('writes a session in a transaction and finds it by uid in one script, also after Redis has forgotten its scripts; a lookup whose session is gone finds nothing', async () => {
    const factory = createRedisAdapterFactory(redis, { prefix: 'lookup' })
    const uid = randomUUID()
    const session = { jti: randomUUID(), kind: 'Session', uid, accountId: 'a-1', consumed: 5 }
    await factory('Session').upsert(session.jti, session, 600)
    await redis.script('FLUSH')
    // A session with a uid is written in a transaction, whose scripts this connection has sent before.
    await factory('Session').upsert(session.jti, session, 600)
    await redis.script('FLUSH')
    expect(await factory('Session').findByUid(uid)).toEqual(session)
    await factory('Session').destroy(session.jti)
    expect(await redis.exists(`lookup:uid:{${uid}}`)).toBe(1) // the lookup is left to expire
    expect(await factory('Session').findByUid(uid)).toBeUndefined()
  })

  it('an artifact written without an expiry has none, and a rewrite with one gets it', async () => {
    const factory = createRedisAdapterFactory(redis, { prefix: 'ttl' })
    const session = { jti: randomUUID(), kind: 'Session' }
    await factory('Session').upsert(session.jti, session)
    expect(await redis.pttl(`ttl:Session:{${session.jti}}`)).toBe(-1)
    await factory('Session').upsert(session.jti, session, 60)
    const ttl = await redis.pttl(`ttl:Session:{${session.jti}}`)
    expect(ttl).toBeGreaterThan(50_000)
    expect(ttl).toBeLessThanOrEqual(60_000)
  })
})

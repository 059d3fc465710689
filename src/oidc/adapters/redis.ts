// oidc-provider adapter on Redis (standalone, Sentinel or Cluster): every model the provider
// stores (Session, Grant, Interaction, codes, tokens, …) with its TTL.
//
// Key layout (prefix "oidc" by default; the part in braces is the Redis Cluster hash tag):
//   oidc:<Model>:{<id>}        hash  p = payload JSON, c = consumed (epoch seconds, set once)
//   oidc:uid:{<uid>}           string → Session id            same TTL as the session
//   oidc:userCode:{<code>}     string → DeviceCode id         same TTL as the device code
//   oidc:grant:{<grantId>}     zset   member = key of a grant artifact (token, code, userCode
//                                     lookup), score = its expiry (ms, Redis clock) + 1 s;
//                                     the zset's own TTL is its highest score
//   oidc:revokedGrant:{<grantId>} string  set when the grant is revoked (GRANT_TOMBSTONE_SECONDS)
//
// Why artifacts are tagged by their own id and not by their grant: the provider looks tokens up by
// id alone (find(jti) on every token/userinfo/introspection request) and its ids are random, so a
// key tagged {grantId} would need an id → grantId pointer read first: two round trips on the hot
// path instead of one. Instead every multi-key operation is grouped by hash tag (one MULTI per
// slot, run in parallel on a Cluster, a single MULTI on a standalone server) and revokeByGrantId
// deletes per slot. Grant itself (id = grantId) shares its slot with its index.
//
// Consumption: `consume` runs a Lua script that sets `c` only if the artifact exists and `c` is
// not set yet. The provider checks `consumed` after `find` and then calls `consume`; two
// concurrent redemptions can both pass that check, so `consume` *throws* the protocol error
// (invalid_grant; invalid_request_uri for PAR) for every caller but the first. The token endpoint
// renders it as a 400, so of N concurrent redemptions exactly one gets tokens.
//
// Replays that race (src/oidc/adapters/shared.ts, "Replays"): a refused consume of a consumed
// artifact revokes its grant, and every revocation leaves a tombstone in the grant's slot. Writes
// of the grant's artifacts check it atomically with their grant-index entry (INDEX_ADD_LUA), after
// the artifact is written and before it can be handed out; a revocation sets it before it reads
// the index. So a token is either in the index when the revocation reads it (and is deleted), or
// its write sees the tombstone (and is deleted at once): none survives.
import type { ChainableCommander, Cluster, Redis } from 'ioredis'
import type { Adapter, AdapterPayload } from 'oidc-provider'
import { GRANTABLE_MODELS, GRANT_TOMBSTONE_SECONDS, consumeRefused } from './shared.ts'


export interface RedisAdapterOptions {
  /** first segment of every key; default "oidc" */
  prefix?: string
}

// KEYS[1] artifact hash; ARGV[1] epoch seconds. 1 = consumed now, 0 = already consumed, -1 = missing.
const CONSUME_LUA = `
if redis.call('HEXISTS', KEYS[1], 'p') == 0 then return -1 end
return redis.call('HSETNX', KEYS[1], 'c', ARGV[1])
`

// KEYS[1] artifact hash; ARGV[1] TTL in ms ('' = none); ARGV[2] payload JSON; ARGV[3] consumed
// ('' = not consumed). Replaces the whole hash, so a stale `c` of a previous version cannot
// survive. One command instead of MULTI, DEL, HSET, PEXPIRE, EXEC: a token write is most of the
// Redis work of a client-credentials request, and each command costs the client a reply to match.
const PUT_LUA = `
redis.call('DEL', KEYS[1])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'p', ARGV[2], 'c', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'p', ARGV[2])
end
if ARGV[1] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
`

// KEYS[1] a lookup (uid → Session id, userCode → DeviceCode id); ARGV[1] the artifact keys' prefix
// ("oidc:Session:"). Returns the artifact's {payload, consumed} (false for what is missing), or nil
// without the lookup. One round trip instead of two, for the session every userinfo request (its token's
// session binding) and every authorization step loads. The artifact's key is not declared, which
// a standalone or Sentinel-managed Redis allows and a Cluster does not (the two keys are in
// different slots there): a Cluster takes the two reads.
const FIND_BY_LOOKUP_LUA = `
local id = redis.call('GET', KEYS[1])
if not id then return nil end
return redis.call('HMGET', ARGV[1] .. '{' .. id .. '}', 'p', 'c')
`

// KEYS[1] grant index zset, KEYS[2] the grant's tombstone; ARGV[1] member TTL in ms ('' = no
// expiry); ARGV[2..] members. 0 when the grant was revoked (nothing added), else: drops expired
// members, adds the new ones, sets the index TTL to its longest member's, and returns 1.
const INDEX_ADD_LUA = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local score = '+inf'
if ARGV[1] ~= '' then score = now + tonumber(ARGV[1]) + 1000 end
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], score, ARGV[i]) end
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local s = top[2]
if s == 'inf' or s == '+inf' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(s)))
end
return 1
`

// KEYS[1] a Grant's hash, KEYS[2] its tombstone; ARGV as PUT_LUA. A revoked grant is not written
// again (a request that loaded it before the revocation may save it after): 0, else 1.
const PUT_GRANT_LUA = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
${PUT_LUA}`

const CONSUME_COMMAND = 'iamOidcConsume'
const PUT_COMMAND = 'iamOidcPut'
const FIND_BY_LOOKUP_COMMAND = 'iamOidcFindByLookup'
const INDEX_ADD_COMMAND = 'iamOidcIndexAdd'
const PUT_GRANT_COMMAND = 'iamOidcPutGrant'

type RedisClient = Redis | Cluster
interface ScriptCommands {
  [CONSUME_COMMAND](key: string, epochSeconds: number): Promise<number>
  [PUT_COMMAND](key: string, ttlMs: string, payload: string, consumed: string): Promise<number>
  [FIND_BY_LOOKUP_COMMAND](lookupKey: string, artifactPrefix: string): Promise<[string | null, string | null] | null>
  [PUT_GRANT_COMMAND](key: string, tombstone: string, ttlMs: string, payload: string, consumed: string): Promise<number>
}
interface ScriptPipeline {
  [PUT_COMMAND](key: string, ttlMs: string, payload: string, consumed: string): ChainableCommander
  [INDEX_ADD_COMMAND](key: string, tombstone: string, ttlMs: string, ...members: string[]): ChainableCommander
}

/** Deletes are sent in chunks so one command never carries an unbounded argument list. */
const CHUNK = 500

/** The hash tag Redis Cluster hashes for `key` (the whole key when there is no non-empty {…}). */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{')
  if (open === -1) return key
  const close = key.indexOf('}', open + 1)
  if (close === -1 || close === open + 1) return key
  return key.slice(open + 1, close)
}

/**
 * Commands grouped by hash tag. exec() sends one MULTI per group: in parallel on a Cluster (a
 * transaction must stay in one slot), as a single MULTI on a standalone server (one round trip,
 * and the whole write is atomic).
 */
class SlotBatch {
  private readonly groups = new Map<string, Array<Write>>()

  /** `write` queues exactly one command; `onReply` gets that command's reply. */
  add(key: string, write: (m: ChainableCommander) => void, onReply?: (reply: unknown) => void): this {
    const tag = hashTagOf(key)
    const entry = { write, onReply }
    const group = this.groups.get(tag)
    if (group) group.push(entry)
    else this.groups.set(tag, [entry])
    return this
  }

  async exec(redis: RedisClient): Promise<void> {
    if (this.groups.size === 0) return
    const transactions = redis.isCluster ? [...this.groups.values()] : [[...this.groups.values()].flat()]
    const run = async (writes: Write[]) => {
      const multi = redis.multi()
      for (const { write } of writes) write(multi)
      const replies = await multi.exec()
      if (replies === null) throw new Error('redis transaction aborted')
      for (const [err] of replies) if (err) throw err
      writes.forEach(({ onReply }, i) => onReply?.(replies[i]?.[1]))
    }
    await Promise.all(transactions.map(async (writes) => {
      try {
        await run(writes)
      } catch (err) {
        // A script this connection had sent before, which the server no longer knows (SCRIPT
        // FLUSH on a live connection): inside a transaction ioredis neither swaps EVALSHA for
        // EVAL nor forgets that it sent the script, so every later transaction would fail the
        // same way. Load the scripts again and repeat the writes, which are idempotent
        // (whole-hash replace, SET, ZADD).
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
        await loadTransactionScripts(redis)
        await run(writes)
      }
    }))
  }
}

interface Write { write: (m: ChainableCommander) => void; onReply?: ((reply: unknown) => void) | undefined }

/** The scripts sent inside transactions, loaded on every server that may run them. */
async function loadTransactionScripts(redis: RedisClient): Promise<void> {
  const servers: Redis[] = redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis]
  await Promise.all(servers.flatMap((server) => [PUT_LUA, INDEX_ADD_LUA].map((lua) => server.script('LOAD', lua))))
}

function epochSeconds(): number {
  return Math.floor(Date.now() / 1000)
}

function isPayload(value: unknown): value is AdapterPayload {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** An artifact from its hash fields: `p` the payload JSON, `c` when it was consumed. */
function parsePayload(json: string | null | undefined, consumed: string | null | undefined): AdapterPayload | undefined {
  if (json === null || json === undefined) return undefined
  const payload: unknown = JSON.parse(json)
  if (!isPayload(payload)) return undefined
  if (consumed !== null && consumed !== undefined) payload.consumed = Number(consumed)
  return payload
}

class RedisAdapter implements Adapter {
  private readonly redis: RedisClient
  private readonly model: string
  private readonly prefix: string

  constructor(redis: RedisClient, model: string, prefix: string) {
    this.redis = redis
    this.model = model
    this.prefix = prefix
  }

  key(id: string): string {
    return `${this.prefix}:${this.model}:{${id}}`
  }

  private grantKey(grantId: string): string {
    return `${this.prefix}:grant:{${grantId}}`
  }

  /** Set when the grant is revoked; shares the slot of the grant's index and of the Grant itself. */
  private tombstoneKey(grantId: string): string {
    return `${this.prefix}:revokedGrant:{${grantId}}`
  }

  private uidKey(uid: string): string {
    return `${this.prefix}:uid:{${uid}}`
  }

  private userCodeKey(userCode: string): string {
    return `${this.prefix}:userCode:{${userCode}}`
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const key = this.key(id)
    const ttlMs = typeof expiresIn === 'number' ? Math.max(1, Math.ceil(expiresIn * 1000)) : undefined
    const ttl = ttlMs === undefined ? '' : String(ttlMs)
    const json = JSON.stringify(payload)
    const consumed = payload.consumed ? String(payload.consumed) : ''
    const userCodeKey = typeof payload.userCode === 'string' ? this.userCodeKey(payload.userCode) : undefined
    const uidKey = this.model === 'Session' && typeof payload.uid === 'string' ? this.uidKey(payload.uid) : undefined
    const grantId = GRANTABLE_MODELS.has(this.model) && typeof payload.grantId === 'string' ? payload.grantId : undefined

    // A Grant checks its tombstone in the same script (same slot) as it writes itself.
    if (this.model === 'Grant') {
      // 0: a revoked grant, not written again (the request that saves it issues nothing that works).
      await (this.redis as unknown as ScriptCommands)[PUT_GRANT_COMMAND](key, this.tombstoneKey(id), ttl, json, consumed)
      return
    }

    // The artifact alone (client-credentials tokens, interactions, …): one command, no transaction.
    if (!userCodeKey && !uidKey && !grantId) {
      await (this.redis as unknown as ScriptCommands)[PUT_COMMAND](key, ttl, json, consumed)
      return
    }

    const artifact = new SlotBatch()
    artifact.add(key, (m) => { (m as unknown as ScriptPipeline)[PUT_COMMAND](key, ttl, json, consumed) })
    const setLookup = (lookupKey: string) => artifact.add(lookupKey, (m) => {
      if (ttlMs !== undefined) m.set(lookupKey, id, 'PX', ttlMs)
      else m.set(lookupKey, id)
    })
    if (uidKey) setLookup(uidKey)
    if (userCodeKey) setLookup(userCodeKey)
    if (!grantId) {
      await artifact.exec(this.redis)
      return
    }

    // The index entry is added after the artifact is written (on a standalone server in the same
    // transaction; on a Cluster, where the slots differ, once the artifact's write is done), so a
    // revocation that finds the entry finds the artifact too. If the index write fails the upsert
    // rejects and the provider never hands out the token.
    const index = this.grantKey(grantId)
    const members = userCodeKey ? [key, userCodeKey] : [key]
    let revoked = false
    const indexed = this.redis.isCluster ? new SlotBatch() : artifact
    indexed.add(index, (m) => {
      (m as unknown as ScriptPipeline)[INDEX_ADD_COMMAND](index, this.tombstoneKey(grantId), ttl, ...members)
    }, (reply) => { revoked = reply === 0 })
    if (indexed !== artifact) await artifact.exec(this.redis)
    await indexed.exec(this.redis)
    // The grant was revoked while this token was being issued: it must never work. The response
    // that carries it may still go out (the winner of a raced replay), with a dead token.
    if (revoked) await Promise.all(members.map((member) => this.redis.del(member)))
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const [json, consumed] = await this.redis.hmget(this.key(id), 'p', 'c')
    return parsePayload(json, consumed)
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const payload = await this.findByLookup(this.uidKey(uid))
    // a lookup left behind by an overwritten artifact must not resolve to it
    return payload?.uid === uid ? payload : undefined
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const payload = await this.findByLookup(this.userCodeKey(userCode))
    return payload?.userCode === userCode ? payload : undefined
  }

  /** The artifact a lookup key points to: one script on a single server, two reads on a Cluster. */
  private async findByLookup(lookupKey: string): Promise<AdapterPayload | undefined> {
    if (this.redis.isCluster) {
      const id = await this.redis.get(lookupKey)
      return id ? this.find(id) : undefined
    }
    const found = await (this.redis as unknown as ScriptCommands)[FIND_BY_LOOKUP_COMMAND](lookupKey, `${this.prefix}:${this.model}:`)
    return found ? parsePayload(found[0], found[1]) : undefined
  }

  /**
   * Marks the artifact consumed, atomically: resolves for exactly one caller; every other caller
   * (already consumed, or the artifact is gone) gets the protocol error from `consumeRefused`.
   */
  async consume(id: string): Promise<void> {
    const result = await (this.redis as unknown as ScriptCommands)[CONSUME_COMMAND](this.key(id), epochSeconds())
    if (result === 1) return
    if (result === 0) {
      // A replay that raced the first redemption: it ends the grant, as the provider does for a
      // replay it sees in `find` (src/oidc/adapters/shared.ts, "Replays").
      const grantId = (await this.find(id))?.grantId
      if (typeof grantId === 'string' && GRANTABLE_MODELS.has(this.model)) await this.revokeGrant(grantId)
    }
    throw consumeRefused(this.model, result === 0 ? 'consumed' : 'missing')
  }

  /** Tombstone, every artifact of the grant, and the Grant itself (its UserGrant row may outlive it). */
  private async revokeGrant(grantId: string): Promise<void> {
    await this.revokeByGrantId(grantId)
    await this.redis.del(`${this.prefix}:Grant:{${grantId}}`)
  }

  async destroy(id: string): Promise<void> {
    // A destroyed Grant is revoked: nothing may be issued from it any more, nor the Grant saved again.
    if (this.model === 'Grant') await this.redis.set(this.tombstoneKey(id), '1', 'EX', GRANT_TOMBSTONE_SECONDS)
    // uid/userCode lookups are left to expire: they resolve only to an artifact that still
    // carries the same uid/userCode, so a dangling one finds nothing.
    await this.redis.del(this.key(id))
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    // First the tombstone, then the index: a token written meanwhile is either in the index read
    // below or refused by its own write (INDEX_ADD_LUA).
    await this.redis.set(this.tombstoneKey(grantId), '1', 'EX', GRANT_TOMBSTONE_SECONDS)
    const index = this.grantKey(grantId)
    const members = await this.redis.zrange(index, 0, -1)
    if (members.length === 0) return
    const batch = new SlotBatch()
    const byTag = new Map<string, string[]>()
    for (const member of members) {
      const tag = hashTagOf(member)
      const list = byTag.get(tag)
      if (list) list.push(member)
      else byTag.set(tag, [member])
    }
    for (const keys of byTag.values()) {
      for (let i = 0; i < keys.length; i += CHUNK) {
        const chunk = keys.slice(i, i + CHUNK)
        batch.add(chunk[0]!, (m) => { m.del(...chunk) })
      }
    }
    // Remove only what was deleted: a token written to the index meanwhile stays revocable.
    for (let i = 0; i < members.length; i += CHUNK) {
      const chunk = members.slice(i, i + CHUNK)
      batch.add(index, (m) => { m.zrem(index, ...chunk) })
    }
    await batch.exec(this.redis)
  }
}

/** Every script, by the command name it is defined as, with the number of keys it takes. */
const SCRIPTS: Record<string, { lua: string; keys: number }> = {
  [CONSUME_COMMAND]: { lua: CONSUME_LUA, keys: 1 },
  [PUT_COMMAND]: { lua: PUT_LUA, keys: 1 },
  [FIND_BY_LOOKUP_COMMAND]: { lua: FIND_BY_LOOKUP_LUA, keys: 1 },
  [INDEX_ADD_COMMAND]: { lua: INDEX_ADD_LUA, keys: 2 },
  [PUT_GRANT_COMMAND]: { lua: PUT_GRANT_LUA, keys: 2 },
}

function defineScripts(redis: RedisClient): void {
  const defined = redis as unknown as Record<string, unknown>
  for (const [name, { lua, keys }] of Object.entries(SCRIPTS)) {
    if (typeof defined[name] !== 'function') redis.defineCommand(name, { numberOfKeys: keys, lua })
  }
}

/**
 * The `adapter` for oidc-provider's configuration: `new Provider(issuer, { adapter:
 * createRedisAdapterFactory(redis) })`. The client may be a Redis (standalone or Sentinel) or a
 * Cluster; it is shared, not closed here.
 */
export function createRedisAdapterFactory(redis: Redis | Cluster, options: RedisAdapterOptions = {}): (name: string) => Adapter {
  const prefix = options.prefix ?? 'oidc'
  defineScripts(redis)
  const adapters = new Map<string, RedisAdapter>()
  return (name: string) => {
    let adapter = adapters.get(name)
    if (!adapter) {
      adapter = new RedisAdapter(redis, name, prefix)
      adapters.set(name, adapter)
    }
    return adapter
  }
}

// A process's short-lived copies of database reads that every request of a kind repeats (a
// client's registration, a resource server, a person's userinfo row). Two bounds, because the keys
// come from requests: a copy lives `ttlMs`, and past `maxEntries` the oldest copy goes, so a flood
// of made-up client ids or resource indicators cannot grow the process. A key longer than
// `maxKeyLength` is never kept (no registered id is that long; the read still happens).

export interface RecentReads<V> {
  /** The copy read within ttlMs, or undefined. */
  get(key: string): { value: V } | undefined
  set(key: string, value: V): void
  /** Forgets a copy (after this process changed what it copies). */
  delete(key: string): void
  readonly size: number
}

export function createRecentReads<V>(options: { ttlMs: number; maxEntries: number; maxKeyLength?: number }): RecentReads<V> {
  const { ttlMs, maxEntries, maxKeyLength = 1024 } = options
  // Insertion order is age order: set() deletes before it inserts.
  const copies = new Map<string, { value: V; until: number }>()
  return {
    get(key) {
      const hit = copies.get(key)
      if (!hit) return undefined
      if (hit.until > Date.now()) return { value: hit.value }
      copies.delete(key)
      return undefined
    },
    set(key, value) {
      if (key.length > maxKeyLength) return
      copies.delete(key)
      if (copies.size >= maxEntries) copies.delete(copies.keys().next().value!)
      copies.set(key, { value, until: Date.now() + ttlMs })
    },
    delete(key) {
      copies.delete(key)
    },
    get size() {
      return copies.size
    },
  }
}

// Prisma CLI configuration (migrate deploy / dev / status). Runs only in the CLI process.
// Prisma 6.19 with the wasm schema engine (`engine: 'js'`) so migrations work offline; see
// ../shared/recipes/prisma/README.md for the upstream bugs each workaround below answers.
//   PGLITE_DIR=<dir>        -> the embedded PGlite database in that folder
//   DATABASE_URL=postgres:// -> PostgreSQL
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { defineConfig } from 'prisma/config'
import { PrismaPg } from '@prisma/adapter-pg'
import { PGlite } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'

// Forward everything to `target`, binding methods (the adapters use #private fields).
function wrap<T extends object>(target: T, overrides: Record<string, unknown>): T {
  return new Proxy(target, {
    get(t: any, p) {
      if (typeof p === 'string' && p in overrides) return overrides[p]
      const v = t[p]
      return typeof v === 'function' ? v.bind(t) : v
    },
  })
}

// prisma/orm#27403: the engine introspects catalog columns of type `name`/`char` (OID 19/18, and
// name[] 1003) that adapter-pg cannot deserialize. Report them as text.
const TEXT_LIKE: Record<number, number> = { 18: 25, 19: 25, 1003: 1009 }
const origAddFields = (pg as any).Result.prototype.addFields
;(pg as any).Result.prototype.addFields = function (fields: Array<{ dataTypeID: number }>) {
  for (const f of fields) if (TEXT_LIKE[f.dataTypeID]) f.dataTypeID = TEXT_LIKE[f.dataTypeID]!
  return origAddFields.call(this, fields)
}

// adapter-pg's shadow database is the main database when given a connection string, and it drops
// the temporary database before closing its pool: create and drop our own shadow database.
class PgForMigrate extends PrismaPg {
  readonly cfg: pg.PoolConfig
  constructor(cfg: pg.PoolConfig) { super(cfg); this.cfg = cfg }
  override async connectToShadowDb(): Promise<any> {
    const name = `prisma_shadow_${randomUUID().replaceAll('-', '')}`
    const admin = async (sql: string) => {
      const c = new pg.Client(this.cfg); await c.connect()
      try { await c.query(sql) } finally { await c.end() }
    }
    await admin(`CREATE DATABASE "${name}"`)
    const shadow: any = await new PrismaPg({ ...this.cfg, database: name }).connect()
    return wrap(shadow, {
      dispose: async () => { await shadow.dispose(); await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) },
    })
  }
}

// PGlite: the stock executeScript does not await exec (errors would be lost), the shadow replays a
// whole migration.sql as one prepared statement (rejected by Postgres), and the CLI only exits
// once the database is closed.
function pgliteForCli(db: PGlite, inner: any) {
  const script = async (sql: string) => { try { await db.exec(sql) } catch (e) { inner.onError(e) } }
  return wrap(inner, {
    executeScript: script,
    executeRaw: async (q: { sql: string; args: unknown[] }) => {
      if (q.args.length === 0) { await script(q.sql); return 0 }
      return inner.executeRaw(q)
    },
    dispose: async () => { await db.close() },
  })
}
// PGlite's emscripten setitimer and the wasm schema engine re-arm 10 s timers that keep the CLI
// alive after deploy/status (the CLI never disposes there). Unref them, in the CLI process only.
const origSetTimeout = globalThis.setTimeout
;(globalThis as any).setTimeout = (...a: any[]) => {
  const t: any = (origSetTimeout as any)(...a)
  const stack = new Error().stack ?? ''
  if (stack.includes('__setitimer_js') || (a[1] >= 10000 && stack.includes('wasm://'))) t?.unref?.()
  return t
}
class PGliteForMigrate {
  readonly provider = 'postgres'
  readonly adapterName = 'pglite-prisma-adapter'
  readonly dir: string
  constructor(dir: string) { this.dir = dir }
  async connect() { const db = new PGlite(this.dir); return pgliteForCli(db, await new PrismaPGlite(db).connect()) }
  async connectToShadowDb() { const db = new PGlite('memory://'); return pgliteForCli(db, await new PrismaPGlite(db).connect()) }
}

function pgConfig(u: URL): pg.PoolConfig {
  return {
    host: u.hostname, port: Number(u.port || 5432),
    user: decodeURIComponent(u.username), password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)),
    allowExitOnIdle: true, idleTimeoutMillis: 200,
  }
}

// The CLI wants DATABASE_URL even when an adapter is given (else it tries to download a query
// engine); the embedded case has none.
process.env.DATABASE_URL ??= 'postgresql://embedded/unused'

const here = import.meta.dirname
export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join(here, 'schema.prisma'),
  migrations: { path: path.join(here, 'migrations') },
  async adapter() {
    const dir = process.env.PGLITE_DIR
    if (dir) return new PGliteForMigrate(dir) as any
    return new PgForMigrate(pgConfig(new URL(process.env.DATABASE_URL!)))
  },
})

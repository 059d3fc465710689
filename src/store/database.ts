// The database factory: PostgreSQL when DATABASE_URL is set, otherwise the embedded PGlite
// database in DATA_DIR/db. Both use the one schema and migration history in prisma/. Each opens
// a Prisma client (CRUD) and a Kysely instance on the same connections (the hand-written
// statements): docs/adr/0200-one-data-path.md.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { PrismaPg } from '@prisma/adapter-pg'
import { Kysely } from 'kysely'
import pg from 'pg'
import { poolDialect } from './sql-dialects.ts'
import { PrismaClient } from '../generated/prisma/client.ts'
import type { DB } from '../generated/kysely/database.ts'
import { PROJECT_ROOT } from '../project-root.ts'
import { makeOwnerOnly } from '../security/key-files.ts'

export type { PrismaClient }

export interface DatabaseTarget {
  /** postgresql://… or undefined for the embedded database */
  databaseUrl?: string | undefined
  /** folder that holds the embedded database (DATA_DIR) */
  dataDir: string
  /** PostgreSQL: run the hand-written statements as named prepared statements (src/store/sql-dialects.ts); default on */
  preparedStatements?: boolean | undefined
}

export interface Database {
  prisma: PrismaClient
  kind: 'postgres' | 'embedded'
  close(): Promise<void>
}

const typedSql = new WeakMap<PrismaClient, Kysely<DB>>()

/** The Kysely instance on the connections of `client` (a client openDatabase opened), else undefined. */
export function typedSqlOf(client: PrismaClient): Kysely<DB> | undefined {
  return typedSql.get(client)
}

export function embeddedDatabaseDir(dataDir: string): string {
  return path.resolve(dataDir, 'db')
}

/**
 * Applies pending migrations with `prisma migrate deploy` in a child process. For the embedded
 * database this must run before this process opens the folder: PGlite has no cross-process lock.
 */
export async function migrateDatabase(target: DatabaseTarget): Promise<void> {
  const require = createRequire(import.meta.url)
  const prismaCli = require.resolve('prisma/build/index.js')
  const env: NodeJS.ProcessEnv = { ...process.env }
  if (target.databaseUrl) {
    env.DATABASE_URL = target.databaseUrl
    delete env.PGLITE_DIR
  } else {
    const dir = embeddedDatabaseDir(target.dataDir)
    keepEmbeddedFilesPrivate()
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    env.PGLITE_DIR = dir
    delete env.DATABASE_URL
  }
  const unlock = target.databaseUrl ? () => undefined : lockEmbeddedDatabase(target.dataDir)
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [prismaCli, 'migrate', 'deploy', '--config', path.join(PROJECT_ROOT, 'prisma/prisma.config.ts')], {
      cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => { output += d })
    child.stderr.on('data', (d: Buffer) => { output += d })
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code === 0) resolve()
      else reject(new Error(`database migration failed (exit ${code}):\n${output.trim()}`))
    })
  }).finally(unlock)
  // A first migration creates the database: its initdb gives every file mode 0666.
  if (!target.databaseUrl) makeOwnerOnly(target.dataDir)
}

/**
 * The embedded database holds password hashes and sealed secrets: only the owner may read it.
 * PGlite's file system creates files through Node with the process's umask (initdb's files
 * excepted: they are explicitly 0666, hence makeOwnerOnly after it), so a umask without group and
 * other bits keeps every later file private too (WAL segments, new relations); the migration's
 * child process inherits it. Nothing else this process writes is meant for other users.
 */
function keepEmbeddedFilesPrivate(): void {
  process.umask(0o077)
}

export class DatabaseBusyError extends Error {
  override name = 'DatabaseBusyError'
}

/**
 * PGlite is single-process: two processes opening one folder corrupt it. A lock file with the
 * owner's pid keeps a CLI command from opening the database while the server runs.
 */
function lockEmbeddedDatabase(dataDir: string): () => void {
  const file = path.join(embeddedDatabaseDir(dataDir), '.iam.lock')
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' })
      return () => rmSync(file, { force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const owner = Number(readFileSync(file, 'utf8'))
      if (owner && owner !== process.pid && isAlive(owner)) {
        throw new DatabaseBusyError(`the embedded database in ${dataDir} is in use by process ${owner}; stop it first (or use PostgreSQL via DATABASE_URL for concurrent access)`)
      }
      rmSync(file, { force: true }) // stale: its owner is gone
    }
  }
  throw new DatabaseBusyError(`could not lock the embedded database in ${dataDir}`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export async function openDatabase(target: DatabaseTarget): Promise<Database> {
  if (target.databaseUrl) {
    // A connection attempt to an unreachable or hung server gives up after 5 s (pg waits forever
    // by default), so requests fail with a 503 instead of queueing (src/store/unavailable.ts).
    const pool = new pg.Pool({ connectionString: target.databaseUrl, max: 20, connectionTimeoutMillis: 5_000 })
    const adapter = new PrismaPg(pool, { disposeExternalPool: true })
    const prisma = new PrismaClient({ adapter })
    typedSql.set(prisma, new Kysely<DB>({ dialect: poolDialect(pool, { preparedStatements: target.preparedStatements !== false }) }))
    await prisma.$connect()
    return { prisma, kind: 'postgres', close: () => prisma.$disconnect() }
  }
  // Loaded only here: PGlite is ~4 MB of heap that a PostgreSQL deployment never uses.
  const [{ PGlite }, { pgliteAdapter }, { pgliteDialect }] = await Promise.all([
    import('@electric-sql/pglite'), import('./pglite-adapter.ts'), import('./sql-dialects.ts'),
  ])
  keepEmbeddedFilesPrivate()
  const unlock = lockEmbeddedDatabase(target.dataDir)
  try {
    const pglite = await PGlite.create(embeddedDatabaseDir(target.dataDir))
    makeOwnerOnly(target.dataDir) // a database created just now (without migrations) came from initdb
    const prisma = new PrismaClient({ adapter: pgliteAdapter(pglite) })
    typedSql.set(prisma, new Kysely<DB>({ dialect: pgliteDialect(pglite) }))
    return {
      prisma,
      kind: 'embedded',
      async close() { await prisma.$disconnect(); await pglite.close(); unlock() },
    }
  } catch (err) {
    unlock()
    throw err
  }
}

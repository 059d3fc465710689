// The database's connections: PostgreSQL when DATABASE_URL is set, otherwise the embedded PGlite
// database in DATA_DIR/db. Both use the one schema and migration history in prisma/. What opens
// here is a driver adapter (for Prisma's client) and a Kysely dialect (for the hand-written
// statements) on the same connections; src/queries/db.ts builds the clients on them
// (docs/adr/0200-one-data-path.md).
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { PrismaPg } from '@prisma/adapter-pg'
import type { Dialect } from 'kysely'
import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils'
import pg from 'pg'
import { poolDialect } from './sql-dialects.ts'
import { PROJECT_ROOT } from '../project-root.ts'
import { makeOwnerOnly } from '../security/key-files.ts'

export interface DatabaseTarget {
  /** postgresql://… or undefined for the embedded database */
  databaseUrl?: string | undefined
  /** folder that holds the embedded database (DATA_DIR) */
  dataDir: string
  /** PostgreSQL: run the hand-written statements as named prepared statements (src/store/sql-dialects.ts); default on */
  preparedStatements?: boolean | undefined
}

/** One database's connections, for Prisma's client (adapter) and Kysely (dialect) alike. */
export interface Connections {
  kind: 'postgres' | 'embedded'
  adapter: SqlDriverAdapterFactory
  dialect: Dialect
  /** After the clients on these connections are closed: releases what the adapter does not (PGlite, its lock). */
  release(): Promise<void>
}

export function embeddedDatabaseDir(dataDir: string): string {
  return path.resolve(dataDir, 'db')
}

/**
 * The migrations in prisma/migrations by folder name, each with the checksum Prisma records when it
 * applies one (the SHA-256 of its migration.sql, hex).
 */
export function localMigrations(): Map<string, string> {
  const dir = path.join(PROJECT_ROOT, 'prisma/migrations')
  const names = readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name)
  return new Map(names.map((name) => [name, createHash('sha256').update(readFileSync(path.join(dir, name, 'migration.sql'))).digest('hex')]))
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

export async function openConnections(target: DatabaseTarget): Promise<Connections> {
  if (target.databaseUrl) {
    // A connection attempt to an unreachable or hung server gives up after 5 s (pg waits forever
    // by default), so requests fail with a 503 instead of queueing (src/store/unavailable.ts).
    const pool = new pg.Pool({ connectionString: target.databaseUrl, max: 20, connectionTimeoutMillis: 5_000 })
    return {
      kind: 'postgres',
      // The adapter ends the pool when Prisma's client disconnects.
      adapter: new PrismaPg(pool, { disposeExternalPool: true }),
      dialect: poolDialect(pool, { preparedStatements: target.preparedStatements !== false }),
      release: async () => undefined,
    }
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
    return {
      kind: 'embedded',
      adapter: pgliteAdapter(pglite),
      dialect: pgliteDialect(pglite),
      async release() { await pglite.close(); unlock() },
    }
  } catch (err) {
    unlock()
    throw err
  }
}

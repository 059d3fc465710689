// Runs the real server as a child process in one of its two storage modes:
//   embedded        PGlite in a temp DATA_DIR, protocol artifacts in the database
//   postgres-redis  a real PostgreSQL and a real redis-server (append-only, so restarts keep data)
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { openMigratedDatabase } from '../../src/queries/migrations.ts'
import { embeddedDatabaseDir } from '../../src/store/database.ts'
import { openDatabase } from '../../src/queries/db.ts'
import type { PrismaClient } from '../../src/generated/prisma/client.ts'
import { databasesOn, startPostgres, type PostgresDatabases, type PostgresServer } from './postgres-server.ts'
import { createEmbeddedTemplate, createPostgresTemplate } from './global-setup.ts'
import { startRedis, type RedisServer } from './redis-server.ts'
import { exited, freePort, sleep, spawnWithParentDeath, trackTempDir } from './processes.ts'
import { TEST_ENCRYPTION_KEYS } from './mfa-fixtures.ts'

export type StorageMode = 'embedded' | 'postgres-redis'
export const STORAGE_MODES: StorageMode[] = ['embedded', 'postgres-redis']

const root = path.resolve(import.meta.dirname, '../..')

export interface IamInstance {
  mode: StorageMode
  issuer: string
  port: number
  env: Record<string, string>
  redis?: RedisServer
  /** Everything the server printed so far (JSON log lines). */
  logs(): string
  /** The running server process (to signal it and read its exit code), if started. */
  process(): ChildProcess | undefined
  start(): Promise<void>
  stop(): Promise<void>
  /** Runs with direct database access; in embedded mode only while the server is stopped. */
  withDatabase<T>(fn: (prisma: PrismaClient) => Promise<T>): Promise<T>
  /**
   * Direct database access now: alongside the running server on PostgreSQL; embedded, the server
   * stops meanwhile (after `settleMs`, for work it does after answering) and starts again.
   */
  databaseNow<T>(fn: (prisma: PrismaClient) => Promise<T>, opts?: { settleMs?: number }): Promise<T>
  close(): Promise<void>
}

// The run's PostgreSQL and the migrated databases to copy (test/support/global-setup.ts). A process
// the integration project did not set up (a unit test, bench/) starts and makes its own, on first use.
const provided = process.env.VITEST ? (await import('vitest')).inject('testDatabases') : undefined
let ownPostgres: Promise<PostgresServer> | undefined
let postgresTemplate: Promise<string> | undefined = provided && Promise.resolve(provided.postgresTemplate)
let embeddedTemplate: Promise<string> | undefined = provided && Promise.resolve(provided.embeddedTemplateDir)

async function postgresDatabases(): Promise<PostgresDatabases> {
  if (provided) return databasesOn(provided.postgresAdminUrl)
  ownPostgres ??= startPostgres()
  return ownPostgres
}

/** A fresh, empty database on the run's PostgreSQL (e.g. for instances that share one). */
export async function createTestDatabase(): Promise<string> {
  return (await postgresDatabases()).createDatabase()
}

/** A new database on the run's PostgreSQL with every migration applied (a copy). */
async function createMigratedTestDatabase(): Promise<string> {
  const postgres = await postgresDatabases()
  postgresTemplate ??= createPostgresTemplate(postgres)
  return postgres.createDatabase(undefined, { template: await postgresTemplate })
}

/** Puts a copy of a migrated embedded database into `dataDir`. */
async function copyMigratedEmbeddedDatabase(dataDir: string): Promise<void> {
  embeddedTemplate ??= createEmbeddedTemplate().then((dir) => { trackTempDir(dir); return dir })
  cpSync(embeddedDatabaseDir(await embeddedTemplate), embeddedDatabaseDir(dataDir), { recursive: true })
}

const RELAXED_RATE_LIMITS = Object.fromEntries([
  'SIGN_IN_IP', 'SIGN_IN_ACCOUNT', 'CODE_VERIFY_IP', 'CODE_VERIFY_ACCOUNT', 'CODE_SEND_IP', 'CODE_SEND_ACCOUNT',
  'REGISTRATION_IP', 'REGISTRATION_ACCOUNT', 'RESET_IP', 'RESET_ACCOUNT', 'TOKEN_CLIENT', 'CLIENT_AUTH_FAILURE',
].map((name) => [`RATE_LIMIT_${name}`, '10000/60']))

export interface CreateIamOptions {
  env?: Record<string, string>
  /**
   * The issuer's host (the server always listens on 127.0.0.1). 'localhost' for WebAuthn:
   * browsers refuse an IP address as the relying party id.
   */
  issuerHost?: '127.0.0.1' | 'localhost'
  /** Start from an empty database, which the first start migrates (default: a copy of a migrated one). */
  freshDatabase?: boolean
}

export async function createIam(mode: StorageMode, opts: CreateIamOptions = {}): Promise<IamInstance> {
  const dir = mkdtempSync(path.join(tmpdir(), 'iam-test-'))
  trackTempDir(dir)
  const port = await freePort()
  const issuer = `http://${opts.issuerHost ?? '127.0.0.1'}:${port}`
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: issuer,
    DATA_DIR: path.join(dir, 'data'),
    KEYS_DIR: path.join(dir, 'keys'),
    LOG_LEVEL: 'info',
    OUTBOUND_ALLOWED_HOSTS: '127.0.0.1,localhost',
    // Fixed so tests can seal TOTP seeds the server opens (test/support/mfa-fixtures.ts).
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    // Suites sign in, send and try codes far faster than people do, all from 127.0.0.1: generous
    // limits, so only the tests about limits (which pass small ones) meet them.
    ...RELAXED_RATE_LIMITS,
    // One process unless a test asks for workers (WORKERS defaults to the number of CPUs).
    WORKERS: '1',
    ...opts.env,
  }
  let redis: RedisServer | undefined
  let ownDatabase: string | undefined
  if (mode === 'postgres-redis') {
    // A test may bring its own database (e.g. on a PostgreSQL of its own that it stops).
    if (!opts.env?.DATABASE_URL) {
      env.DATABASE_URL = opts.freshDatabase ? await createTestDatabase() : await createMigratedTestDatabase()
      ownDatabase = env.DATABASE_URL
    }
    // … and its own Redis (a Cluster, a Sentinel set, one shared with another instance).
    if (!['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].some((name) => opts.env?.[name])) {
      redis = await startRedis({ appendonly: true })
      env.REDIS_URL = redis.url
    }
  }
  if (mode === 'embedded' && !opts.freshDatabase) await copyMigratedEmbeddedDatabase(env.DATA_DIR!)
  const target = { databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR! }

  let child: ChildProcess | undefined
  let output = ''

  const instance: IamInstance = {
    mode, issuer, port, env, ...(redis ? { redis } : {}),
    logs: () => output,
    process: () => child,
    async start() {
      if (child) return
      const proc = spawnWithParentDeath(process.execPath, ['src/main.ts', 'serve'], {
        cwd: root,
        env: { ...process.env, ...env },
      })
      child = proc
      proc.stdout!.on('data', (d: Buffer) => { output += d })
      proc.stderr!.on('data', (d: Buffer) => { output += d })
      const deadline = Date.now() + 90_000
      while (Date.now() < deadline) {
        if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}:\n${output}`)
        try {
          const res = await fetch(`${issuer}/healthz`)
          if (res.ok) return
        } catch {
          // not listening yet
        }
        await sleep(100)
      }
      throw new Error(`server did not start within 90 s:\n${output}`)
    },
    async stop() {
      if (!child) return
      const proc = child
      child = undefined
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      await exited(proc)
      clearTimeout(timer)
    },
    async databaseNow(fn, { settleMs = 0 } = {}) {
      if (mode === 'postgres-redis') {
        const db = await openDatabase(target)
        try {
          return await fn(db.prisma)
        } finally {
          await db.close()
        }
      }
      const running = Boolean(child)
      if (running) {
        await sleep(settleMs)
        await instance.stop()
      }
      try {
        return await instance.withDatabase(fn)
      } finally {
        if (running) await instance.start()
      }
    },
    async withDatabase(fn) {
      if (mode === 'embedded' && child) throw new Error('stop the embedded server before opening its database')
      const db = await openMigratedDatabase(target)
      try {
        return await fn(db.prisma)
      } finally {
        await db.close()
      }
    },
    async close() {
      await instance.stop()
      // Kept for reading after a failure (git-ignored).
      mkdirSync(path.join(root, 'test-results'), { recursive: true })
      writeFileSync(path.join(root, 'test-results', `server-${mode}-${port}.log`), output)
      await redis?.stop()
      // The run's PostgreSQL serves every file: its disk holds only the databases in use.
      if (ownDatabase) await (await postgresDatabases()).dropDatabase(ownDatabase)
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return instance
}

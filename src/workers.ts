// `serve` on every core (WORKERS, node:cluster): the primary has one short-lived worker prepare
// (migrations, key files, built-in clients), then forks the serving workers, which share the
// listening port; all state is in PostgreSQL and Redis, so any worker can serve any step of any
// flow. The primary restarts a worker that dies unexpectedly (with backoff) and, on SIGTERM/SIGINT,
// has every worker drain and stop, then exits (0 when all stopped cleanly).
//
// The primary never loads the app (server.ts and everything behind it: Prisma, oidc-provider, the
// password dictionary), so it stays at a fraction of a worker's memory.
//
// Per worker, not shared: the in-process rate-limit fallback (used only while Redis is away) and
// the Prometheus registry; /metrics answers their sum, which the primary gathers
// (src/observability/cluster-metrics.ts).
import cluster, { type Worker } from 'node:cluster'
import { totalmem } from 'node:os'
import type { Config } from './config.ts'
import type { Logger } from './observability/logger.ts'
import { usableCpus } from './cpu-limit.ts'
import { aggregateWorkerMetrics } from './observability/cluster-metrics.ts'
import type { RunningServer } from './server.ts'

/** A worker that lived at least this long before dying starts again without delay growth. */
const STABLE_MS = 30_000
const BACKOFF_MIN_MS = 250
const BACKOFF_MAX_MS = 30_000

export interface WorkerPlan {
  workers: number
  /** Why fewer workers run than were asked for (said in the first log line). */
  reason?: string | undefined
}

/** How many processes serve: WORKERS, except that the embedded database is one process's alone. */
export function planWorkers(config: Pick<Config, 'workers' | 'databaseUrl'>): WorkerPlan {
  if (config.workers > 1 && !config.databaseUrl) {
    return { workers: 1, reason: `one process: the embedded database cannot be shared by workers (WORKERS=${config.workers} ignored; set DATABASE_URL to use more)` }
  }
  return { workers: config.workers }
}

/**
 * libuv's thread pool runs argon2 hashing (and async fs, dns): the default 4 threads would queue
 * sign-ins on a bigger machine. Unless the operator set UV_THREADPOOL_SIZE, workers get
 * max(4, cores).
 */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): string {
  return env.UV_THREADPOOL_SIZE || String(Math.max(4, usableCpus()))
}

/**
 * Each worker's V8 heap limit under a container memory limit. Node sizes one process's heap from
 * the cgroup limit; WORKERS processes sharing that limit would each assume all of it, and together
 * be OOM-killed under load. Each gets half of an equal share for its heap (the other half: code,
 * buffers, argon2's 19 MiB per hash in flight). Nothing without a limit, or when NODE_OPTIONS or
 * the command line already set --max-old-space-size.
 */
export function workerHeapArgs(workers: number, limit = process.constrainedMemory(), total = totalmem(),
  given = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`): string[] {
  if (given.includes('--max-old-space-size') || !limit || limit >= total) return []
  return [`--max-old-space-size=${Math.max(64, Math.floor(limit / workers / 2 / 2 ** 20))}`]
}

/** Starts `serve` in this process: the cluster primary, a worker, or the single process. */
export async function serve(config: Config, logger: Logger): Promise<void> {
  if (cluster.isWorker) return process.env[ROLE_ENV] === 'prepare' ? runPrepare(config) : runWorker(config, logger)
  const plan = planWorkers(config)
  if (plan.workers > 1) return runPrimary(config, logger, plan.workers)
  const { startServer } = await import('./server.ts')
  const server = await startServer(config, logger, plan.reason ? { note: plan.reason } : {})
  onShutdownSignal(logger, config, server, { repeat: 'default' })
}

/**
 * SIGTERM/SIGINT (and, in a worker, the primary going away): unready, stop accepting, drain
 * in-flight requests (SHUTDOWN_TIMEOUT), close the stores, exit 0. In the single process a second
 * signal while draining falls to Node's default: immediate exit. A worker ignores repeats (a
 * terminal's Ctrl-C reaches it and its primary, which forwards it): the primary escalates instead.
 */
function onShutdownSignal(logger: Logger, config: Config, server: RunningServer, { repeat }: { repeat: 'default' | 'ignore' }): void {
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal, shutdownTimeout: config.shutdownTimeout }, 'shutting down: draining in-flight requests')
    try {
      await server.close()
      process.exit(0)
    } catch (err) {
      logger.error({ err }, 'shutdown failed')
      process.exit(1)
    }
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    if (repeat === 'default') process.once(signal, () => void stop(signal))
    else process.on(signal, () => void stop(signal))
  }
  // A worker whose primary died (SIGKILL, OOM) has no one to restart or stop it: drain and go.
  if (cluster.isWorker) process.once('disconnect', () => void stop('primary gone'))
}

/** Tells a forked worker that it only prepares (then exits 0), instead of serving. */
const ROLE_ENV = 'IAM_WORKER_ROLE'

async function runPrepare(config: Config): Promise<void> {
  const { prepareServer } = await import('./server.ts')
  await prepareServer(config)
  process.exit(0)
}

/** Runs prepareServer() in a worker of its own, so that the primary never loads the app. */
function prepareInWorker(env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    cluster.fork({ ...env, [ROLE_ENV]: 'prepare' }).once('exit', (code, signal) => {
      if (code === 0) resolve()
      else reject(new Error(`preparing the database and keys failed (exit ${code ?? signal}); the reason is printed above`))
    })
  })
}

/** The slot (1..WORKERS) a serving worker fills; a replacement takes the slot of the one that died. */
const SLOT_ENV = 'IAM_WORKER_SLOT'

async function runWorker(config: Config, baseLogger: Logger): Promise<void> {
  const id = Number(process.env[SLOT_ENV] ?? cluster.worker?.id ?? 0)
  const logger = baseLogger.child({ worker: id, pid: process.pid })
  const { startServer } = await import('./server.ts')
  const server = await startServer(config, logger, { prepared: true, role: `worker ${id}` })
  onShutdownSignal(logger, config, server, { repeat: 'ignore' })
}

async function runPrimary(config: Config, baseLogger: Logger, workers: number): Promise<void> {
  const logger = baseLogger.child({ primary: process.pid })
  const uvThreads = threadPoolSize()
  const heapArgs = workerHeapArgs(workers)
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...heapArgs] })
  logger.info({ workers, uvThreadpoolSize: Number(uvThreads), ...(heapArgs.length ? { workerHeap: heapArgs[0] } : {}), database: 'postgresql', redis: config.redis?.kind ?? 'none' },
    `starting ${workers} workers (WORKERS); migrations and first-start keys run once, first`)
  const env = { UV_THREADPOOL_SIZE: uvThreads }
  await prepareInWorker(env)

  let shuttingDown = false
  let failed = false
  const restarts = new Map<number, NodeJS.Timeout>()
  /** slot (1..workers) → consecutive quick deaths, for the backoff */
  const crashes = new Map<number, number>()
  const slotOf = new Map<Worker, { slot: number; started: number }>()
  /** Serving workers that listen: the ones a scrape's sum is gathered from. */
  const listening = new Set<Worker>()
  cluster.on('listening', (worker) => { if (slotOf.has(worker)) listening.add(worker) })
  aggregateWorkerMetrics(() => [...listening])

  const fork = (slot: number) => {
    const worker = cluster.fork({ ...env, [SLOT_ENV]: String(slot) })
    slotOf.set(worker, { slot, started: Date.now() })
  }

  cluster.on('exit', (worker, code, signal) => {
    const entry = slotOf.get(worker)
    slotOf.delete(worker)
    listening.delete(worker)
    // Logged as `exitCode`: the logger redacts every field named `code` (it could be an authorization code).
    if (shuttingDown) {
      if (code !== 0) failed = true
      logger.info({ worker: entry?.slot, pid: worker.process.pid, exitCode: code, signal }, 'worker stopped')
      if (slotOf.size === 0) {
        logger.info(failed ? 'stopped: a worker did not stop cleanly' : 'stopped: every worker drained and exited')
        process.exit(failed ? 1 : 0)
      }
      return
    }
    if (!entry) return
    const lived = Date.now() - entry.started
    const quick = lived < STABLE_MS ? (crashes.get(entry.slot) ?? 0) + 1 : 0
    crashes.set(entry.slot, quick)
    const delay = quick === 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (quick - 1))
    logger.error({ worker: entry.slot, pid: worker.process.pid, exitCode: code, signal, livedMs: lived, restartInMs: delay }, 'worker died unexpectedly; restarting it')
    restarts.set(entry.slot, setTimeout(() => {
      restarts.delete(entry.slot)
      if (!shuttingDown) fork(entry.slot)
    }, delay))
  })

  const stop = (signal: string) => {
    if (shuttingDown) return
    shuttingDown = true
    for (const timer of restarts.values()) clearTimeout(timer)
    restarts.clear()
    logger.info({ signal, workers: slotOf.size }, 'shutting down: every worker drains its in-flight requests')
    if (slotOf.size === 0) process.exit(0)
    for (const worker of slotOf.keys()) worker.process.kill('SIGTERM')
    // Workers cut their connections after SHUTDOWN_TIMEOUT; one that hangs past that is killed.
    setTimeout(() => {
      for (const worker of slotOf.keys()) {
        logger.error({ worker: slotOf.get(worker)?.slot, pid: worker.process.pid }, 'worker still running after SHUTDOWN_TIMEOUT + 10 s: killing it')
        worker.process.kill('SIGKILL')
      }
    }, (config.shutdownTimeout + 10) * 1000).unref()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))

  for (let slot = 1; slot <= workers; slot++) fork(slot)
}

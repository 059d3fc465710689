// Where the machine's cores went during a measurement, from /proc: this server's processes, its
// PostgreSQL backends, Redis, the load generator (wrk and the sign-in walkers, which run in this
// benchmark's own process) and the rest (kernel, PostgreSQL's background processes, anything
// else). On a 2-core machine every one of them competes with the server for the same cores.
import { readdirSync, readFileSync } from 'node:fs'
import { processTree } from './rss.ts'

/** Clock ticks per second of /proc times (USER_HZ): 100 on Linux for every architecture we run on. */
const TICKS = 100

/** utime + stime of a process (all its threads), and with `children` those of its reaped children. */
function processTicks(pid: number | 'self', children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14–17 of proc(5): utime, stime, cutime, cstime (f[0] is field 3).
    return Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)
  } catch {
    return 0 // exited
  }
}

/** What a server thread does, by the name Node and V8 give it (/proc/<pid>/task/<tid>/comm). */
function threadKind(name: string): keyof ServerThreads {
  if (name.startsWith('libuv-worker')) return 'libuv' // libuv's pool: argon2, async crypto, fs
  if (name.startsWith('V8Worker') || name.startsWith('V8 ')) return 'v8' // V8's platform threads: concurrent GC, compilation
  if (name === 'MainThread' || name === 'node') return 'main' // the event loop (named MainThread by Node 24)
  return 'other'
}

/** The server's ticks by kind of thread, over all its processes. */
function serverThreadTicks(pids: number[]): ServerThreads {
  const sums: ServerThreads = { main: 0, libuv: 0, v8: 0, other: 0 }
  for (const pid of pids) {
    let tids: string[]
    try {
      tids = readdirSync(`/proc/${pid}/task`)
    } catch {
      continue // exited
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        sums[threadKind(name)] += Number(f[11]) + Number(f[12])
      } catch {
        // exited
      }
    }
  }
  return sums
}

/** Busy and total ticks of the whole machine (/proc/stat "cpu" line). */
function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields
  return { busy: user + nice + system + irq + softirq + steal, total: user + nice + system + idle + iowait + irq + softirq + steal }
}

/** PostgreSQL backends serving `database` (their command line names it). */
function postgresBackends(database: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (cmd.startsWith('postgres: ') && cmd.includes(` ${database} `)) pids.push(Number(entry))
    } catch {
      // exited
    }
  }
  return pids
}

/** The server's cores by kind of thread: the event loops, libuv's pools (argon2), V8's helpers (GC), the rest. */
export interface ServerThreads { main: number; libuv: number; v8: number; other: number }

export interface CoreShares {
  /** Cores (CPU seconds per second) used by each party during the window; `idle` is what was left. */
  server: number
  /** `server` split by kind of thread (threads that exited during the window are missing from it). */
  serverThreads: ServerThreads
  postgres: number
  redis: number
  load: number
  other: number
  idle: number
}

/**
 * Starts counting; stop() answers the cores each party used since. `load` is this process and its
 * reaped children (wrk, which exits before stop() is called).
 */
export function countCores(who: { serverPid: number; redisPid: number | undefined; database: string }) {
  const snapshot = () => {
    const tree = processTree(who.serverPid)
    const server = tree.reduce((sum, pid) => sum + processTicks(pid), 0)
    const threads = serverThreadTicks(tree)
    const postgres = postgresBackends(who.database).reduce((sum, pid) => sum + processTicks(pid), 0)
    const redis = who.redisPid ? processTicks(who.redisPid) : 0
    return { at: performance.now(), server, threads, postgres, redis, load: processTicks('self', true), machine: machineTicks() }
  }
  const start = snapshot()
  return {
    stop(): CoreShares {
      const end = snapshot()
      const seconds = (end.at - start.at) / 1000
      // A process that exited meanwhile (a PostgreSQL backend) takes its ticks with it: never below 0.
      const cores = (ticks: number) => Math.round((Math.max(0, ticks) / TICKS / seconds) * 100) / 100
      const server = end.server - start.server
      const postgres = end.postgres - start.postgres
      const redis = end.redis - start.redis
      const load = end.load - start.load
      const busy = end.machine.busy - start.machine.busy
      const total = end.machine.total - start.machine.total
      // Per-machine ticks count every core: convert with the same wall time.
      return {
        server: cores(server),
        serverThreads: { main: cores(end.threads.main - start.threads.main), libuv: cores(end.threads.libuv - start.threads.libuv), v8: cores(end.threads.v8 - start.threads.v8), other: cores(end.threads.other - start.threads.other) },
        postgres: cores(postgres), redis: cores(redis), load: cores(load),
        other: cores(Math.max(0, busy - server - postgres - redis - load)), idle: cores(total - busy),
      }
    },
  }
}

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

export interface CoreShares {
  /** Cores (CPU seconds per second) used by each party during the window; `idle` is what was left. */
  server: number
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
    const server = processTree(who.serverPid).reduce((sum, pid) => sum + processTicks(pid), 0)
    const postgres = postgresBackends(who.database).reduce((sum, pid) => sum + processTicks(pid), 0)
    const redis = who.redisPid ? processTicks(who.redisPid) : 0
    return { at: performance.now(), server, postgres, redis, load: processTicks('self', true), machine: machineTicks() }
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
        server: cores(server), postgres: cores(postgres), redis: cores(redis), load: cores(load),
        other: cores(Math.max(0, busy - server - postgres - redis - load)), idle: cores(total - busy),
      }
    },
  }
}

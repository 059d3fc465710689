// Resident memory of a server's processes (the primary and its node:cluster workers), from /proc.
import { readFileSync } from 'node:fs'

function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/** `pid` and its direct children (cluster workers are children of the primary). */
export function processTree(pid: number): number[] {
  let children: number[] = []
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    // gone
  }
  return [pid, ...children]
}

export interface RssReport {
  /** Highest VmRSS seen per process while sampling, MB; key 'primary' or 'worker <pid>' or 'process'. */
  peakPerProcessMb: Record<string, number>
  /** VmRSS per process at the first sample (before the load), MB. */
  startPerProcessMb: Record<string, number>
  /** Highest simultaneous sum over the processes, MB. */
  peakTotalMb: number
  /** The kernel's own high-water mark (VmHWM) per process at stop(), MB: includes start-up. */
  hwmPerProcessMb: Record<string, number>
  /** VmRSS total at each sample, for the soak run. */
  series: Array<{ atS: number; totalMb: number }>
}

const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10

/** Samples every `intervalMs` until stop(). */
export function sampleRss(rootPid: number, intervalMs = 250, label: (pid: number) => string = (pid) => (pid === rootPid ? 'primary' : `worker ${pid}`)) {
  const peak = new Map<number, number>()
  const first = new Map<number, number>()
  let peakTotal = 0
  const series: RssReport['series'] = []
  const started = Date.now()
  const sample = () => {
    let total = 0
    for (const pid of processTree(rootPid)) {
      const rss = statusField(pid, 'VmRSS')
      if (rss === undefined) continue
      total += rss
      peak.set(pid, Math.max(peak.get(pid) ?? 0, rss))
      if (!first.has(pid)) first.set(pid, rss)
    }
    peakTotal = Math.max(peakTotal, total)
    series.push({ atS: Math.round((Date.now() - started) / 1000), totalMb: mb(total) })
  }
  sample()
  const timer = setInterval(sample, intervalMs)
  return {
    stop(): RssReport {
      clearInterval(timer)
      sample()
      const hwm: Record<string, number> = {}
      for (const pid of processTree(rootPid)) {
        const v = statusField(pid, 'VmHWM')
        if (v !== undefined) hwm[label(pid)] = mb(v)
      }
      return {
        peakPerProcessMb: Object.fromEntries([...peak].map(([pid, v]) => [label(pid), mb(v)])),
        startPerProcessMb: Object.fromEntries([...first].map(([pid, v]) => [label(pid), mb(v)])),
        peakTotalMb: mb(peakTotal),
        hwmPerProcessMb: hwm,
        series,
      }
    },
  }
}

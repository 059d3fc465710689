// How many CPUs this process may use: os.availableParallelism() counts the host's CPUs (or the
// cpuset), not a container's CPU quota (`docker run --cpus 2`, a Kubernetes CPU limit), which the
// kernel enforces through cgroups. WORKERS defaults to this.
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

/** CPUs a cgroup quota allows (rounded up), or undefined without one. v2 `cpu.max`: "200000 100000" | "max 100000". */
export function quotaCpus(cpuMax: string | undefined, v1Quota?: string, v1Period?: string): number | undefined {
  const [quota, period] = cpuMax !== undefined ? cpuMax.trim().split(/\s+/) : [v1Quota?.trim(), v1Period?.trim()]
  const q = Number(quota)
  const p = Number(period)
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined // "max" or -1: no quota
  return Math.max(1, Math.ceil(q / p))
}

const read = (file: string) => {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** The CPUs this process may use: the host's (or cpuset's), capped by a cgroup v2 or v1 CPU quota. */
export function usableCpus(): number {
  const quota = quotaCpus(read('/sys/fs/cgroup/cpu.max'), read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'), read('/sys/fs/cgroup/cpu/cpu.cfs_period_us'))
  return Math.min(availableParallelism(), quota ?? Infinity)
}

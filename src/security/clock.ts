// The clock that time-window rules read: lockout, single-use links, session lists. Production uses
// the system clock. Tests may name a file holding an offset in milliseconds (CLOCK_OFFSET_FILE,
// refused in production) and move time forward by rewriting it, instead of waiting.
import { readFileSync, statSync } from 'node:fs'

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  date(): Date
}

export const systemClock: Clock = { now: () => Date.now(), date: () => new Date() }

export function createClock(offsetFile: string | undefined): Clock {
  if (!offsetFile) return systemClock
  let cached = { mtimeMs: -1, offset: 0 }
  function offset(): number {
    try {
      const { mtimeMs } = statSync(offsetFile!)
      if (mtimeMs !== cached.mtimeMs) cached = { mtimeMs, offset: Number(readFileSync(offsetFile!, 'utf8').trim()) || 0 }
    } catch {
      cached = { mtimeMs: -1, offset: 0 }
    }
    return cached.offset
  }
  const now = () => Date.now() + offset()
  return { now, date: () => new Date(now()) }
}

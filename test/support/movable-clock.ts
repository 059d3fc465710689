// The server's clock, moved by tests instead of waiting: the server reads a millisecond offset
// from CLOCK_OFFSET_FILE (src/security/clock.ts). Pass `env` to createIam, then `advance`.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { trackTempDir } from './processes.ts'

export interface MovableClock {
  env: { CLOCK_OFFSET_FILE: string }
  /** Moves the server's clock forward; offsets add up over the clock's life. */
  advance(ms: number): void
}

export function createMovableClock(): MovableClock {
  const dir = mkdtempSync(path.join(tmpdir(), 'iam-clock-'))
  trackTempDir(dir)
  const file = path.join(dir, 'offset')
  writeFileSync(file, '0')
  let offset = 0
  return {
    env: { CLOCK_OFFSET_FILE: file },
    advance(ms: number) {
      offset += ms
      writeFileSync(file, String(offset))
    },
  }
}

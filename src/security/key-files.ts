// Key material generated on first start (embedded/dev) lives in KEYS_DIR as JSON files readable
// only by the owner. Two processes starting at once agree on whichever file was written first.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export function writePrivateFile(file: string, content: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  writeFileSync(file, content, { mode: 0o600, flag: 'wx' })
  chmodSync(file, 0o600)
}

/** Reads `file`, creating it first with `create()` when missing. Returns the file's text. */
export async function readOrCreatePrivateFile(file: string, create: () => string | Promise<string>): Promise<string> {
  if (!existsSync(file)) {
    const content = await create()
    try {
      writePrivateFile(file, content)
    } catch (err) {
      // Another process created it first: use theirs so both agree.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  return readFileSync(file, 'utf8')
}

// Files only the owner may read: key material generated on first start (embedded/dev) in KEYS_DIR,
// and the embedded database in DATA_DIR (password hashes, sealed factor secrets). Directories are
// 0700 and files 0600. Two processes starting at once agree on whichever key file was written first.
import { chmodSync, closeSync, existsSync, fchmodSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs'
import path from 'node:path'

export function writePrivateFile(file: string, content: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  writeFileSync(file, content, { mode: 0o600, flag: 'wx' })
  chmodSync(file, 0o600)
}

/** Appends `content` to `file`, which is (made) 0600; a missing folder is created 0700. */
export function appendPrivateFile(file: string, content: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const fd = openSync(file, 'a', 0o600)
  try {
    fchmodSync(fd, 0o600)
    writeSync(fd, content)
  } finally {
    closeSync(fd)
  }
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

export class PrivateFilesError extends Error {
  override name = 'PrivateFilesError'
}

/**
 * Takes group and other permissions off `root` and everything under it (directories 0700, files
 * 0600; symbolic links are left alone and not followed). Returns the paths it changed, so a start
 * can say that they had been open to other local users. A path it may not change (another owner,
 * a read-only mount) stops the start: the server does not run on files others can read.
 */
export function makeOwnerOnly(root: string): string[] {
  const changed: string[] = []
  const walk = (p: string) => {
    const stat = lstatSync(p, { throwIfNoEntry: false })
    if (!stat || stat.isSymbolicLink()) return // gone meanwhile (a running database's temporary file)
    if (stat.mode & 0o077) {
      try {
        chmodSync(p, stat.isDirectory() ? 0o700 : 0o600)
        changed.push(p)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new PrivateFilesError(`${p} is open to other users (mode ${(stat.mode & 0o777).toString(8)}) and could not be made private: ${(err as Error).message}`)
        }
      }
    }
    if (stat.isDirectory()) for (const name of entries(p)) walk(path.join(p, name))
  }
  walk(root)
  return changed
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

// A dependency as published, for comparing it with the patched one (patches/README.md): the
// benchmark's bare-provider baseline and test/unit/dependency-patches.test.ts. The installed package
// is copied and its patch from patches/ taken out again with `patch-package --reverse`, so the copy
// is the npm tarball's content (no network, no npm cache needed).
import { execFileSync } from 'node:child_process'
import { copyFileSync, cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'

/** The patch files in `root`/patches for `packageName` (patch-package names them `<name>+<version>.patch`). */
export function patchFilesOf(root: string, packageName: string): string[] {
  const prefix = `${packageName.replace('/', '+')}+`
  return readdirSync(path.join(root, 'patches')).filter((f) => f.startsWith(prefix) && f.endsWith('.patch'))
}

/**
 * Copies `root`/node_modules/`packageName` to `into`/node_modules/`packageName` with its patches
 * reversed; returns that directory. With `into` inside root's node_modules, the copy's own
 * dependencies resolve to the installed ones. Throws when a patch does not reverse cleanly.
 */
export function releasedCopy(root: string, packageName: string, into: string): string {
  const dir = path.join(into, 'node_modules', packageName)
  rmSync(into, { recursive: true, force: true })
  mkdirSync(path.join(into, 'patches'), { recursive: true })
  cpSync(path.join(root, 'node_modules', packageName), dir, { recursive: true })
  // patch-package works on the app whose package.json is nearest: this copy, with only this package's patches.
  writeFileSync(path.join(into, 'package.json'), '{ "name": "released-copy", "private": true }\n')
  for (const file of patchFilesOf(root, packageName)) copyFileSync(path.join(root, 'patches', file), path.join(into, 'patches', file))
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'patch-package', 'index.js'), '--reverse', '--error-on-fail'], {
    cwd: into,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  return dir
}

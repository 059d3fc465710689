// Run before `npm start` and `npm run iam` (prestart, preiam): makes a checkout installed with
// `npm ci --ignore-scripts` (no install scripts, no C++ toolchain) the same as one installed with
// them. What the root postinstall does, when it is not done yet:
//   - the Prisma client and the Kysely types (src/generated, git-ignored): generated when missing
//     or older than prisma/schema.prisma (`npm run generate`; offline: the engines are wasm);
//   - the dependency patches (patches/, docs/adr/0260-dependency-patches.md): `patch-package
//     --error-on-fail`, which leaves applied patches alone and stops the start when one no longer
//     applies. Its output is shown only then.
// Quiet when there is nothing to do; its messages go to stderr (the CLI's stdout stays its own).
// The container image runs `node src/main.ts` directly: the Dockerfile did all of this at build.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const schemaFile = path.join(root, 'prisma', 'schema.prisma')
const schemaTime = statSync(schemaFile).mtimeMs

/** When the files of a generator's output directory were last written (undefined: none there). */
function writtenAt(dir: string): number | undefined {
  let newest: number | undefined
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isFile()) newest = Math.max(newest ?? 0, statSync(path.join(dir, entry.name)).mtimeMs)
    }
  } catch { return undefined }
  return newest
}

// Every generator's `output` (relative to prisma/): the Prisma client, the Kysely types.
const outputs = [...readFileSync(schemaFile, 'utf8').matchAll(/^\s*output\s*=\s*"([^"]+)"/gm)].map((m) => path.resolve(root, 'prisma', m[1]!))
if (outputs.some((dir) => (writtenAt(dir) ?? -1) < schemaTime)) {
  console.error('prepare: generating the Prisma client and the Kysely types (npm run generate)')
  const run = spawnSync('npm', ['run', '--silent', 'generate'], { cwd: root, stdio: ['ignore', process.stderr, process.stderr], shell: process.platform === 'win32' })
  if (run.status !== 0) process.exit(run.status ?? 1)
}

const patches = spawnSync(process.execPath, [path.join(root, 'node_modules', 'patch-package', 'index.js'), '--error-on-fail'], { cwd: root, encoding: 'utf8' })
if (patches.status !== 0) {
  process.stderr.write(`${patches.stdout}${patches.stderr}`)
  console.error('prepare: a dependency patch does not apply (patches/README.md); nothing started')
  process.exit(patches.status ?? 1)
}

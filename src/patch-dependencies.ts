// `npm run patch-deps`: applies src/dependency-patches.ts to node_modules (postinstall, Dockerfile).
// Quiet when every patch is already in place (scripts/iam.sh runs it each time). Never fails an
// install: a file a new release rewrote is reported, not fatal.
import { applyDependencyPatches } from './dependency-patches.ts'
import { PROJECT_ROOT } from './project-root.ts'

for (const { patch, state, applied } of applyDependencyPatches(PROJECT_ROOT)) {
  const where = `${patch.package}/${patch.file}`
  if (state !== 'patched') console.warn(`dependency patches: ${where}: NOT applied (${state === 'unknown' ? 'the file changed in this release; bring src/dependency-patches.ts up to date' : 'file not found'}). The server works, but keeps each request in memory until a full garbage collection.`)
  else if (applied) console.log(`dependency patches: ${where}: ${patch.why}`)
}

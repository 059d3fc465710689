// The Dockerfile cannot be built here (no Docker engine), so this checks, on its text, that its
// steps mirror what README.md / scripts/iam.sh (the path CI proves) do, and that what it points at
// exists: the base image's Node major, npm ci and the install scripts, the entrypoint and its
// subcommands, the port, the health path, the files it copies.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { ARGON2_VARIANTS, nativeDir } from '../../src/identity/argon2-builds.ts'

const root = path.resolve(import.meta.dirname, '../..')
const read = (file: string) => readFileSync(path.join(root, file), 'utf8')

interface Instruction { op: string; args: string; stage: number }

/** Instructions with continuation lines joined and comments dropped; `stage` counts FROMs. */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = []
  let current = ''
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) && !current) continue
    if (/^\s*#/.test(line)) continue // a comment inside a continued instruction
    current += current ? ` ${line.trim()}` : line.trim()
    if (current.endsWith('\\')) { current = current.slice(0, -1).trimEnd(); continue }
    if (current) logical.push(current)
    current = ''
  }
  let stage = -1
  return logical.map((l) => {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(l) ?? []
    if (op.toUpperCase() === 'FROM') stage++
    return { op: op.toUpperCase(), args, stage }
  })
}

/** ENV instructions as a map (KEY=value pairs, unquoted). */
function envOf(instructions: Instruction[], stage: number): Record<string, string> {
  const env: Record<string, string> = {}
  for (const i of instructions.filter((x) => x.op === 'ENV' && x.stage === stage)) {
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '')
  }
  return env
}

/** Is `file` (a path in the build context) excluded by .dockerignore's patterns (no `!` support needed here)? */
function dockerignored(patterns: string[], file: string): boolean {
  const toRegex = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\u0000/g, '.*')}$`)
  const parts = file.split('/')
  return patterns.some((p) => parts.some((_, i) => toRegex(p.replace(/^\/|\/$/g, '')).test(parts.slice(0, i + 1).join('/'))))
}

const dockerfile = read('Dockerfile')
const instructions = parseDockerfile(dockerfile)
const stages = instructions.filter((i) => i.op === 'FROM')
const runtime = stages.length - 1
const pkg = JSON.parse(read('package.json')) as {
  engines: { node: string }; scripts: Record<string, string>; dependencies: Record<string, string>
  devDependencies: Record<string, string>; allowScripts: Record<string, boolean>
}
const iamSh = read('scripts/iam.sh')
const mainTs = read('src/main.ts')
const cliTs = read('src/cli.ts')
const runs = instructions.filter((i) => i.op === 'RUN' && i.stage === 0).map((i) => i.args).join(' && ').split(/\s*&&\s*/)
const json = (op: string) => JSON.parse(instructions.find((i) => i.op === op)!.args) as string[]

describe('Dockerfile parser (used below) can fail', () => {
  it('joins continuations, skips comments, counts stages', () => {
    const parsed = parseDockerfile('# c\nFROM a AS b\nRUN x \\\n  # inner\n  && y\nFROM c\nUSER 1')
    expect(parsed).toEqual([
      { op: 'FROM', args: 'a AS b', stage: 0 }, { op: 'RUN', args: 'x && y', stage: 0 },
      { op: 'FROM', args: 'c', stage: 1 }, { op: 'USER', args: '1', stage: 1 },
    ])
  })
  it('matches .dockerignore patterns like Docker', () => {
    expect(dockerignored(['node_modules', '*.md', 'src/generated'], 'node_modules/x/y.js')).toBe(true)
    expect(dockerignored(['*.md'], 'README.md')).toBe(true)
    expect(dockerignored(['*.md'], 'docs/deploy.md')).toBe(false)
    expect(dockerignored(['src/generated'], 'src/main.ts')).toBe(false)
    expect(dockerignored(['keys'], 'src/oidc/keys.ts')).toBe(false)
  })
})

describe('Dockerfile base image and Node', () => {
  const arg = instructions.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='))
  const image = (from: string) => from.split(/\s+/)[0]!.replace('${NODE_IMAGE}', arg?.args.split('=')[1] ?? '')

  it('is multi-stage from the official node image, slim, pinned by tag', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const s of stages) expect(image(s.args)).toMatch(/^node:\d+\.\d+\.\d+-bookworm-slim$/)
    expect(new Set(stages.map((s) => image(s.args))).size).toBe(1) // build and runtime share one base (argon2's binary)
  })

  it('Node = scripts/iam.sh NODE_VERSION (so the same major), within package.json engines', () => {
    const version = /^node:(\d+\.\d+\.\d+)-/.exec(image(stages[0]!.args))![1]!
    const major = Number(version.split('.')[0])
    const iamVersion = /^NODE_VERSION=(\d+\.\d+\.\d+)$/m.exec(iamSh)![1]!
    const minMajor = Number(/^MIN_NODE_MAJOR=(\d+)/m.exec(iamSh)![1])
    expect(version).toBe(iamVersion)
    expect(major).toBe(Number(iamVersion.split('.')[0]))
    expect(major).toBeGreaterThanOrEqual(minMajor)
    const engines = /^>=\s*(\d+)(?:\.(\d+))?/.exec(pkg.engines.node)
    expect(engines, `engines.node ${pkg.engines.node} is of the form >=X.Y`).not.toBeNull()
    expect(major).toBeGreaterThanOrEqual(Number(engines![1]))
    // iam.sh's minimum is the engines' (the first Node that strips types without a flag: 22.18)
    const minMinor = Number(/^MIN_NODE_MINOR=(\d+)/m.exec(iamSh)![1])
    expect(pkg.engines.node).toBe(`>=${minMajor}.${minMinor}`)
  })
})

describe('Dockerfile install steps mirror scripts/iam.sh', () => {
  it('npm ci, as iam.sh does, with install scripts run explicitly', () => {
    expect(iamSh).toMatch(/^\s+npm ci\b/m)
    const ci = runs.filter((r) => /^npm ci\b/.test(r))
    expect(ci).toEqual(['npm ci --ignore-scripts'])
  })

  it('runs exactly the install scripts package.json allowScripts permits', () => {
    const rebuilt = runs.filter((r) => r.startsWith('npm rebuild ')).flatMap((r) => r.split(/\s+/).slice(2))
    const allowed = Object.entries(pkg.allowScripts).filter(([, ok]) => ok).map(([name]) => name)
    expect(rebuilt.sort()).toEqual(allowed.sort())
  })

  it('runs the root postinstall itself (prisma generate, patch-package failing on a patch that no longer applies) after npm ci, with patches/ copied first', () => {
    expect(pkg.scripts.postinstall!.split(/\s*&&\s*/)).toEqual(['npm run generate', 'patch-package --error-on-fail'])
    const postinstall = runs.indexOf('npm run postinstall')
    expect(postinstall).toBeGreaterThan(runs.indexOf('npm ci --ignore-scripts'))
    const stage0 = instructions.filter((i) => i.stage === 0)
    const copyPatches = stage0.findIndex((i) => i.op === 'COPY' && /^patches\s+\.\/patches$/.test(i.args))
    expect(copyPatches).toBeGreaterThanOrEqual(0)
    expect(stage0.findIndex((i) => i.op === 'RUN' && i.args.includes('npm run postinstall'))).toBeGreaterThan(copyPatches)
    expect(readdirSync(path.join(root, 'patches')).filter((f) => f.endsWith('.patch')).length).toBeGreaterThan(0)
  })

  it('builds argon2\'s SIMD builds (opt-in elsewhere, never in postinstall) after the sources, into native/ that exists even when nothing is built; then prunes dev dependencies', () => {
    expect(pkg.scripts['build:argon2']).toBe('node scripts/build-argon2.ts')
    expect(pkg.scripts.postinstall).not.toContain('build:argon2')
    expect(Object.keys(pkg.scripts).filter((name) => /^(pre|post)?install$|^prepare$/.test(name))).toEqual(['postinstall'])
    const build = runs.indexOf('npm run build:argon2')
    const prune = runs.findIndex((r) => /^npm prune --omit=dev\b/.test(r))
    expect(build).toBeGreaterThan(runs.indexOf('npm run postinstall'))
    expect(runs.indexOf('mkdir -p native')).toBeGreaterThanOrEqual(0)
    expect(runs.indexOf('mkdir -p native')).toBeLessThan(build)
    expect(prune).toBeGreaterThan(build)
    // its code is in scripts/ and src/: the RUN comes after both are copied; the runtime gets native/.
    const stage0 = instructions.filter((i) => i.stage === 0)
    const buildRun = stage0.findIndex((i) => i.op === 'RUN' && i.args.includes('npm run build:argon2'))
    for (const copied of [/^src\s/, /^scripts\/build-argon2\.ts\s/]) {
      const at = stage0.findIndex((i) => i.op === 'COPY' && copied.test(i.args))
      expect(at, String(copied)).toBeGreaterThanOrEqual(0)
      expect(buildRun).toBeGreaterThan(at)
    }
    const copied = instructions.filter((i) => i.op === 'COPY' && i.stage === runtime).map((i) => i.args)
    expect(copied).toContain('--from=build /app/native ./native')
    // ...which is where the server looks for the builds.
    for (const v of ARGON2_VARIANTS) expect(nativeDir(v.name)).toBe(path.join(root, 'native', `argon2-${v.name}`))
  })

  it('every package src/ and prisma/ import at run time is a production dependency', () => {
    const imports = new Map([...runtimeImports(path.join(root, 'src')), ...runtimeImports(path.join(root, 'prisma'))])
    expect(imports.size).toBeGreaterThan(10)
    const missing = [...imports].filter(([name]) => !pkg.dependencies[name]).map(([name, file]) => `${name} (${file})`)
    expect(missing).toEqual([])
  })

  it('builds the admin console as iam.sh does (start and test), after the sources, before pruning; the runtime gets dist/console', () => {
    expect(pkg.scripts['build:console']).toMatch(/^vite build\b/)
    expect(pkg.devDependencies.vite).toBeDefined()
    // iam.sh: build_console runs in both `start` (before serving) and `test`.
    expect(iamSh).toMatch(/^build_console\(\) \{[^}]*npm run --silent build:console/m)
    for (const cmd of ['start', 'test']) {
      const body = new RegExp(`^  ${cmd}\\)\\n([\\s\\S]*?);;`, 'm').exec(iamSh)?.[1] ?? ''
      expect(body, `iam.sh ${cmd}`).toMatch(/^\s+build_console$/m)
    }
    const build = runs.indexOf('npm run build:console')
    expect(build).toBeGreaterThan(runs.indexOf('npm ci --ignore-scripts'))
    expect(build).toBeLessThan(runs.findIndex((r) => /^npm prune --omit=dev\b/.test(r)))
    const stage0 = instructions.filter((i) => i.stage === 0)
    const copySrc = stage0.findIndex((i) => i.op === 'COPY' && /^src\s/.test(i.args))
    const buildRun = stage0.findIndex((i) => i.op === 'RUN' && i.args.includes('npm run build:console'))
    expect(copySrc).toBeGreaterThanOrEqual(0)
    expect(buildRun).toBeGreaterThan(copySrc)
    const copied = instructions.filter((i) => i.op === 'COPY' && i.stage === runtime).map((i) => i.args)
    expect(copied).toContain('--from=build /app/dist/console ./dist/console')
    // vite.config.ts writes where src/admin/console-assets.ts reads.
    expect(read('src/admin/console/vite.config.ts')).toContain(`outDir: path.resolve(root, '../../../dist/console')`)
    expect(read('src/admin/console-assets.ts')).toContain(`path.resolve(import.meta.dirname, '../../dist/console')`)
  })

  it('keeps what the runtime and a production install need in production dependencies (pruning drops devDependencies); no TypeScript loader among them', () => {
    for (const name of ['prisma', '@prisma/client', 'argon2', 'patch-package']) {
      expect(pkg.dependencies[name], `${name} in dependencies`).toBeDefined()
      expect(pkg.devDependencies[name]).toBeUndefined()
    }
    expect(pkg.dependencies.tsx).toBeUndefined()
  })
})

/** Packages imported at run time (type-only imports are erased) by the .ts files under `dir`. */
function runtimeImports(dir: string): Map<string, string> {
  const found = new Map<string, string>()
  // The admin console's sources are bundled at build time (npm run build:console), never imported by the server.
  const consoleSources = path.join(root, 'src/admin/console')
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue
    const file = path.join(entry.parentPath, entry.name)
    if (file.startsWith(`${consoleSources}${path.sep}`)) continue
    for (const m of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)(?!\s+type\b)[^'"]*?from\s*['"]([^'"]+)['"]|\bimport\s*\(?\s*['"]([^'"]+)['"]/gm)) {
      const spec = m[1] ?? m[2]!
      if (spec.startsWith('.') || spec.startsWith('node:') || spec.startsWith('/')) continue
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
      if (!builtinModules.includes(name)) found.set(name, path.relative(root, file))
    }
  }
  return found
}

describe('Dockerfile runtime', () => {
  const env = envOf(instructions, runtime)

  it('starts the CLI the way `npm start` does: the same entry file, `serve` by default, Node without a loader', () => {
    const entrypoint = json('ENTRYPOINT')
    const cmd = json('CMD')
    // npm start = "node <file> serve"; the image runs the same: node <file>
    const [runner, file, command] = pkg.scripts.start!.split(/\s+/)
    expect(runner).toBe('node')
    expect(entrypoint).toEqual(['node', file])
    expect(cmd).toEqual([command])
    expect(existsSync(path.join(root, file!))).toBe(true)
    expect(pkg.scripts.iam).toBe(`node ${file}`)
    expect(dockerfile).not.toMatch(/--import|--loader|\btsx\b/)
  })

  it('the subcommands the image and the docs use exist in src/main.ts (serve) and src/cli.ts', () => {
    expect(mainTs).toContain(`argv[0] === 'serve'`)
    // src/cli.ts dispatches over a table of command modules (src/cli/<group>.ts).
    for (const sub of ['migrate', 'seed']) {
      expect(cliTs).toContain(`${sub}Commands`)
      expect(read(`src/cli/${sub}.ts`)).toContain(`name: '${sub}'`)
    }
    expect(dockerfile).toMatch(/iam migrate/)
    expect(iamSh).toMatch(/npm run --silent iam -- seed/)
    expect(iamSh).toMatch(/exec npm start/)
  })

  it('EXPOSE and PORT match the server default port', () => {
    const port = loadConfig({}).port
    expect(instructions.filter((i) => i.op === 'EXPOSE').map((i) => i.args)).toEqual([String(port)])
    expect(env.PORT).toBe(String(port))
  })

  it('HEALTHCHECK fetches /healthz with node (no curl in slim), a path the server answers', () => {
    const check = instructions.find((i) => i.op === 'HEALTHCHECK')!.args
    expect(check).toMatch(/CMD \["node", "-e", ".*fetch\(.*\/healthz/)
    // the health area (src/observability/health.ts), which src/app.ts mounts
    expect(read('src/observability/health.ts')).toContain(`ctx.path === '/healthz'`)
    expect(read('src/app.ts')).toContain(`'/healthz'`)
  })

  it('runs as uid 10001, production, state only under /var/lib/iam', () => {
    expect(instructions.filter((i) => i.op === 'USER' && i.stage === runtime).map((i) => i.args)).toEqual(['10001:10001'])
    expect(env.NODE_ENV).toBe('production')
    expect(env.DATA_DIR).toBe('/var/lib/iam/data')
    expect(env.KEYS_DIR).toBe('/var/lib/iam/keys')
    expect(instructions.find((i) => i.op === 'VOLUME')?.args).toBe('["/var/lib/iam"]')
    const config = loadConfig({ DATA_DIR: env.DATA_DIR, KEYS_DIR: env.KEYS_DIR })
    expect(config.dataDir).toBe('/var/lib/iam/data')
    expect(config.keysDir).toBe('/var/lib/iam/keys')
  })

  it('caps the young generation as scripts/iam.sh start and the benchmark do (one default)', () => {
    expect(env.NODE_OPTIONS).toBe('--max-semi-space-size=16')
    expect(iamSh).toContain(`export NODE_OPTIONS="\${NODE_OPTIONS:-${env.NODE_OPTIONS}}"`)
    // The benchmark runs the server with the image's NODE_OPTIONS, read from this Dockerfile.
    expect(read('bench/run.ts')).toContain('imageNodeOptions()')
  })

  it('ENV names that look like settings are settings of src/config.ts', () => {
    const schema = read('src/config.ts')
    const tooling = new Set(['CHECKPOINT_DISABLE', 'PRISMA_HIDE_UPDATE_MESSAGE', 'HOME', 'NODE_OPTIONS'])
    for (const name of Object.keys(env).filter((n) => !tooling.has(n))) expect(schema).toMatch(new RegExp(`^  ${name}:`, 'm'))
  })

  it('the runtime stage gets the sources, templates, migrations and production node_modules', () => {
    const copied = instructions.filter((i) => i.op === 'COPY' && i.stage === runtime).map((i) => i.args)
    for (const dir of ['node_modules', 'prisma', 'src', 'interactions', 'package.json', 'tsconfig.json']) {
      expect(copied.some((c) => c.startsWith('--from=build') && c.includes(`/app/${dir}`)), dir).toBe(true)
    }
    expect(copied.every((c) => c.startsWith('--from=build'))).toBe(true)
  })

  it('every file the build copies from the context exists and is not excluded by .dockerignore', () => {
    const ignore = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    const sources = instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1))
    expect(sources.length).toBeGreaterThan(3)
    for (const src of sources) {
      expect(existsSync(path.join(root, src)), src).toBe(true)
      expect(dockerignored(ignore, src), `${src} is in .dockerignore`).toBe(false)
    }
    // and local state never reaches the image
    for (const p of ['node_modules', 'src/generated', 'keys', 'data', '.env', '.git', 'native']) expect(dockerignored(ignore, p), p).toBe(true)
  })
})

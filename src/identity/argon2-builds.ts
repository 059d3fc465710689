// Which argon2 binary hashes passwords. scripts/build-argon2.ts (`npm run build:argon2`, opt-in, a
// step of the Docker build) compiles the argon2 package again with AVX-512 and with AVX2 (its
// prebuilt binary uses SSE2 only, at about twice the CPU per hash); this picks the widest build the
// CPU can run, and the package itself otherwise. A build is used only after it passes a
// known-answer self-test when loaded (below): all of them must compute the same argon2id, so
// hashes made by one verify with any other. See docs/adr/0261-argon2-builds.md.
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
  /** Those of `passedOver` that were built but broken (stale, not loadable, a wrong known answer): worth a warning. */
  failed: string[]
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

// The known answers a build must reproduce before it hashes a password. RFC 9106 section 5.3's
// argon2id test vector (secret, associated data, four lanes), and one hash at the parameters every
// password is hashed with (src/identity/passwords.ts HASH_OPTIONS: 19 MiB, t=2, p=1), as the
// package's own binary computes it. A constant, not the package's binary at run time: nothing else
// to load, and the package's binary is held to the same answers by the test.
export const KNOWN_ANSWERS = [
  {
    name: 'RFC 9106 argon2id',
    password: Buffer.alloc(32, 0x01),
    options: { type: 2, memoryCost: 32, timeCost: 3, parallelism: 4, hashLength: 32, salt: Buffer.alloc(16, 0x02), secret: Buffer.alloc(8, 0x03), associatedData: Buffer.alloc(12, 0x04) },
    hex: '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659',
  },
  {
    name: 'password parameters',
    password: Buffer.from('known-answer self-test'),
    options: { type: 2, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1, hashLength: 32, salt: Buffer.from('iam known answer') },
    hex: '4cd71ff845624dd5a665755e35ed85ee35529e07d88dd10a1a8353c61a13dbcc',
  },
] as const

/** Undefined when `argon2` reproduces every known answer, else what went wrong. */
export async function knownAnswerFailure(argon2: Argon2): Promise<string | undefined> {
  for (const known of KNOWN_ANSWERS) {
    let hex: string
    try {
      hex = (await argon2.hash(known.password, { ...known.options, raw: true })).toString('hex')
    } catch (error) {
      return `known-answer self-test (${known.name}) threw: ${(error as Error).message.split('\n')[0]}`
    }
    if (hex !== known.hex) return `known-answer self-test (${known.name}) failed: ${hex}, expected ${known.hex}`
  }
  return undefined
}

/** The widest build `choice` allows that this CPU runs and that passes the known-answer self-test, else the package's own binary. */
export async function loadArgon2(choice: Argon2Simd = 'auto', { flags = cpuFlags(), nativeRoot }: LoadOptions = {}): Promise<Argon2Build> {
  const passedOver: string[] = []
  const failed: string[] = []
  const fail = (reason: string) => { passedOver.push(reason); failed.push(reason) }
  const wanted = choice === 'off' ? [] : ARGON2_VARIANTS.filter((v) => choice === 'auto' || v.name === choice)
  const current = packageVersion()
  for (const variant of wanted) {
    if (process.arch !== 'x64' || !flags.has(variant.cpuFlag)) continue // not this CPU's: nothing to report
    const dir = nativeDir(variant.name, nativeRoot)
    const built = versionOf(dir)
    if (!built) { passedOver.push(`${variant.name}: not built (npm run build:argon2)`); continue }
    // A build left from an older argon2 after an upgrade: the package's own binary is current.
    if (built !== current) { fail(`${variant.name}: built from argon2 ${built}, the package is ${current} (npm run build:argon2)`); continue }
    let candidate: Argon2
    try {
      candidate = require(path.join(dir, 'argon2.cjs')) as Argon2
    } catch (error) {
      fail(`${variant.name}: ${(error as Error).message.split('\n')[0]}`)
      continue
    }
    const failure = await knownAnswerFailure(candidate)
    if (failure) { fail(`${variant.name}: ${failure}`); continue }
    return { argon2: candidate, name: variant.name, passedOver, failed }
  }
  return { argon2: require('argon2') as Argon2, name: 'portable', passedOver, failed }
}

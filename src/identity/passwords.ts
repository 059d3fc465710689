// Password hashing with argon2id at OWASP's recommended parameters (19 MiB, t=2, p=1).
import packageArgon2 from 'argon2'
import { loadArgon2, type Argon2Build, type Argon2Simd } from './argon2-builds.ts'

// Chosen once: by the server's start (ARGON2_SIMD, logged there), else at the first hash (the CLI,
// tests): the widest SIMD build this CPU runs that passes its known-answer self-test.
let chosen: Promise<Argon2Build> | undefined
const argon2 = async () => (await (chosen ??= loadArgon2().then(warnOfFailures))).argon2

function warnOfFailures(build: Argon2Build): Argon2Build {
  if (build.failed.length) console.warn(`password hashing: argon2 ${build.name} build; passed over: ${build.failed.join('; ')}`)
  return build
}

/** Applies ARGON2_SIMD (at start, before any hashing); returns the build for the start log. */
export function selectArgon2Build(choice: Argon2Simd): Promise<Argon2Build> {
  chosen = loadArgon2(choice)
  return chosen
}

/** The parameters every password hash is made with (argon2-builds.ts' known answer is one hash at them). */
export const HASH_OPTIONS = { type: 2 /* argon2id */, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const

export async function hashPassword(password: string): Promise<string> {
  return (await argon2()).hash(password, HASH_OPTIONS)
}

// Verifying against this when the user does not exist (or has no password) makes an unknown
// username cost the same time as a wrong password, so timing does not reveal which accounts exist.
let dummyHash: Promise<string> | undefined
function getDummyHash(): Promise<string> {
  dummyHash ??= hashPassword('dummy password that never matches anything')
  return dummyHash
}

/** Constant-effort check: always runs one argon2 verification. */
export async function verifyPassword(hash: string | null | undefined, password: string): Promise<boolean> {
  if (!hash) {
    await (await argon2()).verify(await getDummyHash(), password).catch(() => false)
    return false
  }
  try {
    return await (await argon2()).verify(hash, password)
  } catch {
    return false
  }
}

/** True for hashes made with other parameters or another argon2 variant (argon2's check ignores the variant). */
export function needsRehash(hash: string): boolean {
  // Parsing the PHC string only (the package's JavaScript, the same in every build).
  return !hash.startsWith('$argon2id$') || packageArgon2.needsRehash(hash, HASH_OPTIONS)
}

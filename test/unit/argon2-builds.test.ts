// argon2's SIMD builds (src/identity/argon2-builds.ts, built by `npm run build:argon2`): the server
// hashes with the widest one this CPU runs, every build computes the same argon2id as the package,
// and a missing, stale, broken or wrong build (its known-answer self-test) falls back instead of
// failing a sign-in.
import { createRequire } from 'node:module'
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import argon2 from 'argon2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ARGON2_VARIANTS, cpuFlags, KNOWN_ANSWERS, knownAnswerFailure, loadArgon2, nativeDir, packageVersion, type Argon2 } from '../../src/identity/argon2-builds.ts'
import { HASH_OPTIONS, hashPassword, selectArgon2Build, verifyPassword } from '../../src/identity/passwords.ts'

const flags = cpuFlags()
const runnable = process.platform === 'linux' && process.arch === 'x64' ? ARGON2_VARIANTS.filter((v) => flags.has(v.cpuFlag)) : []
const PARAMS = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const
// Inside the project, so copies of the builds resolve the package's dependencies as the real ones do.
const scratch = mkdtempSync(path.join(path.dirname(nativeDir('x')), '.test-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

describe('cpuFlags', () => {
  it('reads the first CPU\'s flags line of /proc/cpuinfo', () => {
    const sample = 'processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 avx512f\nbugs\t\t: none\n\nprocessor\t: 1\nflags\t\t: fpu\n'
    expect([...cpuFlags(sample)]).toEqual(['fpu', 'sse2', 'avx2', 'avx512f'])
    expect(cpuFlags('processor\t: 0\n').size).toBe(0)
  })
})

describe('loadArgon2', () => {
  it('picks the widest build this CPU runs, and it is built and current (nothing passed over)', async () => {
    const build = await loadArgon2('auto')
    expect(build.name).toBe(runnable[0]?.name ?? 'portable')
    expect(build.passedOver).toEqual([])
  })

  it('ARGON2_SIMD=avx2 never takes AVX-512; off takes the package\'s own binary', async () => {
    expect((await loadArgon2('avx2')).name).toBe(flags.has('avx2') && process.arch === 'x64' ? 'avx2' : 'portable')
    const off = await loadArgon2('off')
    expect(off.name).toBe('portable')
    expect(off.argon2).toBe(argon2)
  })

  it('a CPU without AVX2 gets the package\'s binary, with nothing to report', async () => {
    const build = await loadArgon2('auto', { flags: new Set(['fpu', 'sse2']) })
    expect(build).toMatchObject({ name: 'portable', passedOver: [] })
  })

  it('passes over a missing build, a build from another argon2 release and a broken binary, saying why', async () => {
    const all = new Set(ARGON2_VARIANTS.map((v) => v.cpuFlag))
    const empty = path.join(scratch, 'empty')
    const missing = await loadArgon2('auto', { flags: all, nativeRoot: empty })
    expect(missing.name).toBe('portable')
    if (process.arch !== 'x64') return
    expect(missing.passedOver).toEqual(ARGON2_VARIANTS.map((v) => `${v.name}: not built (npm run build:argon2)`))

    // Copies of the real builds: one claims another argon2 release, the other's binary is garbage.
    const [wide, narrow] = ARGON2_VARIANTS
    const root = path.join(scratch, 'native')
    for (const v of ARGON2_VARIANTS) cpSync(nativeDir(v.name), nativeDir(v.name, root), { recursive: true })
    writeFileSync(path.join(root, `argon2-${wide.name}`, 'BUILD.json'), JSON.stringify({ argon2: '0.0.1', cflag: wide.cflag }))
    writeFileSync(path.join(root, `argon2-${narrow.name}`, 'build', 'Release', 'argon2.node'), 'not an ELF file')
    const fallen = await loadArgon2('auto', { flags: all, nativeRoot: root })
    expect(fallen.name).toBe('portable')
    expect(fallen.passedOver[0]).toMatch(new RegExp(`^${wide.name}: built from argon2 0\\.0\\.1, the package is \\d+\\.\\d+\\.\\d+`))
    expect(fallen.passedOver[1]).toMatch(new RegExp(`^${narrow.name}: .*argon2\\.node: (file too short|invalid ELF header)`))
    expect(fallen.failed).toEqual(fallen.passedOver)
    expect(missing.failed).toEqual([])
  })
})

describe('known-answer self-test', () => {
  it('the package\'s own binary gives the known answers (RFC 9106\'s argon2id vector among them)', async () => {
    expect(KNOWN_ANSWERS[0].hex).toBe('0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659')
    // the second is a hash at the parameters every password is hashed with
    expect(KNOWN_ANSWERS[1].options).toMatchObject(HASH_OPTIONS)
    expect(await knownAnswerFailure(argon2)).toBeUndefined()
    for (const known of KNOWN_ANSWERS) expect((await argon2.hash(known.password, { ...known.options, raw: true })).toString('hex'), known.name).toBe(known.hex)
  })

  // A "build" on disk as scripts/build-argon2.ts leaves one (BUILD.json of the installed release,
  // argon2.cjs), whose hash is another argon2id than the package's: it hashes the password with one
  // byte more. It loads, runs, and answers wrongly; the loader must take the package's binary. The
  // same files with the right hash are taken, so it is the wrong answer that is refused.
  it.runIf(process.arch === 'x64')('a build that gives a wrong hash is passed over for the package\'s own binary, saying why', async () => {
    const packageModule = createRequire(import.meta.url).resolve('argon2')
    const fakeRoot = (name: string, hashBody: string) => {
      const root = path.join(scratch, name)
      const dir = nativeDir('avx2', root)
      mkdirSync(dir, { recursive: true })
      writeFileSync(path.join(dir, 'BUILD.json'), JSON.stringify({ argon2: packageVersion(), cflag: '-mavx2' }))
      writeFileSync(path.join(dir, 'argon2.cjs'), `const real = require(${JSON.stringify(packageModule)})\nmodule.exports = { ...real, hash: (password, options) => ${hashBody} }\n`)
      return root
    }
    const wrong = await loadArgon2('auto', { flags: new Set(['avx2']), nativeRoot: fakeRoot('wrong', `real.hash(Buffer.concat([Buffer.from(password), Buffer.from('!')]), options)`) })
    expect(wrong.name).toBe('portable')
    expect(wrong.argon2).toBe(argon2)
    expect(wrong.failed).toHaveLength(1)
    expect(wrong.failed[0]).toMatch(/^avx2: known-answer self-test \(RFC 9106 argon2id\) failed: [0-9a-f]{64}, expected 0d640df5/)
    expect(wrong.passedOver).toEqual(wrong.failed)

    const right = await loadArgon2('auto', { flags: new Set(['avx2']), nativeRoot: fakeRoot('right', 'real.hash(password, options)') })
    expect(right).toMatchObject({ name: 'avx2', passedOver: [], failed: [] })
    expect(right.argon2).not.toBe(argon2)

    const throwing = await loadArgon2('auto', { flags: new Set(['avx2']), nativeRoot: fakeRoot('throwing', `Promise.reject(new Error('illegal instruction'))`) })
    expect(throwing.name).toBe('portable')
    expect(throwing.failed).toEqual(['avx2: known-answer self-test (RFC 9106 argon2id) threw: illegal instruction'])
  })
})

describe.runIf(runnable.length > 0)('every build this CPU runs computes the package\'s argon2id', () => {
  const builds: [string, Argon2][] = [['portable', argon2]]
  beforeAll(async () => {
    for (const v of runnable) builds.push([v.name, (await loadArgon2(v.name === 'avx2' ? 'avx2' : 'auto', { flags: new Set([v.cpuFlag]) })).argon2])
  })

  it('the same raw hash for the same password and salt', async () => {
    const salt = Buffer.from('sixteen byte slt')
    for (const password of ['', 'correct horse battery staple', 'ünïcødé ✓ '.repeat(30)]) {
      const raw = await Promise.all(builds.map(([, a]) => a.hash(password, { ...PARAMS, salt, raw: true })))
      for (const r of raw) expect(r.toString('hex')).toBe(raw[0]!.toString('hex'))
    }
  })

  it('a hash made by any build verifies with every other, and a wrong password fails with each', async () => {
    for (const [maker, a] of builds) {
      const phc = await a.hash('a password of one build', PARAMS)
      for (const [checker, b] of builds) {
        expect(await b.verify(phc, 'a password of one build'), `${maker} → ${checker}`).toBe(true)
        expect(await b.verify(phc, 'a password of one build!'), `${maker} → ${checker}, wrong`).toBe(false)
      }
    }
  })

  it('passwords.ts: a hash stored under one ARGON2_SIMD setting verifies under the others', async () => {
    try {
      await selectArgon2Build('off')
      const stored = await hashPassword('stored before the upgrade')
      for (const choice of ['auto', 'avx2', 'off'] as const) {
        await selectArgon2Build(choice)
        expect(await verifyPassword(stored, 'stored before the upgrade'), choice).toBe(true)
        expect(await verifyPassword(stored, 'stored before the upgrade.'), choice).toBe(false)
      }
    } finally {
      await selectArgon2Build('auto')
    }
  })
})

// The dependency patches (patches/*.patch, applied by patch-package in npm install's postinstall;
// patches/README.md says what each does and why): applied in this checkout's install, applied by
// patch-package as an install does it (and failing the install when a patch no longer fits), and
// doing what they are for. That last part runs each package twice in a child process, as installed
// (patched) and as released (a copy with the patch reversed): for the memory patches it measures
// how much of many short-lived objects the young-generation collector promotes to old space (as
// released, every request or pipeline is kept; patched, none is); for the error patches it counts
// the errors built by successful requests, and checks that failures still answer the same.
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { PROJECT_ROOT } from '../../src/project-root.ts'
import { patchFilesOf, releasedCopy } from '../../scripts/released-package.ts'

/** Every patch in patches/: its package, the exact version it is for, and the files it changes. */
const PATCHES = readdirSync(path.join(PROJECT_ROOT, 'patches')).filter((f) => f.endsWith('.patch')).map((file) => {
  const [, name, version] = /^(.+)\+(\d+\.\d+\.\d+[^+]*)\.patch$/.exec(file)!
  const packageName = name!.replace('+', '/')
  const files = [...readFileSync(path.join(PROJECT_ROOT, 'patches', file), 'utf8').matchAll(/^\+\+\+ b\/node_modules\/(.+)$/gm)].map((m) => m[1]!.slice(packageName.length + 1))
  return { file, packageName, version: version!, files }
})

// Copies of the released packages live inside node_modules, so their own dependencies resolve.
const releasedRoot = path.join(PROJECT_ROOT, 'node_modules', '.cache', `iam-released-${process.pid}`)
afterAll(() => rmSync(releasedRoot, { recursive: true, force: true }))

const releasedDirs = new Map<string, string>()
const released = (packageName: string) => {
  if (!releasedDirs.has(packageName)) releasedDirs.set(packageName, releasedCopy(PROJECT_ROOT, packageName, path.join(releasedRoot, packageName)))
  return releasedDirs.get(packageName)!
}
const installed = (packageName: string) => path.join(PROJECT_ROOT, 'node_modules', packageName)

/** `patch-package --error-on-fail` (what postinstall runs) in the app at `cwd`. */
function patchPackage(cwd: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'node_modules', 'patch-package', 'index.js'), '--error-on-fail'], { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, FORCE_COLOR: '0' } })
  return { status: run.status, output: `${run.stdout}${run.stderr}` }
}

/** Runs `script` (an ES module body; `packageDir` is given) in a child with `nodeArgs`; its last line is JSON. */
function runChild<T>(script: string, packageDir: string, nodeArgs: string[] = []): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'iam-patch-'))
  try {
    const file = path.join(dir, 'child.mjs')
    writeFileSync(file, `const packageDir = ${JSON.stringify(packageDir)}\n${script}`)
    const out = execFileSync(process.execPath, [...nodeArgs, file], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] })
    return JSON.parse(out.trim().split('\n').at(-1)!) as T
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Runs `script` in a child with gc() exposed, a large initial old space, and helpers to read it. */
function measure(script: string, packageDir: string): { promotedMB: number; fullGCs: number } {
  return runChild(`
import { getHeapSpaceStatistics } from 'node:v8'
import { PerformanceObserver } from 'node:perf_hooks'
let fullGCs = 0
new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.detail?.kind !== 1) fullGCs++ }).observe({ entryTypes: ['gc'] })
const oldSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size
const young = () => { gc({ type: 'minor' }); gc({ type: 'minor' }) }
${script}
`, packageDir, ['--expose-gc', '--max-semi-space-size=16', '--initial-old-space-size=512', '--no-memory-reducer'])
}

// Each round: many objects made and dropped, then two young collections; old space is read before
// and after. No full collection may run in between (it would free what was promoted): the child
// starts with a large initial old space and no memory reducer, and counts full collections.
/** Runs `script` on the package as released and as patched: > 10 MB promoted against < 2 MB, no full collection in either. */
function expectNothingPromotedOncePatched(packageName: string, script: string): void {
  const asReleased = measure(script, released(packageName))
  const patched = measure(script, installed(packageName))
  const seen = JSON.stringify({ asReleased, patched })
  expect(asReleased.fullGCs, seen).toBe(0)
  expect(patched.fullGCs, seen).toBe(0)
  expect(asReleased.promotedMB, seen).toBeGreaterThan(10)
  expect(patched.promotedMB, seen).toBeLessThan(2)
}

const PIPELINES = `
const { default: Redis } = await import(packageDir + '/built/index.js')
const redis = new Redis({ lazyConnect: true, enableOfflineQueue: false })
await new Promise((r) => setTimeout(r, 50))
young(); const before = oldSpace(); const gcsBefore = fullGCs
for (let round = 0; round < 20; round++) {
  for (let i = 0; i < 500; i++) { const p = redis.pipeline(); p.payload = 'x'.repeat(2000) + i; if (p.length !== 0) throw new Error('length') }
  young()
}
await new Promise((r) => setTimeout(r, 50))
console.log(JSON.stringify({ promotedMB: (oldSpace() - before) / 2 ** 20, fullGCs: fullGCs - gcsBefore }))
redis.disconnect()
`

const REQUESTS = `
const { default: Provider } = await import(packageDir + '/lib/index.js')
const provider = new Provider('http://127.0.0.1', { clients: [] })
const http = await import('node:http')
const server = http.createServer(provider.callback())
await new Promise((r) => server.listen(0, '127.0.0.1', r))
// node:http as the client (fetch keeps each response's objects until a full collection by itself)
const agent = new http.Agent({ keepAlive: true, maxSockets: 20 })
const options = { host: '127.0.0.1', port: server.address().port, path: '/.well-known/openid-configuration', agent }
const get = () => new Promise((resolve, reject) => http.get(options, (res) => {
  let body = ''; res.setEncoding('utf8'); res.on('data', (d) => { body += d })
  res.on('end', () => JSON.parse(body).issuer ? resolve() : reject(new Error('no discovery')))
}).on('error', reject))
const burst = () => Promise.all(Array.from({ length: 100 }, get))
for (let i = 0; i < 3; i++) await burst()
young(); await new Promise((r) => setTimeout(r, 50)); young()
const before = oldSpace(); const gcsBefore = fullGCs
for (let round = 0; round < 30; round++) { await burst(); young() }
await new Promise((r) => setTimeout(r, 50))
console.log(JSON.stringify({ promotedMB: (oldSpace() - before) / 2 ** 20, fullGCs: fullGCs - gcsBefore }))
agent.destroy(); server.close()
`

// Successful userinfo and introspection requests against the provider as given, counting the
// errors built meanwhile: InvalidToken (it records its stack with Error.captureStackTrace) and
// TypeError (jose looks the global up when it builds one). Then the failures those errors are
// for, whose answers must not change: an unknown bearer token, an introspected JWT.
const ERRORS_ON_SUCCESS = `
const { default: Provider } = await import(packageDir + '/lib/index.js')
const http = await import('node:http')
const counts = { invalidToken: 0, typeError: 0 }
const capture = Error.captureStackTrace
Error.captureStackTrace = function (target, ...rest) { if (target?.name === 'InvalidToken') counts.invalidToken++; return capture.call(this, target, ...rest) }
globalThis.TypeError = new Proxy(TypeError, { construct(target, args, newTarget) { counts.typeError++; return Reflect.construct(target, args, newTarget) } })
const provider = new Provider('http://127.0.0.1', {
  clients: [{ client_id: 'rs', client_secret: 'a-secret-long-enough-for-the-provider', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }],
  features: { clientCredentials: { enabled: true }, introspection: { enabled: true }, userinfo: { enabled: true } },
  findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
})
const client = await provider.Client.find('rs')
const grant = new provider.Grant({ accountId: 'someone', clientId: 'rs' })
grant.addOIDCScope('openid')
const grantId = await grant.save()
const userToken = await new provider.AccessToken({ accountId: 'someone', client, grantId, scope: 'openid', gty: 'authorization_code' }).save()
const serviceToken = await new provider.ClientCredentials({ client, scope: '' }).save()
const server = http.createServer(provider.callback())
await new Promise((r) => server.listen(0, '127.0.0.1', r))
const base = 'http://127.0.0.1:' + server.address().port
const basic = 'Basic ' + Buffer.from('rs:a-secret-long-enough-for-the-provider').toString('base64')
const userinfo = (token) => fetch(base + '/me', { headers: { authorization: 'Bearer ' + token } })
const introspect = (token) => fetch(base + '/token/introspection', { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=' + token })
for (let i = 0; i < 2; i++) { await userinfo(userToken); await introspect(serviceToken) }
counts.invalidToken = 0; counts.typeError = 0
let ok = 0
for (let i = 0; i < 20; i++) {
  const me = await userinfo(userToken); if (me.status === 200 && (await me.json()).sub === 'someone') ok++
  const intro = await introspect(serviceToken); if (intro.status === 200 && (await intro.json()).active === true) ok++
}
const onSuccess = { ...counts, ok }
const unknown = await userinfo('not-a-token')
const jwt = await introspect('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.')
console.log(JSON.stringify({ onSuccess, unknownToken: [unknown.status, (await unknown.json()).error], introspectedJwt: [jwt.status, (await jwt.json()).error] }))
server.close()
`

describe('dependency patches', () => {
  it('patches/ holds the patches, each for a package pinned exactly at the installed version', () => {
    const manifest = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; scripts: Record<string, string> }
    expect(PATCHES.map((p) => p.packageName).sort()).toEqual(['ioredis', 'oidc-provider'])
    for (const { packageName, version, files } of PATCHES) {
      expect(manifest.dependencies[packageName], packageName).toBe(version)
      expect((JSON.parse(readFileSync(path.join(installed(packageName), 'package.json'), 'utf8')) as { version: string }).version, packageName).toBe(version)
      expect(files.length, packageName).toBeGreaterThan(0)
      expect(patchFilesOf(PROJECT_ROOT, packageName), packageName).toHaveLength(1)
    }
    // An install whose patch no longer applies fails (patch-package exits 0 on failure without the flag).
    expect(manifest.scripts.postinstall).toMatch(/(^|&& )patch-package --error-on-fail( &&|$)/)
  })

  it('are all applied in this checkout: each installed file is the released one with its patch (npm install ran patch-package)', () => {
    for (const { packageName, files } of PATCHES) {
      const app = path.dirname(path.dirname(released(packageName)))
      // the released copy differs in every file the patch touches...
      for (const file of files) expect(readFileSync(path.join(app, 'node_modules', packageName, file), 'utf8'), `${packageName}/${file}`).not.toBe(readFileSync(path.join(installed(packageName), file), 'utf8'))
      // ...and patched again, as an install does it, it is the installed package, file for file
      const copy = mkdtempSync(path.join(releasedRoot, 'apply-'))
      cpSync(app, copy, { recursive: true })
      expect(patchPackage(copy).status, packageName).toBe(0)
      for (const file of files) expect(readFileSync(path.join(copy, 'node_modules', packageName, file), 'utf8'), `${packageName}/${file}`).toBe(readFileSync(path.join(installed(packageName), file), 'utf8'))
    }
  }, 60_000)

  it('patch a released package once, and fail the install, leaving the file alone, when a release rewrote a patched file', () => {
    for (const { packageName, files } of PATCHES) {
      const releasedApp = path.dirname(path.dirname(released(packageName)))
      const app = mkdtempSync(path.join(releasedRoot, 'once-'))
      cpSync(releasedApp, app, { recursive: true })
      const file = path.join(app, 'node_modules', packageName, files[0]!)
      expect(patchPackage(app).status, packageName).toBe(0)
      const patched = readFileSync(file, 'utf8')
      // again: nothing changes, and that is no failure
      expect(patchPackage(app).status, packageName).toBe(0)
      expect(readFileSync(file, 'utf8')).toBe(patched)

      const rewritten = mkdtempSync(path.join(releasedRoot, 'rewritten-'))
      cpSync(releasedApp, rewritten, { recursive: true })
      const target = path.join(rewritten, 'node_modules', packageName, files[0]!)
      writeFileSync(target, '// a release that rewrote this file\n')
      const run = patchPackage(rewritten)
      expect(run.status, run.output).not.toBe(0)
      expect(run.output).toMatch(new RegExp(`Failed to apply patch for package ${packageName}`))
      expect(readFileSync(target, 'utf8')).toBe('// a release that rewrote this file\n')
    }
  }, 60_000)

  it('ioredis: a dropped pipeline is not promoted to old space (as released, each one is)', () => {
    // 10,000 pipelines holding ~2 KB each: ~19 MB as released
    expectNothingPromotedOncePatched('ioredis', PIPELINES)
  }, 60_000)

  it('oidc-provider: successful userinfo and introspection requests build no errors; failures answer as released', () => {
    interface Seen { onSuccess: { invalidToken: number; typeError: number; ok: number }; unknownToken: [number, string]; introspectedJwt: [number, string] }
    const asReleased = runChild<Seen>(ERRORS_ON_SUCCESS, released('oidc-provider'))
    const patched = runChild<Seen>(ERRORS_ON_SUCCESS, installed('oidc-provider'))
    const seen = JSON.stringify({ asReleased, patched })
    // 20 userinfo and 20 introspection requests, all answered
    expect(asReleased.onSuccess.ok, seen).toBe(40)
    expect(patched.onSuccess.ok, seen).toBe(40)
    // as released: three InvalidTokens per userinfo, at least one TypeError per introspection
    expect(asReleased.onSuccess.invalidToken, seen).toBe(60)
    expect(asReleased.onSuccess.typeError, seen).toBeGreaterThanOrEqual(20)
    expect(patched.onSuccess, seen).toEqual({ invalidToken: 0, typeError: 0, ok: 40 })
    expect(patched.unknownToken, seen).toEqual([401, 'invalid_token'])
    expect(patched.introspectedJwt, seen).toEqual([400, 'unsupported_token_type'])
    expect({ unknownToken: asReleased.unknownToken, introspectedJwt: asReleased.introspectedJwt }, seen).toEqual({ unknownToken: patched.unknownToken, introspectedJwt: patched.introspectedJwt })
  }, 60_000)

  it('oidc-provider: a finished request is not promoted to old space (as released, each one is)', () => {
    // 3000 discovery requests: ~19 MB as released
    expectNothingPromotedOncePatched('oidc-provider', REQUESTS)
  }, 60_000)
})

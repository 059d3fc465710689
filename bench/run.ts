// `npm run bench`: this server in production mode (PostgreSQL + Redis, WORKERS=2 and 1) against a
// bare oidc-provider 9 as released (bench/bare-provider.ts, without patches/)
// under the same load, each scenario against every server back to back (all up, one loaded at a
// time). See docs/performance.md.
//
// Settings (environment):
//   BENCH_SECONDS=10            measured seconds per load scenario
//   BENCH_WARMUP_SECONDS=3      unmeasured load before each scenario (JIT, pools, caches)
//   BENCH_CONNECTIONS=32        wrk connections
//   BENCH_WORKERS=2,1           WORKERS values to run this server with, in order
//   BENCH_SIGNIN_WALKERS=8      concurrent walkers in the sustained sign-in scenario
//   BENCH_CONCURRENT_SIGNINS=100  sign-ins started at once in the burst scenario
//   BENCH_BARE_PROCESSES=<cores>  the bare provider again as this many processes (node:cluster), for
//                               client credentials only: what this machine allows any server built
//                               on oidc-provider (the ceiling for ours/bare); 1 skips it
//   BENCH_SOAK=1                instead: client credentials (opaque) for BENCH_SOAK_SECONDS (600)
//                               against this server only, RSS sampled throughout
//   BENCH_OUT=bench/results/latest.json
//   BENCH_SERVER_NODE_OPTIONS   added to the image's NODE_OPTIONS for this server's processes (later
//                               flags win; e.g. --cpu-prof --cpu-prof-dir=DIR, --max-old-space-size=256)
//   BENCH_BASELINE=DIR          also run this server from DIR (a checkout of another commit, ready to
//                               run: `git worktree add DIR <commit>`, node_modules linked, src/generated
//                               copied), as "baseline", next to "ours" in every scenario: an A/B of two
//                               commits on the same stores, seconds apart
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { spawnSync, type ChildProcess } from 'node:child_process'
import { startPostgres } from '../test/support/postgres-server.ts'
import { startRedis } from '../test/support/redis-server.ts'
import { exited, freePort, sleep, spawnWithParentDeath } from '../test/support/processes.ts'
import { migrateDatabase } from '../src/store/database.ts'
import { openDatabase } from '../src/queries/db.ts'
import { generateJwks } from '../src/oidc/keys.ts'
import { createUser } from '../src/identity/users.ts'
import { assignRole, ensureRole } from '../src/identity/roles.ts'
import { createClient } from '../src/clients/registry.ts'
import { registerResourceServer } from '../src/oidc/resource-servers.ts'
import { releasedCopy } from '../scripts/released-package.ts'
import { fullSignIn, percentile, runWrk, SPA_REDIRECT, type LoadResult, type RequestSpec } from './load.ts'
import { sampleRss, type RssReport } from './rss.ts'
import { countCores, type CoreShares } from './cpu.ts'

const root = path.resolve(import.meta.dirname, '..')
const num = (name: string, fallback: number) => {
  const v = process.env[name]
  if (v === undefined || v === '') return fallback
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`)
  return n
}
const SECONDS = num('BENCH_SECONDS', 10)
const WARMUP = num('BENCH_WARMUP_SECONDS', 3)
const CONNECTIONS = num('BENCH_CONNECTIONS', 32)
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '2,1').split(',').map((w) => Number(w.trim()))
const WALKERS = num('BENCH_SIGNIN_WALKERS', 8)
const CONCURRENT = num('BENCH_CONCURRENT_SIGNINS', 100)
const BARE_PROCESSES = num('BENCH_BARE_PROCESSES', cpus().length)
const SOAK = process.env.BENCH_SOAK === '1'
const SOAK_SECONDS = num('BENCH_SOAK_SECONDS', 600)
const OUT = path.resolve(root, process.env.BENCH_OUT ?? 'bench/results/latest.json')
const BASELINE = process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : undefined
/** The servers of this code (and of BENCH_BASELINE's), in the order they are measured: for each WORKERS value, ours then the baseline. */
const OURS = WORKER_COUNTS.flatMap((workers) => [{ label: 'ours', workers, cwd: root }, ...(BASELINE ? [{ label: 'baseline', workers, cwd: BASELINE }] : [])])
const reportKey = (o: { label: string; workers: number }) => `${o.label}_workers${o.workers}`
if (BASELINE && !existsSync(path.join(BASELINE, 'src/main.ts'))) throw new Error(`BENCH_BASELINE=${BASELINE}: no src/main.ts there`)
if (BASELINE && !existsSync(path.join(BASELINE, 'node_modules'))) throw new Error(`BENCH_BASELINE=${BASELINE}: no node_modules there (link this checkout's: ln -s ${path.join(root, 'node_modules')} ${path.join(BASELINE, 'node_modules')})`)

const SERVICE_SECRET = `bench-service-secret-${randomBytes(16).toString('hex')}`
const API = 'https://api.bench.test'
const PASSWORD = 'correct horse battery staple'
const USERS = Math.max(CONCURRENT, WALKERS, 1)
// Far above what this benchmark sends (and so never refusing it): the limits still run, count in Redis, on every request.
const UNREACHED_RATE_LIMIT = '1000000000/60'
const RATE_LIMITS = Object.fromEntries(['SIGN_IN_IP', 'SIGN_IN_ACCOUNT', 'CODE_VERIFY_IP', 'CODE_VERIFY_ACCOUNT', 'CODE_SEND_IP', 'CODE_SEND_ACCOUNT',
  'REGISTRATION_IP', 'REGISTRATION_ACCOUNT', 'RESET_IP', 'RESET_ACCOUNT', 'TOKEN_CLIENT'].map((n) => [`RATE_LIMIT_${n}`, UNREACHED_RATE_LIMIT]))

/** The Dockerfile's NODE_OPTIONS (V8 heap flags), so that the server runs here as in the image. */
function imageNodeOptions(): string {
  const m = /^\s*NODE_OPTIONS=(\S+)/m.exec(readFileSync(path.join(root, 'Dockerfile'), 'utf8'))
  if (!m) throw new Error('no NODE_OPTIONS in the Dockerfile')
  return m[1]!
}

const log = (...args: unknown[]) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...args)
const basic = `Basic ${Buffer.from(`svc:${SERVICE_SECRET}`).toString('base64')}`
const FORWARDED = { 'X-Forwarded-Proto': 'https' }

interface Target {
  name: string
  issuer: string
  /** where the load goes: http://127.0.0.1:PORT (TLS would end at a proxy in front) */
  base: string
  pid: number
  userAccessToken: string
  /** what it is measured on: all of SCENARIOS, or (the bare provider on several processes) client credentials */
  scenarios: readonly Scenario[]
}

async function waitHealthy(base: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output()}`)
    try {
      if ((await fetch(`${base}/healthz`)).ok) return
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  throw new Error(`server did not start within 120 s:\n${output()}`)
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited(child)
  clearTimeout(timer)
}

function specs(userAccessToken: string, opaqueToken: string): Record<Scenario, RequestSpec> {
  const form = { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic, ...FORWARDED }
  return {
    'client_credentials opaque': { method: 'POST', path: '/token', headers: form, body: 'grant_type=client_credentials' },
    'client_credentials jwt': { method: 'POST', path: '/token', headers: form, body: `grant_type=client_credentials&resource=${encodeURIComponent(API)}&scope=read` },
    introspection: { method: 'POST', path: '/token/introspection', headers: form, body: `token=${opaqueToken}` },
    userinfo: { method: 'GET', path: '/me', headers: { Authorization: `Bearer ${userAccessToken}`, ...FORWARDED } },
  }
}
// Userinfo and introspection first: the bare provider's in-memory adapter is an LRU of 1000 entries,
// so the tokens they present would be evicted by the client-credentials runs' tokens.
const SCENARIOS = ['userinfo', 'introspection', 'client_credentials opaque', 'client_credentials jwt'] as const
type Scenario = (typeof SCENARIOS)[number]
const CLIENT_CREDENTIALS: readonly Scenario[] = ['client_credentials opaque', 'client_credentials jwt']

async function send(base: string, spec: RequestSpec): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body ?? null })
  return { status: res.status, json: (await res.json()) as Record<string, unknown> }
}

/** One request of each kind, checked, so the load measures working responses (and the opaque token to introspect). */
async function precheck(t: Target): Promise<Record<Scenario, RequestSpec>> {
  const probe = specs(t.userAccessToken, '')
  const opaque = await send(t.base, probe['client_credentials opaque'])
  const token = opaque.json.access_token
  if (opaque.status !== 200 || typeof token !== 'string' || token.includes('.')) throw new Error(`${t.name}: opaque client_credentials failed: ${JSON.stringify(opaque)}`)
  const jwt = await send(t.base, probe['client_credentials jwt'])
  const at = String(jwt.json.access_token ?? '')
  const header = at.includes('.') ? JSON.parse(Buffer.from(at.split('.')[0]!, 'base64url').toString()) as { alg?: string; typ?: string } : {}
  const payload = at.includes('.') ? JSON.parse(Buffer.from(at.split('.')[1]!, 'base64url').toString()) as { aud?: unknown } : {}
  if (jwt.status !== 200 || header.alg !== 'ES256' || header.typ !== 'at+jwt' || payload.aud !== API) throw new Error(`${t.name}: JWT client_credentials failed: ${JSON.stringify(jwt)}`)
  const all = specs(t.userAccessToken, token)
  if (!t.scenarios.includes('introspection')) return all
  const intro = await send(t.base, all.introspection)
  if (intro.status !== 200 || intro.json.active !== true) throw new Error(`${t.name}: introspection failed: ${JSON.stringify(intro)}`)
  const me = await send(t.base, all.userinfo)
  if (me.status !== 200 || typeof me.json.sub !== 'string') throw new Error(`${t.name}: userinfo failed: ${JSON.stringify(me)}`)
  return all
}

/** Redis and the database, for the cores each party used (bench/cpu.ts); set once they run. */
let stores = { redisPid: undefined as number | undefined, database: 'iam_bench' }
const coresOf = (t: Target) => countCores({ serverPid: t.pid, ...stores })

type Measured = LoadResult & { cores: CoreShares }

/** One load scenario against one server: warm-up, the measured run (with the cores it took), and the token still valid after it. */
async function measureScenario(t: Target, spec: RequestSpec, scenario: Scenario, dir: string): Promise<Measured> {
  const name = `${t.name}-${scenario}`.replace(/[^a-z0-9]+/gi, '-')
  await runWrk(t.base, spec, { connections: CONNECTIONS, seconds: WARMUP, threads: 1, dir, name })
  const counter = coresOf(t)
  const r = { ...await runWrk(t.base, spec, { connections: CONNECTIONS, seconds: SECONDS, threads: 1, dir, name }), cores: counter.stop() }
  // Still valid after the run (an introspection of a forgotten token would answer 200 active:false).
  if (scenario === 'introspection' || scenario === 'userinfo') {
    const after = await send(t.base, spec)
    if (after.status !== 200 || (scenario === 'introspection' ? after.json.active !== true : typeof after.json.sub !== 'string')) {
      throw new Error(`${t.name} ${scenario}: the token was no longer valid after the run: ${JSON.stringify(after)}`)
    }
  }
  if (r.errors) log(`${t.name} ${scenario}: ${r.errors} errors (non-2xx/3xx or socket errors): the result is not valid`)
  log(`${t.name} ${scenario}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, errors ${r.errors}, cores ${JSON.stringify(r.cores)}`)
  return r
}

interface SignInResult { completed: number; failed: number; seconds: number; perSecond: number; p50Ms: number; p99Ms: number; maxMs: number; cores: CoreShares; firstError?: string }

async function sustainedSignIns(t: Target): Promise<SignInResult> {
  const durations: number[] = []
  let failed = 0
  let firstError: string | undefined
  let next = 0
  const counter = coresOf(t)
  const started = performance.now()
  const until = started + SECONDS * 1000
  await Promise.all(Array.from({ length: WALKERS }, async () => {
    while (performance.now() < until) {
      const user = `bench${next++ % USERS}@example.test`
      const t0 = performance.now()
      try {
        await fullSignIn(t.issuer, t.base, user, PASSWORD)
        durations.push(performance.now() - t0)
      } catch (err) {
        failed++
        firstError ??= (err as Error).message.slice(0, 500)
      }
    }
  }))
  const seconds = (performance.now() - started) / 1000
  durations.sort((a, b) => a - b)
  return { completed: durations.length, failed, seconds, perSecond: durations.length / seconds, p50Ms: percentile(durations, 50), p99Ms: percentile(durations, 99), maxMs: durations.at(-1) ?? NaN, cores: counter.stop(), ...(firstError ? { firstError } : {}) }
}

async function burstSignIns(t: Target): Promise<SignInResult & { allDoneMs: number }> {
  const durations: number[] = []
  let failed = 0
  let firstError: string | undefined
  const counter = coresOf(t)
  const started = performance.now()
  await Promise.all(Array.from({ length: CONCURRENT }, async (_, i) => {
    const t0 = performance.now()
    try {
      await fullSignIn(t.issuer, t.base, `bench${i % USERS}@example.test`, PASSWORD)
      durations.push(performance.now() - t0)
    } catch (err) {
      failed++
      firstError ??= (err as Error).message.slice(0, 500)
    }
  }))
  const allDoneMs = performance.now() - started
  const cores = counter.stop()
  durations.sort((a, b) => a - b)
  return { completed: durations.length, failed, seconds: allDoneMs / 1000, perSecond: durations.length / (allDoneMs / 1000), allDoneMs, p50Ms: percentile(durations, 50), p99Ms: percentile(durations, 99), maxMs: durations.at(-1) ?? NaN, cores, ...(firstError ? { firstError } : {}) }
}

/**
 * The baseline: bench/bare-provider.ts, oidc-provider as released (a copy without this checkout's
 * patches to it), on `processes` processes (more than one: client credentials only, see there).
 */
async function startBare(processes: number, jwksFile: string): Promise<{ child: ChildProcess; t: Target }> {
  const port = await freePort()
  const issuer = `https://127.0.0.1:${port}`
  const released = releasedCopy(root, 'oidc-provider', path.join(root, 'node_modules', '.cache', 'iam-bench-released'))
  const child = spawnWithParentDeath(process.execPath, ['bench/bare-provider.ts'], {
    cwd: root, env: { ...process.env, NODE_ENV: 'production', PORT: String(port), ISSUER: issuer, JWKS_FILE: jwksFile, SERVICE_SECRET, API, OIDC_PROVIDER_DIR: released, BARE_PROCESSES: String(processes) },
  })
  let output = ''
  const ready = await new Promise<{ userAccessToken?: string }>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d
      const line = output.split('\n').find((l) => l.startsWith('{"ready"'))
      if (line) resolve(JSON.parse(line) as { userAccessToken?: string })
    })
    child.stderr!.on('data', (d: Buffer) => { output += d })
    child.once('exit', (code) => reject(new Error(`bare provider exited ${code}:\n${output}`)))
  })
  const name = processes === 1 ? 'bare oidc-provider' : `bare oidc-provider (${processes} processes)`
  const scenarios = processes === 1 ? SCENARIOS : CLIENT_CREDENTIALS
  return { child, t: { name, issuer, base: `http://127.0.0.1:${port}`, pid: child.pid!, userAccessToken: ready.userAccessToken ?? '', scenarios } }
}

async function main(): Promise<void> {
  // wrk drives every load scenario: say so before minutes of set-up, not with a spawn error after them.
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed (Debian package wrk): `scripts/iam.sh bench` installs it and the stores, then runs this benchmark')
  const dir = mkdtempSync(path.join(tmpdir(), 'iam-bench-'))
  const started = new Date()
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavgAtStart: loadavg().map((l) => Number(l.toFixed(2))) }
  log(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memGiB} GiB, load average ${machine.loadavgAtStart.join(' ')}`)

  log('starting PostgreSQL and Redis')
  const postgres = await startPostgres()
  // Redis as production should run it: AOF, fsync once a second (the options after ours win).
  const redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] })
  stores = { ...stores, redisPid: redis.pid() }
  const databaseUrl = await postgres.createDatabase(stores.database)
  const jwksFile = path.join(dir, 'jwks.json')
  writeFileSync(jwksFile, JSON.stringify(await generateJwks()), { mode: 0o600 })

  log(`migrating and creating ${USERS} users (argon2id hashes: takes a while)`)
  await migrateDatabase({ databaseUrl, dataDir: path.join(dir, 'data') })
  const db = await openDatabase({ databaseUrl, dataDir: path.join(dir, 'data') })
  try {
    const role = await ensureRole(db.prisma, 'user', [])
    await registerResourceServer(db.prisma, { identifier: API, name: 'Bench API', scopes: ['read', 'write'] })
    await createClient(db.prisma, { clientId: 'svc', name: 'Bench Service', kind: 'service', secret: SERVICE_SECRET })
    await createClient(db.prisma, { clientId: 'spa', name: 'Bench SPA', kind: 'spa', redirectUris: [SPA_REDIRECT] })
    for (const name of ['userinfo', ...Array.from({ length: USERS }, (_, i) => `bench${i}`)]) {
      const user = await createUser(db.prisma, { email: `${name}@example.test`, username: name, password: PASSWORD, displayName: `Bench ${name}`, emailVerified: true })
      await assignRole(db.prisma, user.id, role.id)
    }
  } finally {
    await db.close()
  }

  const report: Record<string, unknown> = {
    date: started.toISOString(), machine,
    settings: { seconds: SECONDS, warmupSeconds: WARMUP, connections: CONNECTIONS, workers: WORKER_COUNTS, bareProcesses: BARE_PROCESSES, signInWalkers: WALKERS, concurrentSignIns: CONCURRENT, baseline: BASELINE, soak: SOAK, soakSeconds: SOAK ? SOAK_SECONDS : undefined },
  }

  const startOurs = async (workers: number, cwd = root, label = 'ours') => {
    const port = await freePort()
    const issuer = `https://127.0.0.1:${port}`
    const base = `http://127.0.0.1:${port}`
    const logFile = path.join(dir, `${label}-workers${workers}.log`)
    const fd = openSync(logFile, 'a')
    const env = {
      ...process.env,
      NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', ISSUER: issuer, TRUST_PROXY: 'true',
      DATABASE_URL: databaseUrl, REDIS_URL: redis.url, JWKS_FILE: jwksFile,
      COOKIE_KEYS: randomBytes(32).toString('base64url'), ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      DATA_DIR: path.join(dir, 'data'), KEYS_DIR: path.join(dir, 'keys'),
      WORKERS: String(workers), LOG_LEVEL: 'info', ...RATE_LIMITS,
      // As the image runs it; plus e.g. --cpu-prof --cpu-prof-dir=/tmp/prof to profile the server
      // under the benchmark's load, or --max-old-space-size=256 to bound its memory further.
      NODE_OPTIONS: [imageNodeOptions(), process.env.BENCH_SERVER_NODE_OPTIONS ?? ''].join(' ').trim(),
    }
    // As `npm start` and the image run it: Node strips the types itself. A baseline checkout whose
    // sources are not erasable-only (older commits) runs through tsx, the loader it was made for.
    const loader = cwd !== root && !/"erasableSyntaxOnly":\s*true/.test(readFileSync(path.join(cwd, 'tsconfig.json'), 'utf8')) ? ['--import', 'tsx'] : []
    const child = spawnWithParentDeath(process.execPath, [...loader, 'src/main.ts', 'serve'], { cwd, env, stdio: ['ignore', fd, fd] })
    closeSync(fd)
    await waitHealthy(base, child, () => readFileSync(logFile, 'utf8').slice(-4000))
    // A cluster answers /healthz as soon as one worker listens: wait until all are up.
    const deadline = Date.now() + 60_000
    while (workers > 1 && Date.now() < deadline) {
      const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
      const listening = (readFileSync(logFile, 'utf8').match(/"msg":"[^"]*listening[^"]*"/g) ?? []).length
      if (children.length >= workers && listening >= workers) break
      await sleep(200)
    }
    // The argon2 build the server hashes with (its start log; older servers may not say).
    const argon2 = /password hashing: argon2 (\w+) build/.exec(readFileSync(logFile, 'utf8'))?.[1] ?? 'not logged'
    return { child, issuer, base, logFile, argon2 }
  }

  try {
    if (SOAK) {
      const workers = WORKER_COUNTS[0] ?? 2
      const ours = await startOurs(workers)
      const t: Target = { name: `ours (WORKERS=${workers})`, issuer: ours.issuer, base: ours.base, pid: ours.child.pid!, userAccessToken: (await fullSignIn(ours.issuer, ours.base, 'userinfo@example.test', PASSWORD)).access_token, scenarios: SCENARIOS }
      const all = await precheck(t)
      log(`soak: client credentials (opaque) for ${SOAK_SECONDS} s against ${t.name}`)
      const sampler = sampleRss(t.pid, 5000)
      const r = await runWrk(t.base, all['client_credentials opaque'], { connections: CONNECTIONS, seconds: SOAK_SECONDS, threads: 1, dir, name: 'soak' })
      const rss = sampler.stop()
      await stopProcess(ours.child)
      const series = rss.series
      const third = Math.max(1, Math.floor(series.length / 3))
      const avg = (xs: typeof series) => xs.reduce((s, x) => s + x.totalMb, 0) / xs.length
      report.soak = { server: t.name, tokensIssued: r.requests, load: r, rss: { peakPerProcessMb: rss.peakPerProcessMb, peakTotalMb: rss.peakTotalMb, hwmPerProcessMb: rss.hwmPerProcessMb, firstThirdAvgTotalMb: avg(series.slice(0, third)), lastThirdAvgTotalMb: avg(series.slice(-third)), series } }
      log(`soak: ${r.requests} tokens, ${r.rps.toFixed(0)}/s, errors ${r.errors}, RSS peak per process ${JSON.stringify(rss.peakPerProcessMb)}, total first third ${avg(series.slice(0, third)).toFixed(1)} MB → last third ${avg(series.slice(-third)).toFixed(1)} MB`)
    } else {
      // Every server up at once, idle but for the one under load: each scenario runs against the
      // bare provider and then each of ours back to back, so a ratio compares runs seconds apart
      // (this machine's speed drifts by ±15 % over minutes).
      const bare = await startBare(1, jwksFile)
      const bareAll = BARE_PROCESSES > 1 ? await startBare(BARE_PROCESSES, jwksFile) : undefined
      const ours: Array<{ key: string; child: ChildProcess; argon2: string; t: Target }> = []
      for (const o of OURS) {
        const started = await startOurs(o.workers, o.cwd, o.label)
        const name = `${o.label} (WORKERS=${o.workers})`
        log(`${name}: up; signing in the userinfo user`)
        ours.push({ key: reportKey(o), child: started.child, argon2: started.argon2, t: { name, issuer: started.issuer, base: started.base, pid: started.child.pid!, userAccessToken: (await fullSignIn(started.issuer, started.base, 'userinfo@example.test', PASSWORD)).access_token, scenarios: SCENARIOS } })
      }
      const bareTarget = bare.t
      const targets = [bareTarget, ...(bareAll ? [bareAll.t] : []), ...ours.map((o) => o.t)]
      const specsOf = new Map<Target, Record<Scenario, RequestSpec>>()
      for (const t of targets) specsOf.set(t, await precheck(t))
      const samplers = new Map(targets.map((t) => [t, sampleRss(t.pid)]))
      const results = new Map<Target, Partial<Record<Scenario, Measured>>>(targets.map((t) => [t, {}]))
      for (const scenario of SCENARIOS) {
        for (const t of targets) {
          if (t.scenarios.includes(scenario)) results.get(t)![scenario] = await measureScenario(t, specsOf.get(t)![scenario], scenario, dir)
        }
      }
      const bareRss = samplers.get(bareTarget)!.stop()
      await stopProcess(bare.child)
      report.bare = { ...results.get(bareTarget), rss: { startPerProcessMb: bareRss.startPerProcessMb, peakPerProcessMb: bareRss.peakPerProcessMb, hwmPerProcessMb: bareRss.hwmPerProcessMb } }
      if (bareAll) {
        const rss = samplers.get(bareAll.t)!.stop()
        await stopProcess(bareAll.child)
        report.bareAllCores = { processes: BARE_PROCESSES, ...results.get(bareAll.t), rss: { startPerProcessMb: rss.startPerProcessMb, peakPerProcessMb: rss.peakPerProcessMb, hwmPerProcessMb: rss.hwmPerProcessMb } }
      }

      // Sign-ins (ours only), one server after the other; RSS keeps being sampled through them.
      for (const { key, child, argon2, t } of ours) {
        const name = t.name
        log(`${name}: sustained sign-ins, ${WALKERS} walkers for ${SECONDS} s`)
        // Warm the sign-in path first (templates, argon2 thread pool), unmeasured.
        await Promise.all(Array.from({ length: 2 }, (_, i) => fullSignIn(t.issuer, t.base, `bench${i}@example.test`, PASSWORD)))
        const sustained = await sustainedSignIns(t)
        log(`${name}: ${sustained.perSecond.toFixed(1)} sign-ins/s, p50 ${sustained.p50Ms.toFixed(0)} ms, p99 ${sustained.p99Ms.toFixed(0)} ms, failed ${sustained.failed}${sustained.firstError ? ` (${sustained.firstError})` : ''}`)
        await sleep(1000)
        log(`${name}: ${CONCURRENT} concurrent sign-ins`)
        const burst = await burstSignIns(t)
        log(`${name}: all ${burst.completed} done in ${burst.allDoneMs.toFixed(0)} ms, p50 ${burst.p50Ms.toFixed(0)} ms, p99 ${burst.p99Ms.toFixed(0)} ms, failed ${burst.failed}${burst.firstError ? ` (${burst.firstError})` : ''}`)
        const rss = samplers.get(t)!.stop()
        await stopProcess(child)
        report[key] = {
          ...results.get(t),
          argon2Build: argon2,
          signInsSustained: sustained,
          signInsConcurrent: burst,
          rss: { startPerProcessMb: rss.startPerProcessMb, peakPerProcessMb: rss.peakPerProcessMb, peakTotalMb: rss.peakTotalMb, hwmPerProcessMb: rss.hwmPerProcessMb },
        }
      }
    }
  } finally {
    await redis.stop()
    await postgres.stop()
  }

  report.loadavgAtEnd = loadavg().map((l) => Number(l.toFixed(2)))
  if (!SOAK) {
    const bare = report.bare as Record<Scenario, LoadResult>
    report.ratios = Object.fromEntries(OURS.map((o) => {
      const ours = report[reportKey(o)] as Record<Scenario, LoadResult>
      return [o.label === 'ours' ? `workers${o.workers}` : `${o.label}_workers${o.workers}`, Object.fromEntries(SCENARIOS.map((s) => [s, Number((ours[s].rps / bare[s].rps).toFixed(2))]))]
    }))
    const all = report.bareAllCores as Partial<Record<Scenario, LoadResult>> | undefined
    // The bare provider on every core against itself on one: the most any ratio above could be.
    if (all) (report.ratios as Record<string, unknown>).bareAllCores = Object.fromEntries(CLIENT_CREDENTIALS.map((s) => [s, Number((all[s]!.rps / bare[s].rps).toFixed(2))]))
    printTable(report)
  }
  mkdirSync(path.dirname(OUT), { recursive: true })
  writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`)
  log(`written ${path.relative(root, OUT)}`)
  rmSync(dir, { recursive: true, force: true })
}

function printTable(report: Record<string, unknown>): void {
  const c = (x: { cores: CoreShares }) => [x.cores.server, x.cores.postgres, x.cores.redis, x.cores.load, x.cores.other, x.cores.idle].map((v) => v.toFixed(2)).join(' ')
  const bare = report.bare as Record<Scenario, Measured> & { rss: { startPerProcessMb: Record<string, number>; peakPerProcessMb: Record<string, number> } }
  const rows: string[][] = [['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'ours/bare', 'cores: server pg redis load other idle']]
  const all = report.bareAllCores as (Partial<Record<Scenario, Measured>> & { processes: number }) | undefined
  for (const s of SCENARIOS) {
    const b = bare[s]
    rows.push([s, 'bare oidc-provider', b.rps.toFixed(0), b.p50Ms.toFixed(2), b.p99Ms.toFixed(2), String(b.errors), '', c(b)])
    const a = all?.[s]
    if (all && a) rows.push(['', `bare, ${all.processes} processes`, a.rps.toFixed(0), a.p50Ms.toFixed(2), a.p99Ms.toFixed(2), String(a.errors), `${(a.rps / b.rps).toFixed(2)}×`, c(a)])
    for (const ours of OURS) {
      const o = (report[reportKey(ours)] as Record<Scenario, Measured>)[s]
      rows.push(['', `${ours.label} WORKERS=${ours.workers}`, o.rps.toFixed(0), o.p50Ms.toFixed(2), o.p99Ms.toFixed(2), String(o.errors), `${(o.rps / b.rps).toFixed(2)}×`, c(o)])
    }
  }
  for (const ours of OURS) {
    const o = report[reportKey(ours)] as { signInsSustained: SignInResult; signInsConcurrent: SignInResult & { allDoneMs: number } }
    const s = o.signInsSustained
    const server = `${ours.label} WORKERS=${ours.workers}`
    rows.push([`sign-ins (${WALKERS} walkers)`, server, `${s.perSecond.toFixed(1)}/s`, s.p50Ms.toFixed(0), s.p99Ms.toFixed(0), String(s.failed), '', c(s)])
    const burst = o.signInsConcurrent
    rows.push([`${CONCURRENT} at once`, server, `all in ${(burst.allDoneMs / 1000).toFixed(2)} s`, burst.p50Ms.toFixed(0), burst.p99Ms.toFixed(0), String(burst.failed), '', c(burst)])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const line = (r: string[]) => r.map((cell, i) => (i >= 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ')
  console.log(`\n${line(rows[0]!)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.slice(1).map(line).join('\n')}`)
  console.log('\nCPU per sign-in in the sustained run (ms; cores ÷ sign-ins per second): server main threads / libuv (argon2) / V8 helpers (GC) / other threads; PostgreSQL; Redis; walkers')
  for (const ours of OURS) {
    const r = report[reportKey(ours)] as { signInsSustained: SignInResult; argon2Build: string }
    const s = r.signInsSustained
    const ms = (cores: number) => ((cores / s.perSecond) * 1000).toFixed(1)
    const t = s.cores.serverThreads
    console.log(`  ${ours.label} WORKERS=${ours.workers}: ${ms(t.main)} / ${ms(t.libuv)} / ${ms(t.v8)} / ${ms(t.other)}; ${ms(s.cores.postgres)}; ${ms(s.cores.redis)}; ${ms(s.cores.load)} (argon2 build: ${r.argon2Build})`)
  }
  console.log('\nRSS (MB): before the load → peak VmRSS sampled every 250 ms during it; VmHWM at the end includes start-up:')
  console.log(`  bare oidc-provider: ${JSON.stringify(bare.rss.startPerProcessMb)} → ${JSON.stringify(bare.rss.peakPerProcessMb)}`)
  const allRss = (report.bareAllCores as { processes: number; rss: typeof bare.rss } | undefined)
  if (allRss) console.log(`  bare, ${allRss.processes} processes (client credentials only): ${JSON.stringify(allRss.rss.startPerProcessMb)} → ${JSON.stringify(allRss.rss.peakPerProcessMb)}`)
  for (const ours of OURS) {
    const rss = (report[reportKey(ours)] as { rss: { startPerProcessMb: Record<string, number>; peakPerProcessMb: Record<string, number>; peakTotalMb: number; hwmPerProcessMb: Record<string, number> } }).rss
    console.log(`  ${ours.label} WORKERS=${ours.workers}: per process ${JSON.stringify(rss.startPerProcessMb)} → ${JSON.stringify(rss.peakPerProcessMb)}, total ${rss.peakTotalMb}; VmHWM ${JSON.stringify(rss.hwmPerProcessMb)}`)
  }
  console.log(`load average at start ${(report.machine as { loadavgAtStart: number[] }).loadavgAtStart.join(' ')}, at end ${(report.loadavgAtEnd as number[]).join(' ')}`)
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err)
  process.exit(1)
})

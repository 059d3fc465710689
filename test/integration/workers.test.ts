// WORKERS=2 (node:cluster) on PostgreSQL + Redis: one short-lived worker prepares, then the primary
// forks two serving workers sharing the port; both serve, a whole sign-in works with its steps
// spread over them, /metrics sums both workers' numbers, a worker that dies is replaced (and its
// counts stay in the sum), and SIGTERM to the primary drains every worker and exits 0. With the
// embedded database WORKERS is not honoured, and the first log line says so.
//
// Which worker gets a connection is the primary's round robin: the test sends every request on a
// new connection (through a proxy without keep-alive) and reads the worker pid each request log
// line carries.
import type { ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIam, type IamInstance } from '../support/iam.ts'
import { createFixtures, ALICE } from '../support/fixtures.ts'
import { startBalancer, type Balancer } from '../support/balancer.ts'
import { signInAndRefresh } from '../support/code-flow.ts'
import { sleep } from '../support/processes.ts'

interface LogLine { msg?: string; pid?: number; worker?: number; route?: string; workers?: number; uvThreadpoolSize?: number; [key: string]: unknown }

function lines(iam: IamInstance): LogLine[] {
  return iam.logs().split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l) as LogLine]
    } catch {
      return []
    }
  })
}

/** pids of the workers that logged a request for one of these routes, from log line `from` on. */
function servingPids(iam: IamInstance, from: number, routes?: string[]): Set<number> {
  return new Set(lines(iam).slice(from).filter((l) => l.msg === 'request' && typeof l.pid === 'number' && (!routes || routes.includes(l.route!))).map((l) => l.pid!))
}

function exitCode(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode)
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)))
}

async function waitFor(what: string, check: () => boolean, attempts = 300): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (check()) return
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('WORKERS=2 on PostgreSQL and Redis', () => {
  let balancer: Balancer
  let iam: IamInstance

  beforeAll(async () => {
    balancer = await startBalancer()
    iam = await createIam('postgres-redis', { env: { WORKERS: '2', ISSUER: balancer.url, HEAP_GROWTH_PERCENT: '100' } })
    balancer.route(iam.port)
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
    // /healthz answered once a worker listened; wait for both.
    await waitFor('two workers listening', () => lines(iam).filter((l) => l.msg?.startsWith('listening')).length >= 2)
  }, 120_000)

  afterAll(async () => {
    await iam?.close()
    await balancer?.close()
  })

  it('prepares once, then forks two workers with a sized libuv thread pool', () => {
    const all = lines(iam)
    const primary = all.find((l) => typeof l.workers === 'number')!
    expect(primary.msg).toContain('starting 2 workers')
    expect(primary.uvThreadpoolSize).toBeGreaterThanOrEqual(4)
    // Each worker starts prepared (no migrations of its own) and says which it is.
    const starts = all.filter((l) => l.msg === 'starting')
    expect(starts.map((l) => l.role).sort()).toEqual(['worker 1', 'worker 2'])
    expect(new Set(starts.map((l) => l.pid)).size).toBe(2)
    expect(starts.every((l) => l.pid !== iam.process()!.pid)).toBe(true)
    // HEAP_GROWTH_PERCENT reaches every worker (V8's flag is set in each, at its start).
    expect(starts.map((l) => l.heapGrowthPercent)).toEqual([100, 100])
  })

  it('both workers serve, and one sign-in (code + PKCE, userinfo, refresh) works across them', async () => {
    const from = lines(iam).length
    const { userinfo, refreshed } = await signInAndRefresh(balancer.url)
    expect(userinfo.email).toBe(ALICE.email)
    expect(refreshed.refresh_token).toBeTruthy()
    // The flow's steps (pages, login, consent, token, userinfo) were served by both workers.
    const pids = servingPids(iam, from, ['/auth', '/auth/:uid', '/interaction/:uid', '/interaction/:uid/login', '/interaction/:uid/consent', '/token', '/me'])
    expect(pids.size).toBe(2)
  })

  /** The cluster's count of answered /healthz requests, from a scrape of /metrics. */
  const healthzCount = async () => {
    const res = await fetch(`${balancer.url}/metrics`)
    expect(res.status).toBe(200)
    const m = /^iam_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} (\d+)$/m.exec(await res.text())
    return Number(m?.[1] ?? 0)
  }

  it('/metrics counts the requests of both workers, whichever of them answers the scrape', async () => {
    const before = await healthzCount()
    const from = lines(iam).length
    for (let i = 0; i < 20; i++) expect((await fetch(`${balancer.url}/healthz`)).status).toBe(200)
    // Each request is a new connection, handed out round robin: both workers served some.
    const served = lines(iam).slice(from).filter((l) => l.msg === 'request' && l.route === '/healthz')
    const perWorker = [...new Set(served.map((l) => l.pid))].map((pid) => served.filter((l) => l.pid === pid).length)
    expect(perWorker.length).toBe(2)
    expect(Math.max(...perWorker)).toBeLessThan(20)
    // Every scrape (each a new connection, so to either worker) counts all twenty.
    for (let i = 0; i < 4; i++) expect(await healthzCount()).toBe(before + 20)
  })

  it('/metrics answers 503 while a worker cannot send its numbers, rather than a part of the sum', async () => {
    const stopped = lines(iam).find((l) => l.msg === 'starting' && l.role === 'worker 1')!.pid!
    process.kill(stopped, 'SIGSTOP')
    try {
      // Two scrapes on new connections: the other worker takes at least one and asks the primary,
      // which waits 2 s for the stopped worker; a scrape handed to the stopped one waits for SIGCONT.
      const scrape = () => fetch(`${balancer.url}/metrics`).then(async (r) => ({ status: r.status, text: await r.text() }))
      const answers = Promise.all([scrape(), scrape()])
      await sleep(3_000)
      process.kill(stopped, 'SIGCONT')
      const got = await answers
      expect(got.some((a) => a.status === 503 && a.text.includes(`worker ${stopped} did not send its metrics`))).toBe(true)
      expect(got.every((a) => a.status === 503 || /^iam_build_info\{version="[^"]+"\} 1$/m.test(a.text))).toBe(true)
    } finally {
      process.kill(stopped, 'SIGCONT')
    }
    expect((await fetch(`${balancer.url}/metrics`)).status).toBe(200)
  })

  it('replaces a worker that dies, and keeps serving meanwhile; /metrics keeps the dead worker\'s counts', async () => {
    const victim = lines(iam).find((l) => l.msg === 'starting' && l.role === 'worker 1')!.pid!
    const victimServed = lines(iam).filter((l) => l.msg === 'request' && l.route === '/healthz' && l.pid === victim).length
    expect(victimServed).toBeGreaterThan(0)
    const before = await healthzCount()
    process.kill(victim, 'SIGKILL')
    await waitFor('the restart to be logged', () => lines(iam).some((l) => l.msg === 'worker died unexpectedly; restarting it' && l.pid === victim))
    // How it died, readable (a field named `code` would be redacted as if it were an OAuth code).
    const died = lines(iam).find((l) => l.msg === 'worker died unexpectedly; restarting it' && l.pid === victim)!
    expect({ exitCode: died.exitCode, signal: died.signal }).toEqual({ exitCode: null, signal: 'SIGKILL' })
    await waitFor('a third worker listening', () => lines(iam).filter((l) => l.msg?.startsWith('listening')).length >= 3)
    const from = lines(iam).length
    const { userinfo } = await signInAndRefresh(balancer.url)
    expect(userinfo.email).toBe(ALICE.email)
    const pids = servingPids(iam, from)
    expect(pids.has(victim)).toBe(false)
    expect(pids.size).toBe(2)
    // The sum over workers does not fall by what the dead one had counted (Prometheus would read a reset).
    expect(await healthzCount()).toBeGreaterThanOrEqual(before)
  })

  it('SIGTERM to the primary: every worker drains and stops, the primary exits 0', async () => {
    const proc = iam.process()!
    proc.kill('SIGTERM')
    expect(await exitCode(proc)).toBe(0)
    const all = lines(iam)
    expect(all.filter((l) => l.msg === 'stopped: requests drained, stores closed').length).toBe(2)
    expect(all.some((l) => l.msg === 'stopped: every worker drained and exited')).toBe(true)
  })
})

describe('WORKERS on the embedded database', () => {
  let iam: IamInstance
  afterAll(async () => {
    await iam?.close()
  })

  it('runs one process and says so in its first log line', async () => {
    iam = await createIam('embedded', { env: { WORKERS: '4' } })
    await iam.start()
    const first = lines(iam)[0]!
    expect(first.msg).toContain('one process: the embedded database cannot be shared by workers (WORKERS=4 ignored')
    expect(lines(iam).filter((l) => l.msg?.startsWith('listening')).length).toBe(1)
  })
})

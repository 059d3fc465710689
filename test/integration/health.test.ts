// Liveness and readiness against real stores that go away and come back: a PostgreSQL of this
// test's own (stopping the shared one would hurt other test files) and the instance's redis-server.
// Readiness turns unready (503) and names the store that is down, within its check timeout, and
// ready again when the store returns; liveness stays ok throughout.
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIam, type IamInstance } from '../support/iam.ts'
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts'
import { sleep } from '../support/processes.ts'

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

describe('health and readiness (postgres-redis)', () => {
  let postgres: PostgresServer
  let iam: IamInstance

  beforeAll(async () => {
    postgres = await startPostgres()
    iam = await createIam('postgres-redis', { env: { DATABASE_URL: await postgres.createDatabase() } })
    await iam.start()
  })

  afterAll(async () => {
    await iam?.close()
    await postgres?.stop()
  })

  const readyz = async () => {
    const res = await fetch(`${iam.issuer}/readyz`)
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }
  /** Polls until readiness reports `want` (stores reconnect with back-off); returns that answer. */
  async function until(want: 'ready' | 'unready') {
    let last: Awaited<ReturnType<typeof readyz>> | undefined
    for (let i = 0; i < 120; i++) {
      last = await readyz()
      if (last.body.status === want) return last
      await sleep(250)
    }
    throw new Error(`readiness never became ${want}: ${JSON.stringify(last)}`)
  }

  it('uses its own PostgreSQL (the instance was given that DATABASE_URL)', () => {
    expect(iam.env.DATABASE_URL).toContain(`:${postgres.port}/`)
  })

  it('liveness: ok with the version', async () => {
    const res = await fetch(`${iam.issuer}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok', version })
  })

  it('readiness: ready with every store and the keys', async () => {
    expect(await readyz()).toEqual({ status: 200, body: { status: 'ready', database: 'ok', redis: 'ok', keys: 'ok', version } })
  })

  it('turns unready while Redis is stopped, ready when it is back', async () => {
    await iam.redis!.down()
    try {
      const down = await until('unready')
      expect(down).toEqual({ status: 503, body: { status: 'unready', database: 'ok', redis: 'down', keys: 'ok', version } })
      // Liveness does not depend on the stores: a restart would not bring Redis back.
      expect((await fetch(`${iam.issuer}/healthz`)).status).toBe(200)
    } finally {
      await iam.redis!.up()
    }
    expect(await until('ready')).toEqual({ status: 200, body: { status: 'ready', database: 'ok', redis: 'ok', keys: 'ok', version } })
  })

  it('turns unready while PostgreSQL is stopped, ready when it is back', async () => {
    await postgres.down()
    try {
      const down = await until('unready')
      expect(down).toEqual({ status: 503, body: { status: 'unready', database: 'down', redis: 'ok', keys: 'ok', version } })
      expect((await fetch(`${iam.issuer}/healthz`)).status).toBe(200)
    } finally {
      await postgres.up()
    }
    expect(await until('ready')).toEqual({ status: 200, body: { status: 'ready', database: 'ok', redis: 'ok', keys: 'ok', version } })
    // The server survived both outages and serves protocol requests again.
    const discovery = await fetch(`${iam.issuer}/.well-known/openid-configuration`)
    expect(discovery.status).toBe(200)
  })

  it('a hung Redis (stopped process, port still open) reads as down instead of hanging the probe', async () => {
    const pid = iam.redis!.pid()!
    process.kill(pid, 'SIGSTOP')
    try {
      // Each check is bounded (2 s): the probe answers although the ping never completes.
      expect(await readyz()).toEqual({ status: 503, body: { status: 'unready', database: 'ok', redis: 'down', keys: 'ok', version } })
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    await until('ready')
  })
})

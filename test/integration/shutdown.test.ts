// Graceful shutdown: SIGTERM while a request is in flight (a POST /token whose body is still
// arriving) lets that request finish with its normal answer, refuses new connections at once,
// closes the stores and exits 0. A request that does not finish within SHUTDOWN_TIMEOUT has its
// connection closed, and the process still exits 0.
import http from 'node:http'
import type { ChildProcess } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { createIam, type IamInstance } from '../support/iam.ts'
import { SERVICE_SECRET, API, createFixtures } from '../support/fixtures.ts'
import { sleep } from '../support/processes.ts'

const BODY = new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource: API }).toString()

/** Starts POST /token and sends only the first half of the body: the server holds the request open. */
function slowTokenRequest(iam: IamInstance) {
  let settle!: (r: { status: number; body: string } | Error) => void
  const done = new Promise<{ status: number; body: string } | Error>((resolve) => { settle = resolve })
  const req = http.request(`${iam.issuer}/token`, {
    method: 'POST',
    agent: false,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': Buffer.byteLength(BODY),
      authorization: `Basic ${Buffer.from(`svc:${encodeURIComponent(SERVICE_SECRET)}`).toString('base64')}`,
    },
  }, (res) => {
    let body = ''
    res.setEncoding('utf8')
    res.on('data', (d: string) => { body += d })
    res.on('end', () => settle({ status: res.statusCode!, body }))
    res.on('error', settle)
  })
  req.on('error', settle)
  req.flushHeaders()
  req.write(BODY.slice(0, 20))
  return { rest: () => req.end(BODY.slice(20)), done }
}

function exitCode(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode)
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)))
}

async function waitForLog(iam: IamInstance, text: string) {
  for (let i = 0; i < 200 && !iam.logs().includes(text); i++) await sleep(50)
  expect(iam.logs()).toContain(text)
}

/** A new connection is refused (polls briefly: the listener closes right after the signal). */
async function refusesNewConnections(iam: IamInstance) {
  let lastError: unknown
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`${iam.issuer}/healthz`, { signal: AbortSignal.timeout(2000) })
    } catch (err) {
      lastError = err
      break
    }
    await sleep(50)
  }
  expect((lastError as { cause?: { code?: string } } | undefined)?.cause?.code).toBe('ECONNREFUSED')
}

describe('graceful shutdown (embedded)', () => {
  let iam: IamInstance | undefined
  afterEach(async () => {
    await iam?.close()
    iam = undefined
  })

  async function started(env: Record<string, string> = {}) {
    const instance = await createIam('embedded', { env })
    iam = instance
    await instance.withDatabase((prisma) => createFixtures(prisma))
    await instance.start()
    return instance
  }

  it('SIGTERM during a slow request: it completes normally, new connections are refused, exit 0', async () => {
    const iam = await started()
    const proc = iam.process()!
    const exit = exitCode(proc)
    const slow = slowTokenRequest(iam)
    // The request is in the server's hands once its headers are: give them a moment to arrive.
    await sleep(300)

    proc.kill('SIGTERM')
    await waitForLog(iam, 'shutting down')
    await refusesNewConnections(iam)
    expect(proc.exitCode).toBeNull() // still draining: the slow request is in flight

    slow.rest()
    const answer = await slow.done
    expect(answer).not.toBeInstanceOf(Error)
    const { status, body } = answer as { status: number; body: string }
    expect(status).toBe(200)
    expect(JSON.parse(body)).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String) })

    expect(await exitCode(proc)).toBe(0)
    expect(await exit).toBe(0)
    expect(iam.logs()).toContain('stopped: requests drained, stores closed')
    expect(iam.logs()).not.toContain('still in flight after SHUTDOWN_TIMEOUT')
  })

  it('a request that outlasts SHUTDOWN_TIMEOUT is cut off, and the process still exits 0', async () => {
    const iam = await started({ SHUTDOWN_TIMEOUT: '1' })
    const proc = iam.process()!
    const slow = slowTokenRequest(iam) // never finishes its body
    await sleep(300)
    proc.kill('SIGTERM')
    expect(await exitCode(proc)).toBe(0)
    expect(await slow.done).toBeInstanceOf(Error) // the connection was closed under it
    expect(iam.logs()).toContain('still in flight after SHUTDOWN_TIMEOUT')
  })

  it('SIGINT drains the same way', async () => {
    const iam = await started()
    const proc = iam.process()!
    const slow = slowTokenRequest(iam)
    await sleep(300)
    proc.kill('SIGINT')
    await waitForLog(iam, 'shutting down')
    slow.rest()
    expect(await slow.done).toMatchObject({ status: 200 })
    expect(await exitCode(proc)).toBe(0)
  })
})

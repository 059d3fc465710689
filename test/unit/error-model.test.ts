// Each area's error handler answers in its own format (docs/adr/0250-one-error-model.md), and a
// store that is away (StoreUnavailable, or a driver's error it recognises) is a 503 with
// Retry-After in every one of them.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { EventEmitter } from 'node:events'
import Koa, { type Context, type Middleware } from 'koa'
import type Provider from 'oidc-provider'
import { afterAll, describe, expect, it } from 'vitest'
import { problemErrors, ProblemError } from '../../src/admin/problem.ts'
import { bearerApiErrors } from '../../src/api/demo.ts'
import { pageErrors } from '../../src/middleware/page-errors.ts'
import { providerErrors } from '../../src/middleware/provider-errors.ts'
import { RETRY_AFTER_SECONDS, StoreUnavailable, storeUnavailableOf } from '../../src/store/unavailable.ts'
import type { Logger } from '../../src/observability/logger.ts'

const logged: Array<{ level: string; msg: string }> = []
const logger = {
  warn: (_o: unknown, msg: string) => { logged.push({ level: 'warn', msg }) },
  error: (_o: unknown, msg: string) => { logged.push({ level: 'error', msg }) },
  info: () => {},
  child: () => logger,
} as unknown as Logger

const servers: http.Server[] = []
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
})

/** A server running `handler` in front of `inner`. */
async function serve(handler: Middleware, inner: Middleware): Promise<string> {
  const app = new Koa()
  app.silent = true
  app.use(async (ctx, next) => {
    ctx.state.requestId = 'req-1'
    await next()
  })
  app.use(handler)
  app.use(inner)
  const server = http.createServer(app.callback())
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const redisDown = () => Object.assign(new Error('Connection is closed.'), { name: 'Error' })
const throwing = (err: unknown): Middleware => async () => { throw err }

describe('StoreUnavailable', () => {
  it('recognises the drivers’ errors anywhere in the cause chain, and itself', () => {
    expect(storeUnavailableOf(redisDown())).toBeInstanceOf(StoreUnavailable)
    expect(storeUnavailableOf(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }))).toBeInstanceOf(StoreUnavailable)
    expect(storeUnavailableOf({ code: 'P1001', message: "Can't reach database server" })).toBeInstanceOf(StoreUnavailable)
    const own = new StoreUnavailable(redisDown())
    expect(storeUnavailableOf(own)).toBe(own)
    expect(storeUnavailableOf(new Error('a bug'))).toBeUndefined()
    expect(storeUnavailableOf(undefined)).toBeUndefined()
  })
})

describe('each area answers a store that is away in its format', () => {
  it('admin API: 503 problem+json', async () => {
    const base = await serve(problemErrors(logger), throwing(new StoreUnavailable(redisDown())))
    const res = await fetch(`${base}/admin/api/v1/users`)
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS))
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(await res.json()).toMatchObject({ status: 503, title: 'Service Unavailable' })
  })

  it('demo API: 503 temporarily_unavailable', async () => {
    const base = await serve(bearerApiErrors(logger), throwing(redisDown()))
    const res = await fetch(`${base}/api/demo/profile`)
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS))
    expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' })
  })

  it('pages: the Temporarily unavailable page, JSON for a page’s script', async () => {
    const base = await serve(pageErrors({ logger, siteName: 'Acme ID' }), throwing(redisDown()))
    const page = await fetch(`${base}/account`)
    expect(page.status).toBe(503)
    expect(page.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS))
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await page.text()).toContain('Temporarily unavailable')
    const script = await fetch(`${base}/account/security/passkeys/options`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(script.status).toBe(503)
    expect(script.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await script.json()).toMatchObject({ error: 'temporarily_unavailable' })
  })

  describe('provider', () => {
    function fakeProvider() {
      const events = new EventEmitter()
      return { provider: events as unknown as Provider, events }
    }

    it('a store error thrown in front of it: 503 OAuth JSON', async () => {
      const { provider } = fakeProvider()
      const base = await serve(providerErrors({ provider, logger, siteName: 'Acme ID' }), throwing(redisDown()))
      const res = await fetch(`${base}/token`, { method: 'POST' })
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS))
      expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' })
    })

    it('its own 500 for a store error (server_error event): 503 as JSON or as the page, in the format it chose', async () => {
      const { provider, events } = fakeProvider()
      const answer = (html: boolean): Middleware => async (ctx: Context) => {
        events.emit('server_error', ctx, redisDown())
        ctx.status = 500
        if (html) {
          ctx.type = 'html'
          ctx.body = '<p>oops</p>'
        } else ctx.body = { error: 'server_error' }
      }
      const json = await serve(providerErrors({ provider, logger, siteName: 'Acme ID' }), answer(false))
      const res = await fetch(`${json}/token`, { method: 'POST' })
      expect(res.status).toBe(503)
      expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' })
      const html = await serve(providerErrors({ provider: fakeProvider().provider, logger, siteName: 'Acme ID' }), answer(true))
      const page = await fetch(`${html}/auth`)
      expect(page.status).toBe(503)
      expect(page.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS))
      expect(await page.text()).toContain('Temporarily unavailable')
    })

    it('its redirect with error=server_error for a store error: temporarily_unavailable (RFC 6749 §4.1.2.1)', async () => {
      const { provider, events } = fakeProvider()
      const base = await serve(providerErrors({ provider, logger, siteName: 'Acme ID' }), async (ctx: Context) => {
        events.emit('server_error', ctx, redisDown())
        ctx.redirect('https://client.test/cb?error=server_error&error_description=oops&state=s')
      })
      const res = await fetch(`${base}/auth`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      expect(res.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS))
      const location = new URL(res.headers.get('location')!)
      expect(location.searchParams.get('error')).toBe('temporarily_unavailable')
      expect(location.searchParams.get('state')).toBe('s')
    })

    it('any other error it did not answer goes on to the app’s last resort', async () => {
      const { provider } = fakeProvider()
      const base = await serve(providerErrors({ provider, logger, siteName: 'Acme ID' }), throwing(new Error('a bug')))
      expect((await fetch(`${base}/token`, { method: 'POST' })).status).toBe(500)
    })
  })
})

describe('each area answers its other errors in its format', () => {
  it('admin API: problems as they are thrown, HTTP errors as problems, anything else a logged 500 problem', async () => {
    const problem = await serve(problemErrors(logger), throwing(new ProblemError(409, 'conflict', 'Conflict', 'taken')))
    const res = await fetch(problem)
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({ type: 'https://iam.dev/problems/conflict', detail: 'taken', instance: '/' })
    logged.length = 0
    const bug = await serve(problemErrors(logger), throwing(new Error('a bug')))
    const failed = await fetch(bug)
    expect(failed.status).toBe(500)
    expect(failed.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(logged).toEqual([{ level: 'error', msg: 'admin API request failed' }])
  })

  it('pages: an expired sign-in, a refused request, and anything else as the site’s page', async () => {
    const { errors } = await import('oidc-provider')
    const expired = await serve(pageErrors({ logger, siteName: 'Acme ID' }), throwing(new errors.SessionNotFound('gone')))
    const res = await fetch(`${expired}/interaction/x`)
    expect(res.status).toBe(400)
    expect(await res.text()).toContain('Sign-in expired')
    const refused = await serve(pageErrors({ logger, siteName: 'Acme ID' }), (ctx) => ctx.throw(413, 'The form could not be read.'))
    const big = await fetch(`${refused}/account`)
    expect(big.status).toBe(413)
    expect(await big.text()).toContain('The form could not be read.')
    const bug = await serve(pageErrors({ logger, siteName: 'Acme ID' }), throwing(new Error('a bug')))
    const failed = await fetch(`${bug}/account`)
    expect(failed.status).toBe(500)
    expect(failed.headers.get('cache-control')).toBe('no-store')
    expect(await failed.text()).toContain('Something went wrong')
  })
})

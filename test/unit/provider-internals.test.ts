// One test per coupling in src/oidc/provider-internals.ts: each runs the installed oidc-provider
// (in memory, no stores) and fails when an upgrade changes what the coupling relies on.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import Koa, { type Context } from 'koa'
import mount from 'koa-mount'
import Provider, { type Configuration } from 'oidc-provider'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  PROVIDER_BODY_LIMIT, deviceCodeFailure, isDeviceResumeWithoutState, isProviderPageRoute, isProviderUnsafeEndpoint, isUnsavedSessionAfterAnswer,
  matchedRoute, parseProviderForm, sendBackchannelLogout, providerBody, providerClientId, providerLoginAccountId, providerParams, providerRouteName, providerSession,
  type ProviderSession,
} from '../../src/oidc/provider-internals.ts'

/** What the wrapper saw of one request after the provider ran: the context's readings and any error that escaped it. */
interface Seen {
  path: string
  method: string
  status: number
  route?: string | undefined
  routeName?: string | undefined
  page: boolean
  params?: Record<string, unknown> | undefined
  body?: Record<string, unknown> | undefined
  clientId?: string | undefined
  session?: ProviderSession | undefined
  loginAccountId?: unknown
  escaped?: unknown
  unsavedSession?: boolean
  deviceResume?: boolean
}

let logoutTokens: string[] = []
let receiver: http.Server
const CLIENT = { client_id: 'client', client_secret: 'a-secret-long-enough-for-the-provider', redirect_uris: ['https://client.test/cb'], grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'], response_types: ['code' as const] }

let server: http.Server
let provider: Provider
let base: string
const seen: Seen[] = []
const forms: string[] = []
const formErrors: Array<Error | undefined> = []

async function request(path: string, init: RequestInit = {}): Promise<{ res: Response; text: string; seen: Seen }> {
  const before = seen.length
  const res = await fetch(`${base}${path}`, { redirect: 'manual', ...init })
  const text = await res.text()
  expect(seen.length, `the wrapper saw ${path}`).toBe(before + 1)
  return { res, text, seen: seen[before]! }
}

const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() })

beforeAll(async () => {
  // The client's back-channel logout endpoint: records the logout tokens it is sent.
  receiver = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => { body += d.toString() })
    req.on('end', () => {
      logoutTokens.push(new URLSearchParams(body).get('logout_token') ?? '')
      res.end()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  const logoutUri = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/backchannel`
  server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const configuration: Configuration = {
    clients: [CLIENT, { ...CLIENT, client_id: 'backchannel-client', backchannel_logout_uri: logoutUri, backchannel_logout_session_required: true }],
    // Loopback is refused by default (SSRF); this receiver is the test's own.
    fetch: (url, options) => {
      delete (options as { dispatcher?: unknown }).dispatcher
      return globalThis.fetch(url, options)
    },
    cookies: { keys: ['provider-internals-test-cookie-key'] },
    features: {
      devInteractions: { enabled: true },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, html, _out, err) => {
          forms.push(html)
          formErrors.push(err)
          ctx.body = `<!doctype html>${html}`
        },
      },
      introspection: { enabled: true },
      revocation: { enabled: true },
      registration: { enabled: true },
      registrationManagement: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
    },
    pkce: { required: () => false },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  }
  provider = new Provider(base, configuration)
  const app = new Koa()
  app.keys = ['provider-internals-test-cookie-key'] // mounted, the provider signs cookies with the app's keys
  app.silent = true
  app.use(async (ctx: Context, next) => {
    const entry: Seen = { path: ctx.path, method: ctx.method, status: 0, page: false }
    try {
      await next()
    } catch (err) {
      entry.escaped = err
      entry.unsavedSession = isUnsavedSessionAfterAnswer(err, ctx)
      entry.deviceResume = isDeviceResumeWithoutState(err, ctx)
      ctx.status = 500
      ctx.body = 'escaped'
    } finally {
      Object.assign(entry, {
        status: ctx.status, route: matchedRoute(ctx), routeName: providerRouteName(ctx), page: isProviderPageRoute(ctx),
        params: providerParams(ctx), body: providerBody(ctx), clientId: providerClientId(ctx),
        session: providerSession(ctx), loginAccountId: providerLoginAccountId(ctx),
      })
      seen.push(entry)
    }
  })
  app.use(mount(provider))
  server.on('request', app.callback())
})

afterAll(async () => {
  receiver.closeAllConnections()
  await new Promise((resolve) => receiver.close(resolve))
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

describe('oidc-provider internals this server relies on', () => {
  it('its router leaves the route pattern in ctx._matchedRoute (metrics and access-log labels)', async () => {
    expect((await request('/token', form({ grant_type: 'client_credentials' }))).seen.route).toBe('/token')
    expect((await request('/.well-known/openid-configuration')).seen.route).toBe('/.well-known/openid-configuration')
    expect((await request('/device/some-uid')).seen.route).toBe('/device/:uid')
    expect((await request('/nowhere')).seen.route).toBeUndefined()
  })

  it('its endpoints that take unsafe requests are routed as isProviderUnsafeEndpoint says, letters folded and one trailing slash ignored', async () => {
    // POST /auth and POST /session/end are routed only with enableHttpPostMethods (off here and in
    // src/oidc/provider.ts); the list names them all the same, so turning it on cannot make the
    // CSRF guard refuse them.
    for (const path of ['/auth', '/session/end']) expect(isProviderUnsafeEndpoint(path), path).toBe(true)
    const endpoints = ['/token', '/token/introspection', '/token/revocation', '/me', '/request', '/session/end/confirm', '/device', '/device/auth', '/reg']
    for (const path of [...endpoints, '/TOKEN', '/Token/', '/reg/some-client']) {
      expect(isProviderUnsafeEndpoint(path), path).toBe(true)
      const method = path.startsWith('/reg/') ? 'DELETE' : 'POST'
      const { seen: s } = await request(path, { ...form({}), method })
      expect(s.route, `${method} ${path} reaches a provider route`).toBeDefined()
    }
    // Spellings its router does not fold to a route: neither exempt nor routed.
    for (const path of ['/token//', '/tokens', '/Token/x', '/reg/a/b', '/tok\u0131n']) {
      expect(isProviderUnsafeEndpoint(path), path).toBe(false)
      expect((await request(encodeURI(path), form({}))).seen.route, path).toBeUndefined()
    }
  })

  it('reads bodies up to PROVIDER_BODY_LIMIT bytes and refuses a larger one as the token rate limit does', async () => {
    const body = (size: number) => {
      const start = 'grant_type=client_credentials&client_id=client&pad='
      return start + 'a'.repeat(size - start.length)
    }
    const headers = { 'content-type': 'application/x-www-form-urlencoded' }
    const within = await fetch(`${base}/token`, { method: 'POST', headers, body: body(PROVIDER_BODY_LIMIT) })
    expect(await within.json()).not.toMatchObject({ error_description: 'failed to parse the request body' })
    const over = await fetch(`${base}/token`, { method: 'POST', headers, body: body(PROVIDER_BODY_LIMIT + 1) })
    expect(over.status).toBe(400)
    expect(await over.json()).toMatchObject({ error: 'invalid_request', error_description: 'failed to parse the request body' })
    seen.length = 0
  })

  it('names its routes on ctx.oidc (route, params, body, client) as device polling and the audit read them', async () => {
    const basic = `Basic ${Buffer.from(`${CLIENT.client_id}:wrong`).toString('base64')}`
    const { seen: token } = await request('/token', { ...form({ grant_type: 'client_credentials', scope: 'openid' }), headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic } })
    expect(token.routeName).toBe('token')
    expect(token.params?.grant_type).toBe('client_credentials')
    expect(token.page).toBe(false)
    const { text, seen: device } = await request('/device/auth', form({ client_id: CLIENT.client_id, client_secret: CLIENT.client_secret, scope: 'openid' }))
    expect(device.status, text).toBe(200)
    expect(device.routeName).toBe('device_authorization')
    expect(device.clientId).toBe(CLIENT.client_id)
    expect(device.body?.client_id).toBe(CLIENT.client_id)
  })

  it('its people-facing routes are the ones isProviderPageRoute names', async () => {
    const { seen: auth } = await request(`/auth?client_id=${CLIENT.client_id}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(CLIENT.redirect_uris[0]!)}`)
    expect(auth.routeName).toBe('authorization')
    expect(auth.page).toBe(true)
    expect((await request('/session/end')).seen.page).toBe(true)
    expect((await request('/device')).seen.page).toBe(true)
    expect((await request('/jwks')).seen.page).toBe(false)
  })

  it('keeps the session it saved on ctx.oidc.session (uid, jti, accountId, authorizations) and the login result on the resume', async () => {
    const cookies = new Map<string, string>()
    const jar = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const keep = (res: Response) => {
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';')
        const [k, v] = pair!.split('=')
        cookies.set(k!, v ?? '')
      }
    }
    const follow = async (path: string, init: RequestInit = {}) => {
      const r = await request(path, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), cookie: jar() } })
      keep(r.res)
      return r
    }
    let step = await follow(`/auth?client_id=${CLIENT.client_id}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(CLIENT.redirect_uris[0]!)}`)
    const interaction = step.res.headers.get('location')!
    expect(step.res.status, step.text).toBe(303)
    expect(interaction).toMatch(/^\/interaction\//)
    await follow(interaction)
    step = await follow(interaction, { ...form({ prompt: 'login', login: 'alice', password: 'x' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(step.res.status, `${step.seen.path} ${step.text.slice(0, 300)}`).toBe(303)
    const resume = new URL(step.res.headers.get('location')!, base)
    step = await follow(`${resume.pathname}${resume.search}`)
    expect(step.seen.route, `${step.seen.method} ${step.seen.path} ${step.res.status} ${step.text.slice(0, 300)}`).toBe('/auth/:uid')
    expect(step.seen.loginAccountId).toBe('alice')
    expect(step.seen.session?.accountId).toBe('alice')
    expect(typeof step.seen.session?.uid).toBe('string')
    expect(typeof step.seen.session?.jti).toBe('string')
    expect(step.seen.session?.destroyed).toBeFalsy()
    // The consent prompt next; its resume records the grant in the session's authorizations.
    const consent = step.res.headers.get('location')!
    expect(consent).toMatch(/^\/interaction\//)
    await follow(consent)
    step = await follow(consent, { ...form({ prompt: 'consent' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    const again = new URL(step.res.headers.get('location')!, base)
    step = await follow(`${again.pathname}${again.search}`)
    expect(step.res.headers.get('location')).toMatch(/^https:\/\/client\.test\/cb\?code=/)
    expect(step.seen.session?.authorizations?.[CLIENT.client_id]?.grantId).toMatch(/^\S+$/)
  })

  it('lets "persist can only be called on previously persisted Sessions" escape after answering POST /device with a JSON body', async () => {
    const { seen: s } = await request('/device', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_code: 'x' }) })
    expect((s.escaped as Error | undefined)?.message).toMatch(/^persist can only be called on previously persisted Sessions/)
    expect(s.unsavedSession).toBe(true)
  })

  it('throws a TypeError at the device resume route without its resume cookie', async () => {
    const { seen: s } = await request('/device/made-up-uid')
    expect(s.escaped).toBeInstanceOf(TypeError)
    expect(s.deviceResume).toBe(true)
  })

  it('hands its device page hook a form whose action and hidden fields parseProviderForm reads', async () => {
    forms.length = 0
    await request('/device')
    expect(forms).toHaveLength(1)
    const parsed = parseProviderForm(forms[0]!)
    expect(parsed.action).toMatch(/\/device$/)
    expect(Object.keys(parsed.hidden)).toContain('xsrf')
    expect(parsed.hidden.xsrf).toMatch(/^\S+$/)
  })

  it('re-renders its device page with errors deviceCodeFailure knows by name', async () => {
    const attempt = async (userCode: string) => {
      forms.length = 0
      formErrors.length = 0
      const cookies: string[] = []
      const page = await fetch(`${base}/device`)
      for (const c of page.headers.getSetCookie()) cookies.push(c.split(';')[0]!)
      await page.text()
      const { hidden, action } = parseProviderForm(forms[0]!)
      const res = await fetch(new URL(action, base), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies.join('; ') }, body: new URLSearchParams({ ...hidden, user_code: userCode }).toString() })
      await res.text()
      return formErrors.at(-1)
    }
    expect(deviceCodeFailure((await attempt(''))!)).toBe('no_code')
    expect(deviceCodeFailure((await attempt('BCDF-GHJK'))!)).toBe('not_found')
    expect(deviceCodeFailure(new Error('other'))).toBeUndefined()
    seen.length = 0
  })

  it('sends a back-channel logout token through the Client model’s backchannelLogout(sub, sid)', async () => {
    logoutTokens = []
    const client = await provider.Client.find('backchannel-client')
    expect(client).toBeDefined()
    await sendBackchannelLogout(client!, 'alice', 'a-session-id')
    expect(logoutTokens).toHaveLength(1)
    const claims = JSON.parse(Buffer.from(logoutTokens[0]!.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
    expect(claims).toMatchObject({ sub: 'alice', sid: 'a-session-id', aud: 'backchannel-client' })
  })
})

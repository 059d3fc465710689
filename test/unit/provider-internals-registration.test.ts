// One test per registration coupling in src/oidc/provider-internals.ts: each runs the installed
// oidc-provider's registration endpoints (in memory, no stores) and fails when an upgrade changes
// what dynamic registration (src/oidc/dynamic-registration.ts) relies on.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import Koa, { type Context } from 'koa'
import mount from 'koa-mount'
import Provider from 'oidc-provider'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  currentProviderRequest, handOverBody, initialAccessTokenJti, managedClient, managementClientId, providerOf, readJsonBodyForProvider, registrationRouteOf,
} from '../../src/oidc/provider-internals.ts'

interface Seen { route?: string | undefined; jti?: string | undefined; sameContext: boolean; provider: boolean; clientSecret?: string | undefined }

let server: http.Server
let provider: Provider
let base: string
const seen: Seen[] = []
/** What the middleware does with a PUT body it read: the test sets it. */
let rewrite: ((body: Record<string, unknown>) => void) | undefined

beforeAll(async () => {
  provider = new Provider('http://localhost', {
    clientAuthMethods: ['client_secret_basic', 'none'],
    features: {
      devInteractions: { enabled: false },
      registration: {
        enabled: true,
        initialAccessToken: true,
        policies: {
          probe: (ctx) => {
            const koa = ctx as unknown as Context
            seen.push({ route: registrationRouteOf(koa), jti: initialAccessTokenJti(koa), sameContext: currentProviderRequest() === koa, provider: providerOf(koa) === provider, clientSecret: managedClient(koa)?.clientSecret })
          },
        },
      },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: false },
    },
  })
  provider.use(async (ctx: Context, next) => {
    if (ctx.method === 'PUT' && managementClientId(ctx.path) !== undefined) {
      const body = await readJsonBodyForProvider(ctx)
      if (body) rewrite?.(body)
    }
    await next()
  })
  const app = new Koa()
  app.use(mount(provider))
  server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve))
})

const json = (method: string, token: string, body: unknown) => ({ method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
const CLIENT = { redirect_uris: ['https://client.test/cb'], client_name: 'Probe' }

async function registered() {
  const iat = new provider.InitialAccessToken({ expiresIn: 60, policies: ['probe'] })
  const value = await iat.save()
  const res = await fetch(`${base}/reg`, json('POST', value, CLIENT))
  expect(res.status).toBe(201)
  return { iat, value, body: await res.json() as Record<string, string> }
}

describe('oidc-provider registration internals', () => {
  it('runs a token policy on POST /reg with the route, the initial access token and Provider.ctx that the registration policy reads', async () => {
    seen.length = 0
    const { iat } = await registered()
    // No client is being managed yet: the registration's own client is made after the policies.
    expect(seen).toEqual([{ route: 'registration', jti: iat.jti, sameContext: true, provider: true, clientSecret: undefined }])
  })

  it('saves an initial access token whose value is its jti (the row id is a hash of it)', async () => {
    const iat = new provider.InitialAccessToken({ expiresIn: 60, policies: ['probe'] })
    expect(await iat.save()).toBe(iat.jti)
  })

  it('reads a PUT body handed over parsed, and names the client it manages with its stored secret', async () => {
    const { body } = await registered()
    const uri = body.registration_client_uri!
    seen.length = 0
    rewrite = (b) => {
      expect(b.client_secret).toBe('presented in clear')
      delete b.client_secret
      b.client_name = 'Handed over'
    }
    const res = await fetch(uri, json('PUT', body.registration_access_token!, { ...CLIENT, client_id: body.client_id, client_secret: 'presented in clear' }))
    rewrite = undefined
    expect(res.status).toBe(200)
    expect((await res.json() as Record<string, unknown>).client_name).toBe('Handed over')
    expect(seen).toEqual([{ route: 'client_update', jti: undefined, sameContext: true, provider: true, clientSecret: body.client_secret }])
  })

  it('refuses a body handed over as text that is not JSON, as it refuses one it reads itself', async () => {
    const { body } = await registered()
    const res = await fetch(body.registration_client_uri!, { method: 'PUT', headers: { authorization: `Bearer ${body.registration_access_token}`, 'content-type': 'application/json' }, body: '{not json' })
    expect(res.status).toBe(400)
    expect((await res.json() as Record<string, unknown>).error).toBe('invalid_request')
  })

  it('routes /reg/:clientId as managementClientId reads it: letters folded, one trailing slash', async () => {
    const { body } = await registered()
    for (const path of [`/reg/${body.client_id}`, `/REG/${body.client_id}`, `/reg/${body.client_id}/`]) {
      expect(managementClientId(path)).toBe(body.client_id)
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${body.registration_access_token}` } })
      expect(res.status, path).toBe(200)
    }
    expect(managementClientId('/reg')).toBeUndefined()
    expect(managementClientId('/reg/a/b')).toBeUndefined()
  })

  it('handOverBody replaces what the provider reads once the stream is consumed', () => {
    const ctx = { request: {} } as unknown as Context
    handOverBody(ctx, { a: 1 })
    expect((ctx.request as { body?: unknown }).body).toEqual({ a: 1 })
  })
})

// Behind a TLS-terminating reverse proxy: the server speaks plain HTTP, the proxy says
// `X-Forwarded-Proto: https` and `X-Forwarded-Host`. oidc-provider builds every endpoint URL in
// discovery from the request (ctx.href), and only ISSUER itself from the setting; so with
// TRUST_PROXY=true operators see https://<their host>/… endpoints and Secure cookies, and without
// it the same headers change nothing (a client cannot forge them).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'

const PUBLIC = 'https://id.example.test'
const FORWARDED = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'id.example.test', 'X-Forwarded-For': '203.0.113.7' }
const ENDPOINTS = ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint', 'introspection_endpoint',
  'revocation_endpoint', 'pushed_authorization_request_endpoint', 'device_authorization_endpoint', 'registration_endpoint']

async function discovery(iam: IamInstance, headers: Record<string, string> = {}) {
  const res = await fetch(`${iam.issuer}/.well-known/openid-configuration`, { headers })
  expect(res.status).toBe(200)
  return (await res.json()) as Record<string, unknown>
}

/** Starts an authorization request: the provider sets its interaction cookies. */
async function authorize(iam: IamInstance, headers: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier()
  const url = new URL(`${iam.issuer}/auth`)
  url.search = new URLSearchParams({
    client_id: 'spa', redirect_uri: SPA_REDIRECT, response_type: 'code', scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }).toString()
  const res = await fetch(url, { headers, redirect: 'manual' })
  expect(res.status).toBe(303)
  return res
}

// Plain names, or prefixed ones on an https ISSUER behind the trusted proxy (test/integration/cookie-names.test.ts).
const interactionCookies = (res: Response) => res.headers.getSetCookie().filter((c) => /^(_|__Secure-)interaction/.test(c))

describe('behind a proxy', () => {
  let trusted: IamInstance
  let untrusted: IamInstance

  beforeAll(async () => {
    ;[trusted, untrusted] = await Promise.all([
      createIam('embedded', { env: { ISSUER: PUBLIC, TRUST_PROXY: 'true' } }),
      createIam('embedded', { env: { ISSUER: PUBLIC } }),
    ])
    await Promise.all([trusted, untrusted].map(async (iam) => {
      await iam.withDatabase((prisma) => createFixtures(prisma))
      await iam.start()
    }))
  })
  afterAll(async () => {
    await Promise.all([trusted?.close(), untrusted?.close()])
  })

  describe('TRUST_PROXY=true, ISSUER=https://id.example.test', () => {
    it('discovery shows https:// endpoints on the public host when the proxy says https', async () => {
      const meta = await discovery(trusted, FORWARDED)
      expect(meta.issuer).toBe(PUBLIC)
      for (const key of ENDPOINTS) {
        if (meta[key] === undefined) continue
        expect(meta[key], key).toMatch(/^https:\/\/id\.example\.test\//)
      }
      expect(meta.token_endpoint).toBe(`${PUBLIC}/token`)
      expect(meta.jwks_uri).toBe(`${PUBLIC}/jwks`)
    })

    it('sets Secure cookies and HSTS when the proxy says https', async () => {
      const res = await authorize(trusted, FORWARDED)
      const cookies = interactionCookies(res)
      expect(cookies.length).toBeGreaterThan(0)
      for (const c of cookies) expect(c.toLowerCase()).toContain('; secure')
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/)
      // The interaction URL it sends the browser to is on the public origin too.
      expect(res.headers.get('location')).toMatch(/^(\/|https:\/\/id\.example\.test\/)interaction\//)
    })

    it('a request that did not come through the proxy (plain http) gets no Secure cookies', async () => {
      const res = await authorize(trusted)
      for (const c of interactionCookies(res)) expect(c.toLowerCase()).not.toContain('; secure')
      expect(res.headers.get('strict-transport-security')).toBeNull()
    })
  })

  describe('without TRUST_PROXY', () => {
    it('discovery does not follow X-Forwarded-* headers', async () => {
      const meta = await discovery(untrusted, FORWARDED)
      expect(meta.issuer).toBe(PUBLIC) // the issuer is the setting, whatever the request says
      for (const key of ENDPOINTS) {
        if (meta[key] === undefined) continue
        expect(meta[key], key).not.toMatch(/^https:/)
        expect(meta[key], key).not.toContain('id.example.test')
      }
    })

    it('a forged X-Forwarded-Proto does not make cookies Secure or send HSTS', async () => {
      const res = await authorize(untrusted, FORWARDED)
      const cookies = interactionCookies(res)
      expect(cookies.length).toBeGreaterThan(0)
      for (const c of cookies) expect(c.toLowerCase()).not.toContain('; secure')
      expect(res.headers.get('strict-transport-security')).toBeNull()
    })
  })
})

// Prometheus /metrics: exposed (on the main port, or alone on METRICS_PORT), with HTTP duration
// histograms by route pattern and status, tokens issued by grant type, audit outcomes (sign-in),
// store latency from the readiness checks, and the default process metrics (event-loop lag).
// Counters move after a sign-in and a client-credentials token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, signIn } from '../support/browser.ts'
import { freePort } from '../support/processes.ts'
import { ALICE, API, SERVICE_SECRET, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }

/** The value of one sample: `name` whose labels include every one of `labels` (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[4])
  }
  return total
}

describe('metrics', () => {
  let main: IamInstance
  let separate: IamInstance
  let metricsPort: number

  beforeAll(async () => {
    metricsPort = await freePort()
    ;[main, separate] = await Promise.all([
      createIam('embedded'),
      createIam('postgres-redis', { env: { METRICS_PORT: String(metricsPort) } }),
    ])
    await Promise.all([main, separate].map(async (iam) => {
      await iam.withDatabase((prisma) => createFixtures(prisma))
      await iam.start()
    }))
  })
  afterAll(async () => {
    await Promise.all([main?.close(), separate?.close()])
  })

  const scrape = async (url: string) => {
    const res = await fetch(url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    return res.text()
  }

  it('serves /metrics on the main port with process, HTTP and build metrics', async () => {
    await fetch(`${main.issuer}/.well-known/openid-configuration`)
    const text = await scrape(`${main.issuer}/metrics`)
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge')
    expect(text).toContain('# TYPE iam_http_request_duration_seconds histogram')
    expect(sample(text, 'iam_build_info')).toBe(1)
    expect(sample(text, 'iam_http_request_duration_seconds_count', { method: 'GET', route: '/.well-known/openid-configuration', status: '200' })).toBeGreaterThanOrEqual(1)
  })

  it('counts a sign-in (audit outcome) and the tokens issued, by grant type, with route patterns only', async () => {
    const before = await scrape(`${main.issuer}/metrics`)
    const issuer = new URL(main.issuer)
    const spa = await oidc.discovery(issuer, 'spa', undefined, oidc.None(), insecure)
    const svc = await oidc.discovery(issuer, 'svc', SERVICE_SECRET, oidc.ClientSecretBasic(SERVICE_SECRET), insecure)

    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const callback = await signIn(new HttpBrowser(main.issuer), url.href, { login: ALICE.email, password: ALICE.password })
    await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier })
    await oidc.clientCredentialsGrant(svc, { resource: API, scope: 'read' })
    await expect(oidc.clientCredentialsGrant(svc, { resource: 'https://unknown.example.test', scope: 'read' })).rejects.toMatchObject({ error: 'invalid_target' })

    const after = await scrape(`${main.issuer}/metrics`)
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels)
    expect(delta('iam_audit_events_total', { type: 'login', outcome: 'success' })).toBe(1)
    expect(delta('iam_tokens_issued_total', { grant_type: 'authorization_code' })).toBe(1)
    expect(delta('iam_tokens_issued_total', { grant_type: 'client_credentials' })).toBe(1)
    // The refused request is an audit failure, not a token issued.
    expect(delta('iam_audit_events_total', { type: 'token_request', outcome: 'failure' })).toBe(1)
    expect(delta('iam_http_request_duration_seconds_count', { method: 'POST', route: '/interaction/:uid/login' })).toBe(1)
    expect(delta('iam_http_request_duration_seconds_count', { method: 'POST', route: '/token', status: '200' })).toBe(2)

    // Low cardinality: no route label carries an id.
    const routes = new Set([...after.matchAll(/route="([^"]*)"/g)].map((m) => m[1]!))
    expect(routes).toContain('/auth/:uid')
    // (ids are random: a path segment mixing digits and capitals is one)
    const withId = (r: string) => r.split('/').some((seg) => /[0-9]/.test(seg) && /[A-Z]/.test(seg))
    expect([...routes].filter(withId)).toEqual([])
  })

  it('404s are labelled (unmatched), not by their path', async () => {
    await fetch(`${main.issuer}/no/such/page/abcdefghijklmnopqrstuvwxyz`)
    const text = await scrape(`${main.issuer}/metrics`)
    expect(sample(text, 'iam_http_request_duration_seconds_count', { route: '(unmatched)', status: '404' })).toBeGreaterThanOrEqual(1)
    expect(text).not.toContain('abcdefghijklmnopqrstuvwxyz')
  })

  it('times the stores in the readiness check', async () => {
    await fetch(`${separate.issuer}/readyz`)
    const text = await scrape(`http://127.0.0.1:${metricsPort}/metrics`)
    expect(sample(text, 'iam_store_ping_duration_seconds_count', { store: 'database' })).toBeGreaterThanOrEqual(1)
    expect(sample(text, 'iam_store_ping_duration_seconds_count', { store: 'redis' })).toBeGreaterThanOrEqual(1)
    expect(sample(text, 'iam_store_up', { store: 'redis' })).toBe(1)
    expect(sample(text, 'iam_store_up', { store: 'database' })).toBe(1)
  })

  it('with METRICS_PORT, /metrics is served there only', async () => {
    const other = await fetch(`${separate.issuer}/metrics`)
    expect(other.status).not.toBe(200)
    expect(await other.text()).not.toContain('nodejs_eventloop_lag_seconds')
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404)
  })
})

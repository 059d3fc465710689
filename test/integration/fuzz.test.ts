// Fuzzing with fast-check against one running server (embedded mode): every endpoint and form —
// the provider's and every POST route of our page routers (enumerated from createPageRouters, as
// the CSRF test does, and sent with the page's real CSRF token so the fuzz reaches the handlers),
// the admin API and the health endpoints — with malformed, oversized, wrongly-typed and hostile
// input: random and invalid-UTF-8 strings, broken percent-encodings, nested JSON, arrays where
// strings are expected, values near and over the body limits, duplicate parameters, wrong content
// types, huge headers.
//
// Properties: never a 5xx (no store is down here), the process never crashes (same pid, /healthz
// answers after), and memory stays flat: what the server still holds after a full garbage
// collection (heap, external memory, RSS; read over the inspector, test/support/inspector.ts) grows
// by no more than a bound over the run. A coarse leak check, not a measurement; RSS without a
// collection is mostly GC timing (a CI run once read +577 MB over 300 requests of a healthy server).
//
// Bounded for CI: FUZZ_RUNS requests (default 300, well under a minute); `npm run fuzz` sets
// FUZZ_RUNS=20000 for a long run, which prints the memory every FUZZ_SAMPLE_EVERY requests.
// FUZZ_HEAP_SNAPSHOTS=DIR also writes heap snapshots after the first sample and at the end, to
// compare in Chrome DevTools when the heap grows (taking one adds ~500 MB to the server's RSS, so
// the RSS bound is not checked then).
// FUZZ_SEED=N repeats a run (a failure prints its seed). Every 5xx found is a server bug: the
// input that caused it stays below as a regression example.
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as oidc from 'openid-client'
import { pageRoutes as allPageRoutes } from '../support/page-routes.ts'
import { createIam, type IamInstance } from '../support/iam.ts'
import { inspectableNodeOptions, inspectorUrl, memoryAfterGc, writeHeapSnapshot } from '../support/inspector.ts'
import { HttpBrowser, formWithAction } from '../support/browser.ts'
import { ALICE, SERVICE_SECRET, SPA_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'

const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 300))
/** No single request may take longer than this (a hang, not a speed check: argon2 and PGlite on a shared 2-core machine). */
const HANG_MS = 15_000
/** Node's default limit on a request's head (--max-http-header-size). */
const MAX_HEAD_BYTES = 16 * 1024
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined
const SAMPLE_EVERY = Math.max(1, Number(process.env.FUZZ_SAMPLE_EVERY ?? 1000))
const SNAPSHOTS = process.env.FUZZ_HEAP_SNAPSHOTS
/** After a full GC, heap and external memory may grow this much over a run (caches filling) before it counts as a leak. */
const HEAP_GROWTH_LIMIT_KB = 8 * 1024
/** RSS after a full GC may grow this much (malloc arenas of argon2's threads, PGlite's buffers) before it counts as a leak. */
const RSS_GROWTH_LIMIT_KB = 120 * 1024

/** The GET and POST routes of our page routers. */
const pageRoutes = () => allPageRoutes().filter((r) => r.method === 'GET' || r.method === 'POST')

const PROVIDER_ENDPOINTS: Array<{ method: string; path: string }> = [
  ...['/auth', '/token', '/token/introspection', '/token/revocation', '/me', '/request', '/device/auth', '/device', '/session/end', '/session/end/confirm', '/reg']
    .flatMap((path) => [{ method: 'GET', path }, { method: 'POST', path }]),
  { method: 'GET', path: '/.well-known/openid-configuration' },
  { method: 'GET', path: '/jwks' },
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/readyz' },
  { method: 'GET', path: '/api/demo/sensitive' },
  ...['/admin/api/v1/users', '/admin/api/v1/clients', '/admin/api/v1/roles', '/admin/api/v1/tenants', '/admin/api/v1/audit', '/admin/api/v1/me', '/admin/api/v1/users/x']
    .flatMap((path) => ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'].map((method) => ({ method, path }))),
]

/** Parameter names the endpoints read, so the fuzz hits real code paths and not only "unknown parameter". */
const PARAM_NAMES = ['client_id', 'client_secret', 'grant_type', 'code', 'code_verifier', 'redirect_uri', 'response_type', 'scope', 'state', 'nonce',
  'code_challenge', 'code_challenge_method', 'refresh_token', 'token', 'token_type_hint', 'resource', 'request', 'request_uri', 'prompt', 'max_age',
  'claims', 'acr_values', 'id_token_hint', 'post_logout_redirect_uri', 'logout', 'xsrf', 'user_code', 'device_code', 'client_assertion',
  'client_assertion_type', 'login', 'password', 'email', 'name', 'csrf', 'method', 'label', 'newPassword', 'currentPassword', 'confirm', 'session', 'ui_locales',
  'authorization_details', 'dpop_jkt', 'response_mode', 'login_hint', 'registration', 'redirect_uris', 'jwks', 'totp', 'phone', 'channel', 'credential']

// --- arbitraries -----------------------------------------------------------------------------

const hostileChars = fc.constantFrom('\u0000', '\r\n', '%', '%%', '%zz', '%C3%28', '%ED%A0%80', '%FF%FE', '%E2%82', '\uFEFF', '\u202E', '../', '..%2F', '<script>', '"\'', '{{', '${', '\\', '+', '&', '=', '#', '?', '\uD800', '\uDFFF', '😀', 'ＡＢＣ', 'ǅ')
const percentBytes = fc.uint8Array({ maxLength: 24 }).map((b) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join(''))
/** A string a form field or query parameter might carry. */
const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.array(hostileChars, { maxLength: 8 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: percentBytes },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', 'undefined', 'true', '0', '-1', '1e309', 'NaN', '[]', '{}', 'openid', 'spa', 'svc', 'web', 'client_credentials', 'authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code', 'S256', 'code', SPA_REDIRECT, ALICE.email) },
  // near and over the limits: the provider reads 56 KB bodies, our forms and the admin API 256 KB
  { weight: 1, arbitrary: fc.constantFrom(1_000, 8_000, 56 * 1024 - 100, 60_000, 300_000).map((n) => 'A'.repeat(n)) },
)
const paramName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PARAM_NAMES) }, { weight: 1, arbitrary: hostileString.map((s) => s.slice(0, 30)) })
/** Parameters: duplicates allowed (an array of pairs), values sometimes repeated. */
const params = fc.array(fc.tuple(paramName, hostileString), { maxLength: 8 })
/** JSON: nested, deep, arrays where strings go, wrong types. */
const deepJson = fc.integer({ min: 50, max: 3000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth))
const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.dictionary(paramName, fc.oneof(hostileString, fc.array(hostileString, { maxLength: 3 }), fc.integer(), fc.boolean(), fc.constant(null), fc.object({ maxDepth: 3 })), { maxKeys: 6 }).map((v) => JSON.stringify(v)),
  deepJson,
  fc.constantFrom('{', '{"a":', '[1,2', '"\\ud800"', '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"x":1}}}', 'null', '1', '"x"', ''),
)
const contentType = fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded; charset=latin1', 'application/json; charset=utf-16', 'application/jwt', 'invalid', '')
type Body = { type: string | undefined; data: string | Buffer | undefined }
const body: fc.Arbitrary<Body> = fc.oneof(
  params.map((p) => ({ type: 'application/x-www-form-urlencoded', data: form(p) })),
  // raw, not encoded: broken percent-encodings and invalid UTF-8 go through as they are
  fc.tuple(params, fc.uint8Array({ maxLength: 64 })).map(([p, raw]) => ({ type: 'application/x-www-form-urlencoded', data: Buffer.concat([Buffer.from(p.map(([k, v]) => `${k}=${v}`).join('&'), 'latin1'), Buffer.from('&x='), Buffer.from(raw)]) })),
  jsonBody.map((data) => ({ type: 'application/json', data })),
  fc.tuple(contentType, fc.oneof(jsonBody, hostileString)).map(([type, data]) => ({ type: type || undefined, data })),
  fc.uint8Array({ maxLength: 512 }).map((b) => ({ type: 'application/x-www-form-urlencoded', data: Buffer.from(b) })),
  fc.constant({ type: undefined, data: undefined }),
)
const headers = fc.dictionary(
  fc.constantFrom('authorization', 'dpop', 'cookie', 'x-request-id', 'x-forwarded-for', 'accept', 'accept-language', 'user-agent', 'origin', 'referer', 'x-fuzz'),
  fc.oneof(
    hostileString.map((s) => s.replace(/[^\t\x20-\x7e\x80-\xff]/g, '').slice(0, 2_000)),
    fc.constantFrom('Basic ', 'Basic !!!', `Basic ${Buffer.from('svc:').toString('base64')}`, `Basic ${Buffer.from(':::%%%').toString('base64')}`, 'Bearer ', 'Bearer x.y.z', 'DPoP eyJ', 'Bearer ' + 'a'.repeat(8_000)),
  ),
  { maxKeys: 3 },
)

/** Percent-encodes the UTF-8 bytes of `s` (lone surrogates become U+FFFD; encodeURIComponent would throw). */
function enc(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('')
}
const form = (p: Array<[string, string]>) => p.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&')

/** fc.assert, with a failure message short enough to read (counterexamples carry 300 KB strings). */
async function assertShort(property: fc.IAsyncProperty<any>, params: fc.Parameters<any>): Promise<void> {
  try {
    await fc.assert(property, params)
  } catch (err) {
    // fast-check keeps the property's own error (the status, or why there was no answer) as the cause.
    const cause = (err as { cause?: unknown }).cause
    const message = `${(err as Error).message}${cause instanceof Error ? `\nCause: ${cause.message}` : ''}`
    throw new Error(message.replace(/A{200,}/g, (m) => `A×${m.length}`).slice(0, 6000))
  }
}

interface FuzzRequest { method: string; path: string; query: Array<[string, string]>; body: Body; headers: Record<string, string> }

describe('fuzzing every endpoint and form (embedded)', () => {
  let iam: IamInstance
  let pid: number
  let interactionUid = ''
  const csrf: Record<string, string> = {}
  let cookie = ''
  let accountCookie = ''
  const found: Array<{ req: string; status: number; body: string }> = []

  beforeAll(async () => {
    iam = await createIam('embedded', { env: { NODE_OPTIONS: inspectableNodeOptions() } })
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
    pid = iam.process()!.pid!
    // A live interaction and its CSRF token, so form posts reach the handlers.
    const spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] })
    const browser = new HttpBrowser(iam.issuer)
    const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })
    const page = await browser.navigate(url.href)
    const login = formWithAction(page.body, '/login')
    interactionUid = /^\/interaction\/([^/]+)\/login$/.exec(login.action)![1]!
    csrf.interaction = login.fields.csrf!
    cookie = browser.cookieHeader()
    // A signed-in account area (its own CSRF scope), so /account/* posts reach their handlers too.
    const account = new HttpBrowser(iam.issuer)
    let res = await account.navigate(`${iam.issuer}/account`)
    for (let step = 0; step < 5 && /\/login"/.test(res.body); step++) {
      const form = formWithAction(res.body, '/login')
      res = await account.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, login: ALICE.email, password: ALICE.password } })
    }
    const token = /name="csrf" value="([^"]+)"/.exec(res.body)?.[1]
    if (token) csrf.account = token
    accountCookie = account.cookieHeader()
  }, 120_000)

  afterAll(async () => {
    await iam?.close()
  })

  /**
   * Loads what the server loads on first use, so it is not counted as growth: the password word
   * lists (a new password from the list is refused; nothing changes) and the passkey library.
   */
  async function loadLazyModules(): Promise<void> {
    const post = (path: string, body: string, type: string) => fetch(`${iam.issuer}${path}`, { method: 'POST', redirect: 'manual', headers: { cookie: accountCookie, 'content-type': type }, body })
    const listed = await post('/account/password', form([['csrf', csrf.account!], ['current', ALICE.password], ['password', 'qwertyuiop123'], ['confirm', 'qwertyuiop123']]), 'application/x-www-form-urlencoded')
    expect(await listed.text()).toContain('list of common or leaked passwords')
    const passkey = await post('/account/security/passkeys/options', JSON.stringify({ csrf: csrf.account }), 'application/json')
    expect(passkey.status).toBe(200)
  }

  async function send(r: FuzzRequest): Promise<{ status: number; text: string }> {
    const url = new URL(r.path, iam.issuer)
    const search = form(r.query)
    const href = `${url.origin}${url.pathname}${search ? `?${search}` : ''}`
    const h: Record<string, string> = { ...r.headers }
    if (r.body.type) h['content-type'] = r.body.type
    // Pages get the session and a real CSRF token of their scope (unless the fuzz replaced the cookie).
    const isAccount = r.path.startsWith('/account') || r.path.startsWith('/self-service/')
    if (!h.cookie) h.cookie = isAccount ? accountCookie : cookie
    let data = r.body.data
    const token = isAccount ? csrf.account : csrf.interaction
    if (r.method === 'POST' && token && r.body.type === 'application/x-www-form-urlencoded' && data !== undefined) {
      data = Buffer.concat([Buffer.from(`csrf=${enc(token)}&`), Buffer.from(data)])
    }
    const res = await fetch(href, {
      method: r.method, headers: h, redirect: 'manual', signal: AbortSignal.timeout(HANG_MS),
      ...(r.method !== 'GET' && r.method !== 'HEAD' && data !== undefined ? { body: typeof data === 'string' ? data : new Uint8Array(data) } : {}),
    })
    return { status: res.status, text: (await res.text()).slice(0, 300) }
  }

  /** At least the size of a request's head (request line and the fuzzed headers). */
  function headBytes(r: FuzzRequest): number {
    return r.path.length + form(r.query).length + Object.entries(r.headers).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v) + 4, 0)
  }

  async function check(r: FuzzRequest): Promise<void> {
    let result: { status: number; text: string }
    try {
      result = await send(r)
    } catch (err) {
      // fetch itself refuses some headers (e.g. a value with a control character): not the server's answer.
      if (err instanceof TypeError && !/fetch failed/.test(err.message)) return
      // A request head over Node's limit is answered 431 and the connection closed at once; when
      // the client is still sending, that close can reset the connection before it reads the 431.
      if (headBytes(r) > MAX_HEAD_BYTES && /ECONNRESET|EPIPE|UND_ERR_SOCKET/.test(String((err as { cause?: { code?: string } }).cause?.code))) return
      throw new Error(`${r.method} ${r.path}: no answer (${(err as Error).name}: ${(err as Error).message}; cause ${String((err as { cause?: unknown }).cause)})`)
    }
    if (result.status >= 500) {
      found.push({ req: JSON.stringify(r).slice(0, 2000), status: result.status, body: result.text })
      throw new Error(`${r.method} ${r.path} answered ${result.status}: ${result.text}`)
    }
  }

  const routes = [...PROVIDER_ENDPOINTS, ...pageRoutes()]
  const request = (withUid: () => string) => fc.record({
    route: fc.constantFrom(...routes),
    segment: hostileString,
    query: params,
    body,
    headers,
  }).map(({ route, segment, query, body: b, headers: h }): FuzzRequest => ({
    method: route.method,
    // :uid is the live interaction (so handlers run); other parameters get fuzz.
    path: route.path.replace(':uid', withUid()).replace(/:[a-zA-Z]+/g, enc(segment).slice(0, 200) || 'x'),
    query: route.method === 'GET' ? query : query.slice(0, 2),
    body: route.method === 'GET' ? { type: undefined, data: undefined } : b,
    headers: h,
  }))

  it('finds every route of our pages and the provider', () => {
    const pages = pageRoutes()
    expect(pages.filter((r) => r.method === 'POST').length).toBeGreaterThan(20)
    expect(pages.map((r) => r.path)).toEqual(expect.arrayContaining(['/interaction/:uid/login', '/account/logout']))
    expect(csrf.interaction).toBeTruthy()
    expect(csrf.account).toBeTruthy()
  })

  it('regressions: inputs that once answered 5xx', async () => {
    const cases: FuzzRequest[] = [
      // 500 from inside oidc-provider's error handler (device resume without its cookie); see src/app.ts deviceResumeErrors.
      { method: 'GET', path: '/device/auth', query: [['scope', 'openid']], body: { type: undefined, data: undefined }, headers: {} },
      { method: 'GET', path: '/device/x', query: [], body: { type: undefined, data: undefined }, headers: { cookie: '_interaction_resume=forged' } },
      // 500: a NUL byte in client_id reached PostgreSQL ("invalid byte sequence for encoding UTF8: 0x00").
      { method: 'POST', path: '/device/auth', query: [], body: { type: 'application/x-www-form-urlencoded', data: 'client_id=%00spa&scope=openid' }, headers: {} },
      { method: 'POST', path: '/token/introspection', query: [], body: { type: 'application/x-www-form-urlencoded', data: 'token=%00x' }, headers: { authorization: `Basic ${Buffer.from(`svc:${enc(SERVICE_SECRET)}`).toString('base64')}` } },
      // 500: oidc-provider persisting an unsaved session after its 400 (src/app.ts providerEscapes).
      { method: 'POST', path: '/device', query: [['request', '']], body: { type: 'application/json', data: '[[[]]]' }, headers: {} },
      // 500: a NUL in the logout state reached the session's jsonb payload (src/oidc/adapters/database.ts storable).
      { method: 'GET', path: '/session/end', query: [['L', 'kcNlGC%U'], ['code_challenge_method', '%10%44%ab%88%fe%5b'], ['state', '{{ＡＢＣ\udfff=<script>\u0000%C3%28'], ['claims', '񅕺򶋺󣚷􎑹󻕲𡸫'], ['token', '^A'], ['name', '򼲜𙙾𷒖󢸆񧆠󪁺'], ['response_mode', '񎶴']], body: { type: undefined, data: undefined }, headers: { 'x-forwarded-for': 'Basic ', referer: 'Basic ', 'x-fuzz': '1e309' } },
    ]
    for (const r of cases) await check(r)
  })

  it(`never answers 5xx, never crashes, memory flat (${RUNS} requests)`, async () => {
    found.length = 0
    await loadLazyModules()
    const inspector = inspectorUrl(iam.logs())
    const before = await memoryAfterGc(inspector)
    const samples = [before]
    let sent = 0
    const sampled = async (r: FuzzRequest) => {
      await check(r)
      if (++sent % SAMPLE_EVERY === 0) {
        samples.push(await memoryAfterGc(inspector))
        if (SNAPSHOTS && sent === SAMPLE_EVERY) await writeHeapSnapshot(inspector, path.join(SNAPSHOTS, `fuzz-${sent}.heapsnapshot`))
      }
    }
    await assertShort(fc.asyncProperty(request(() => interactionUid), sampled), { ...(SEED === undefined ? {} : { seed: SEED }), numRuns: RUNS, endOnFailure: true, interruptAfterTimeLimit: Math.max(50_000, RUNS * 60) })
    expect(found).toEqual([])
    // The process is the same one and answers.
    expect(iam.process()!.pid).toBe(pid)
    expect(iam.process()!.exitCode).toBeNull()
    expect((await fetch(`${iam.issuer}/healthz`)).status).toBe(200)
    const after = await memoryAfterGc(inspector)
    samples.push(after)
    if (SNAPSHOTS) await writeHeapSnapshot(inspector, path.join(SNAPSHOTS, `fuzz-${sent}.heapsnapshot`))
    const mb = (kb: number) => (kb / 1024).toFixed(1)
    console.log(`fuzz: ${RUNS} requests; after a full GC (before, every ${SAMPLE_EVERY} requests, after): heap ${samples.map((m) => mb(m.heapUsedKb)).join(' ')} MB; `
      + `external ${samples.map((m) => mb(m.externalKb)).join(' ')} MB; RSS ${samples.map((m) => mb(m.rssKb)).join(' ')} MB`)
    expect(after.heapUsedKb - before.heapUsedKb).toBeLessThan(HEAP_GROWTH_LIMIT_KB)
    expect(after.externalKb - before.externalKb).toBeLessThan(HEAP_GROWTH_LIMIT_KB)
    if (!SNAPSHOTS) expect(after.rssKb - before.rssKb).toBeLessThan(RSS_GROWTH_LIMIT_KB)
    // Nothing the server logged was a 5xx either (requests the fuzz did not see, e.g. a second step).
    expect(iam.logs().split('\n').filter((l) => /"status":5\d\d/.test(l)).map((l) => l.slice(0, 300))).toEqual([])
  }, 180_000)

  it('a body refused before it was read to its end closes its connection: the next requests are answered', async () => {
    // Found by the fuzz: after a 300 KB /token body (refused, 400), the next request on that
    // keep-alive connection was reset.
    for (const size of [300_000, 1_000_000]) {
      for (let i = 0; i < 3; i++) {
        const refused = await fetch(`${iam.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&scope=${'A'.repeat(size)}` })
        expect(refused.status).toBe(400)
        expect(refused.headers.get('connection')).toBe('close')
        await refused.text()
        expect((await fetch(`${iam.issuer}/admin/api/v1/tenants`)).status).toBe(401)
        expect((await fetch(`${iam.issuer}/.well-known/openid-configuration`)).status).toBe(200)
      }
    }
  })

  it('huge headers: within what Node accepts they are answered, beyond it 431, and the server lives on', async () => {
    const ok = await fetch(`${iam.issuer}/.well-known/openid-configuration`, { headers: { 'x-fuzz': 'a'.repeat(12_000) } })
    expect(ok.status).toBe(200)
    const many: Record<string, string> = {}
    for (let i = 0; i < 60; i++) many[`x-fuzz-${i}`] = 'b'.repeat(200)
    expect((await fetch(`${iam.issuer}/token`, { method: 'POST', headers: many })).status).toBeLessThan(500)
    const tooBig = await fetch(`${iam.issuer}/token`, { method: 'POST', headers: { 'x-fuzz': 'c'.repeat(20_000) } })
    expect(tooBig.status).toBe(431)
    expect((await fetch(`${iam.issuer}/healthz`)).status).toBe(200)
    expect(iam.process()!.pid).toBe(pid)
  })

  it('authenticated fuzz at the token and introspection endpoints reaches past client authentication', async () => {
    found.length = 0
    const auth = (id: string, secret: string) => `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`
    await assertShort(fc.asyncProperty(fc.constantFrom('/token', '/token/introspection', '/token/revocation', '/request', '/device/auth'), fc.constantFrom(auth('svc', SERVICE_SECRET), auth('web', WEB_SECRET)), params, async (path, authorization, p) => {
      await check({ method: 'POST', path, query: [], headers: { authorization }, body: { type: 'application/x-www-form-urlencoded', data: form(p) } })
    }), { numRuns: Math.max(20, Math.round(RUNS / 5)), endOnFailure: true })
    expect(found).toEqual([])
  }, 120_000)
})

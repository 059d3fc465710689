// Load generation for `npm run bench`: wrk (closed loop, fixed connections, fixed duration) with a
// generated Lua script for the request, and a small cookie-keeping walker for full sign-ins.
import { spawn } from 'node:child_process'
import http from 'node:http'
import { createHash, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { formWithAction } from '../test/support/browser.ts'

export interface RequestSpec {
  method: 'GET' | 'POST'
  path: string
  headers: Record<string, string>
  body?: string
}

export interface LoadResult {
  requests: number
  seconds: number
  rps: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  maxMs: number
  /** Responses with status >= 400 plus socket errors and timeouts: must be 0 for a valid run. */
  errors: number
}

const luaString = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`

/** Runs wrk against `base` (http://host:port) with one request shape; parses the Lua summary. */
export async function runWrk(base: string, spec: RequestSpec, opts: { connections: number; seconds: number; threads: number; dir: string; name: string }): Promise<LoadResult> {
  const script = path.join(opts.dir, `${opts.name}.lua`)
  writeFileSync(script, [
    `wrk.method = ${luaString(spec.method)}`,
    ...(spec.body !== undefined ? [`wrk.body = ${luaString(spec.body)}`] : []),
    ...Object.entries(spec.headers).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`),
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format("BENCH_JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"errors\\":%d,\\"p50_us\\":%d,\\"p90_us\\":%d,\\"p99_us\\":%d,\\"max_us\\":%d}\\n",',
    '    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,',
    '    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))',
    'end',
    '',
  ].join('\n'))
  const args = ['-t', String(opts.threads), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--timeout', '10s', '-s', script, `${base}${spec.path}`]
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let text = ''
    child.stdout.on('data', (d: Buffer) => { text += d })
    child.stderr.on('data', (d: Buffer) => { text += d })
    child.once('error', reject)
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}:\n${text}`))))
  })
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '))
  if (!line) throw new Error(`no summary from wrk:\n${out}`)
  const s = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>
  const seconds = s.duration_us! / 1e6
  return {
    requests: s.requests!, seconds, rps: s.requests! / seconds,
    p50Ms: s.p50_us! / 1000, p90Ms: s.p90_us! / 1000, p99Ms: s.p99_us! / 1000, maxMs: s.max_us! / 1000,
    errors: s.errors!,
  }
}

// The walkers share the machine with the server they measure, so they are kept light: node:http
// with kept-alive connections costs less CPU per request than fetch (undici).
const walkerAgent = new http.Agent({ keepAlive: true, maxSockets: 512 })

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

function send(url: string, method: 'GET' | 'POST', headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: walkerAgent, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * A browser without JavaScript for a server whose public issuer is https:// while we reach it
 * over plain http (TLS ends at a proxy in production): every request goes to `target` with
 * X-Forwarded-Proto: https, and redirects to the issuer's origin are followed there.
 */
export class ProxiedBrowser {
  private cookies = new Map<string, string>()
  private readonly issuerOrigin: string

  readonly issuer: string
  readonly target: string

  constructor(issuer: string, target: string) {
    this.issuer = issuer
    this.target = target
    this.issuerOrigin = new URL(issuer).origin
  }

  private toTarget(url: URL): string {
    return `${this.target}${url.pathname}${url.search}`
  }

  async request(url: URL, init: { form?: Record<string, string> } = {}): Promise<{ status: number; location: URL | undefined; body: string }> {
    const headers: Record<string, string> = { 'x-forwarded-proto': 'https', 'user-agent': 'iam-bench/1 (walker)' }
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    let body: string | undefined
    if (init.form) {
      body = new URLSearchParams(init.form).toString()
      headers['content-type'] = 'application/x-www-form-urlencoded'
    }
    const res = await send(this.toTarget(url), init.form ? 'POST' : 'GET', headers, body)
    for (const line of res.headers['set-cookie'] ?? []) {
      const [pair, ...attrs] = line.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq).trim()
      const value = pair!.slice(eq + 1).trim()
      if (value === '' || attrs.some((a) => /^\s*(expires=Thu, 01 Jan 1970|max-age=0)/i.test(a))) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
    const location = res.headers.location
    return { status: res.status, location: location ? new URL(location, url) : undefined, body: res.body }
  }

  /** Follows redirects while they stay on the issuer's origin; returns the page or the URL that leaves it. */
  async navigate(url: URL, init: { form?: Record<string, string> } = {}): Promise<{ url: URL; status: number; body: string }> {
    let current = url
    let res = await this.request(current, init)
    for (let hops = 0; hops < 20; hops++) {
      if (res.status < 300 || res.status >= 400 || !res.location) return { url: current, status: res.status, body: res.body }
      current = res.location
      if (current.origin !== this.issuerOrigin) return { url: current, status: res.status, body: '' }
      res = await this.request(current)
    }
    throw new Error('too many redirects')
  }
}

export const SPA_REDIRECT = 'http://localhost:5173/callback'

/**
 * One complete sign-in as a relying party and a person do it: authorize (PKCE S256) → login page →
 * password → consent page → Allow → code at the redirect URI → code redeemed at /token.
 * Returns the token response (access_token, id_token…). Throws on anything unexpected.
 */
export async function fullSignIn(issuer: string, target: string, login: string, password: string, scope = 'openid profile email'): Promise<{ access_token: string }> {
  const browser = new ProxiedBrowser(issuer, target)
  const verifier = randomBytes(32).toString('base64url')
  const state = randomBytes(16).toString('base64url')
  const auth = new URL('/auth', issuer)
  auth.search = new URLSearchParams({
    client_id: 'spa', response_type: 'code', redirect_uri: SPA_REDIRECT, scope, state, prompt: 'consent',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  }).toString()
  let page = await browser.navigate(auth)
  for (let step = 0; step < 5 && page.url.origin === new URL(issuer).origin; step++) {
    if (page.body.includes('action="/interaction/') && /\/login"/.test(page.body)) {
      const form = formWithAction(page.body, '/login')
      page = await browser.navigate(new URL(form.action, issuer), { form: { ...form.fields, login, password } })
    } else if (/\/consent"/.test(page.body)) {
      const form = formWithAction(page.body, '/consent')
      page = await browser.navigate(new URL(form.action, issuer), { form: form.fields })
    } else {
      throw new Error(`unexpected page (status ${page.status}) at ${page.url.pathname}:\n${page.body.slice(0, 600)}`)
    }
  }
  const code = page.url.searchParams.get('code')
  if (!page.url.href.startsWith(SPA_REDIRECT) || !code || page.url.searchParams.get('state') !== state) {
    throw new Error(`sign-in did not end at the redirect URI with a code: ${page.url.href.slice(0, 300)}`)
  }
  const res = await send(`${target}/token`, 'POST', { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-proto': 'https' },
    new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: SPA_REDIRECT, client_id: 'spa', code_verifier: verifier }).toString())
  const tokens = (() => { try { return JSON.parse(res.body) as { access_token?: string; id_token?: string; error?: string } } catch { return { error: res.body.slice(0, 300) } } })()
  if (res.status !== 200 || !tokens.access_token || !tokens.id_token) throw new Error(`code redemption failed (${res.status}): ${JSON.stringify(tokens)}`)
  return { access_token: tokens.access_token }
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

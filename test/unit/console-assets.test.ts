// The admin console's server side (src/admin/console-assets.ts) without a browser: the nonce and
// issuer injection, SPA routing, what is left to the admin API, and the 503 without a build.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Context } from 'koa'
import { renderIndex, serveConsole } from '../../src/admin/console-assets.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'console-'))
mkdirSync(path.join(dir, 'assets'))
writeFileSync(path.join(dir, 'index.html'), '<html><head><script type="module" src="/admin/assets/index-abc.js"></script></head><body></body></html>')
writeFileSync(path.join(dir, 'assets', 'index-abc.js'), 'console.log(1)')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function call(mw: ReturnType<typeof serveConsole>, p: string, method = 'GET') {
  const headers: Record<string, string> = {}
  const ctx = { path: p, method, state: { cspNonce: 'N0nce+/=' }, status: 404, body: undefined as unknown, type: '', set: (k: string, v: string) => { headers[k.toLowerCase()] = v } }
  let passed = false
  await mw(ctx as unknown as Context, async () => { passed = true })
  return { ...ctx, headers, passed }
}

describe('admin console assets', () => {
  const mw = serveConsole({ issuer: 'https://id.example.test', dir })

  it('puts the nonce on scripts and the issuer in a meta tag, escaped', () => {
    const html = renderIndex('<head><script src="a.js"></script></head>', { nonce: 'a"b', issuer: 'https://x/"y' })
    expect(html).toContain('<script nonce="a&quot;b" src="a.js">')
    expect(html).toContain('<meta name="iam-issuer" content="https://x/&quot;y">')
  })

  it('answers index.html (no-store) for /admin and any page path', async () => {
    for (const p of ['/admin', '/admin/', '/admin/users/123', '/admin/callback']) {
      const r = await call(mw, p)
      expect(r.passed, p).toBe(false)
      expect(r.headers['cache-control']).toBe('no-store')
      expect(String(r.body)).toContain('<script nonce="N0nce+/=" type="module"')
    }
  })

  it('serves hashed assets with a long cache; unknown ones fall through', async () => {
    const r = await call(mw, '/admin/assets/index-abc.js')
    expect(r.headers['cache-control']).toContain('immutable')
    expect(r.type).toMatch(/javascript/)
    expect((await call(mw, '/admin/assets/nope.js')).passed).toBe(true)
    expect((await call(mw, '/admin/assets/../index.html')).passed).toBe(true)
  })

  it('leaves /admin/api, other paths and other methods alone', async () => {
    for (const p of ['/admin/api', '/admin/api/v1/me', '/administrator', '/account']) expect((await call(mw, p)).passed, p).toBe(true)
    expect((await call(mw, '/admin/users', 'POST')).passed).toBe(true)
  })

  it('answers 503 with what to run when there is no build', async () => {
    const r = await call(serveConsole({ issuer: 'https://id.example.test', dir: path.join(dir, 'absent') }), '/admin/')
    expect(r.status).toBe(503)
    expect(String(r.body)).toContain('npm run build:console')
  })
})

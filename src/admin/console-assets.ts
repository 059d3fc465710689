// Serves the admin console's build (dist/console, `npm run build:console`) at /admin, in every
// mode, from this same server: hashed assets under /admin/assets/ with a long cache, and the
// single page (index.html) for /admin and every other /admin/* path that is neither the admin
// API nor an asset (the console routes in the browser). index.html is read once; each response
// gets this response's CSP nonce on its script tags (the console has no inline script or style)
// and the issuer, so the bundle knows whom to sign in with.
import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Context, Next } from 'koa'

/** Where `npm run build:console` writes (vite.config.ts: outDir). */
export const CONSOLE_DIST = path.resolve(import.meta.dirname, '../../dist/console')
export const CONSOLE_PATH = '/admin'

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
}
// Vite's asset names: name-HASH.ext under assets/, nothing else is served from there.
const ASSET = /^\/admin\/assets\/([A-Za-z0-9._-]+)$/

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** index.html with the nonce on every <script> and <link rel="modulepreload">, and the issuer as a meta tag. */
export function renderIndex(html: string, opts: { nonce: string; issuer: string }): string {
  const nonce = escapeAttribute(opts.nonce)
  return html
    .replace(/<script\b/g, `<script nonce="${nonce}"`)
    .replace(/<link rel="modulepreload"/g, `<link rel="modulepreload" nonce="${nonce}"`)
    .replace('</head>', `<meta name="iam-issuer" content="${escapeAttribute(opts.issuer)}">\n</head>`)
}

const MISSING_BUILD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Admin console not built</title><link rel="stylesheet" href="/assets/style.css"></head>
<body><main class="card"><h1>The admin console is not built</h1>
<p>This server has no build of the admin console (dist/console is missing). Run <code>npm run build:console</code>
(<code>scripts/iam.sh start</code> does it for you), then reload this page.</p>
<p>The admin API at <code>/admin/api/v1</code> works without it.</p></main></body></html>`

export interface ConsoleAssetsOptions {
  issuer: string
  /** Defaults to CONSOLE_DIST; tests point it elsewhere. */
  dir?: string
}

/** Koa middleware for /admin and /admin/* except /admin/api (the admin API's). */
export function serveConsole({ issuer, dir = CONSOLE_DIST }: ConsoleAssetsOptions) {
  const indexFile = path.join(dir, 'index.html')
  // Read at start; a missing build is looked for again on each request, so building while the
  // server runs is enough.
  let index: string | undefined = existsSync(indexFile) ? readFileSync(indexFile, 'utf8') : undefined

  return async function adminConsole(ctx: Context, next: Next) {
    const p = ctx.path
    if (p !== CONSOLE_PATH && !p.startsWith(`${CONSOLE_PATH}/`)) return next()
    if (p === '/admin/api' || p.startsWith('/admin/api/')) return next()
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next()

    if (p.startsWith('/admin/assets/')) {
      const m = ASSET.exec(p)
      const type = m ? CONTENT_TYPES[path.extname(m[1]!)] : undefined
      if (!m || !type || m[1]!.startsWith('.')) return next()
      try {
        ctx.body = await readFile(path.join(dir, 'assets', m[1]!))
      } catch {
        return next() // 404 from whoever is after us
      }
      ctx.type = type
      // Content-hashed names: a new build has new names.
      ctx.set('Cache-Control', 'public, max-age=31536000, immutable')
      return
    }

    if (index === undefined && existsSync(indexFile)) index = readFileSync(indexFile, 'utf8')
    ctx.set('Cache-Control', 'no-store')
    ctx.type = 'html'
    if (index === undefined) {
      ctx.status = 503
      ctx.body = MISSING_BUILD
      return
    }
    ctx.body = renderIndex(index, { nonce: ctx.state.cspNonce as string, issuer })
  }
}

// The pages' two static files: the stylesheet (light and dark) and the WebAuthn script.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Context, Middleware, Next } from 'koa'

const ASSETS = path.resolve(import.meta.dirname, '../../interactions/assets')

export function serveAssets(): Middleware {
  const files = new Map([
    ['/assets/style.css', { type: 'text/css', body: readFileSync(path.join(ASSETS, 'style.css')) }],
    ['/assets/webauthn.js', { type: 'text/javascript', body: readFileSync(path.join(ASSETS, 'webauthn.js')) }],
  ])
  return async function assets(ctx: Context, next: Next) {
    const file = files.get(ctx.path)
    if (!file) return next()
    ctx.state.route = ctx.path
    ctx.type = file.type
    ctx.set('Cache-Control', 'public, max-age=3600')
    ctx.body = file.body
  }
}

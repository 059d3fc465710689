// An authorization code redeemed with a `resource` it was not issued for is refused before the
// provider sees it. oidc-provider consumes the code first and resolves the resource afterwards, so
// invalid_target would spend the code and the client's corrected retry would count as a replay
// (which revokes the grant). No configuration function runs before that consumption, hence this
// middleware in front of the token endpoint; refresh tokens get the same check from
// rotateRefreshToken (oidc/provider.ts). RFC 8707 §2.2: one resource, one the grant covers.
import type { Context, Next } from 'koa'
import type Provider from 'oidc-provider'
import { readForm } from './token-rate-limit.ts'

export function codeResourceCheck(provider: Provider, tokenPath = '/token') {
  return async function codeResourceCheckMiddleware(ctx: Context, next: Next) {
    if (ctx.method !== 'POST' || ctx.path !== tokenPath || !ctx.is('application/x-www-form-urlencoded')) return next()
    const form = await readForm(ctx)
    if (!form) {
      ctx.status = 400
      ctx.set('Cache-Control', 'no-store')
      ctx.body = { error: 'invalid_request', error_description: 'failed to parse the request body' }
      return
    }
    const requested = form.getAll('resource')
    const value = form.get('code')
    if (form.get('grant_type') !== 'authorization_code' || !requested.length || !value) return next()
    const code = await provider.AuthorizationCode.find(value)
    if (!code) return next() // the provider answers invalid_grant
    const granted = code.resource === undefined ? [] : Array.isArray(code.resource) ? code.resource : [code.resource]
    if (requested.length === 1 && granted.includes(requested[0]!)) return next()
    ctx.status = 400
    ctx.set('Cache-Control', 'no-store')
    ctx.body = {
      error: 'invalid_target',
      error_description: requested.length > 1 ? 'only a single resource indicator value must be requested during Access Token Request' : 'the authorization code was not issued for this resource',
    }
  }
}

// RFC 8628 polling for the device authorization grant, around oidc-provider's endpoints (it neither
// states an interval nor ever answers slow_down). The device authorization response says how often
// to poll (`interval`); a device that polls a pending code faster is answered `slow_down` (§3.5)
// instead of `authorization_pending`. Some devices (sssd's oidc_child) give up on a response
// without `interval`.
import { createHash } from 'node:crypto'
import type { Context, Next } from 'koa'
import type { RateLimits } from '../security/rate-limits.ts'
import { providerParams, providerRouteName } from '../oidc/provider-internals.ts'

/** Seconds a device waits between polls. */
export const DEVICE_POLL_INTERVAL = 5

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

export function devicePolling(limits: RateLimits) {
  return async function devicePollingMiddleware(ctx: Context, next: Next) {
    await next()
    const route = providerRouteName(ctx)
    const body = ctx.body as Record<string, unknown> | undefined
    if (route === 'device_authorization' && ctx.status === 200 && body && typeof body === 'object' && typeof body.device_code === 'string') {
      body.interval = DEVICE_POLL_INTERVAL
      return
    }
    if (route !== 'token' || body?.error !== 'authorization_pending') return
    const params = providerParams(ctx)
    if (params?.grant_type !== DEVICE_CODE_GRANT || typeof params.device_code !== 'string') return
    // One poll per interval and device code, counted where every worker and replica sees it (the
    // rate limits' store). The code is hashed: the store never holds a usable one.
    const key = createHash('sha256').update(params.device_code).digest('base64url')
    const counted = await limits.consume('devicePoll', { client: key }, { ctx })
    if (!counted.ok) ctx.body = { error: 'slow_down', error_description: `poll at most every ${DEVICE_POLL_INTERVAL} seconds` }
  }
}

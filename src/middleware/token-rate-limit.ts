// Rate limit per client at the token endpoint (RATE_LIMIT_TOKEN_CLIENT), in front of the provider.
//
// The client is the one the request names: HTTP Basic user, else a client assertion's `sub`, else
// the `client_id` field (the provider authenticates it right after). Requests whose client does not
// authenticate get their point back, so nobody can use up a client's allowance by naming it with a
// wrong secret; the point is held only while such a request runs.
import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import type { Context, Next } from 'koa'
import { decodeJwt } from 'jose'
import type { RateLimits } from '../security/rate-limits.ts'
import { PROVIDER_BODY_LIMIT } from '../oidc/provider-internals.ts'
import { basicClientId } from '../oidc/basic-client-id.ts'

export function tokenRateLimit(limits: RateLimits, tokenPath = '/token') {
  return async function tokenRateLimitMiddleware(ctx: Context, next: Next) {
    if (ctx.method !== 'POST' || ctx.path !== tokenPath) return next()
    let client = basicClientId(ctx.get('authorization'))
    if (client === undefined && ctx.is('application/x-www-form-urlencoded')) {
      const form = await readForm(ctx)
      if (!form) return refuseBody(ctx)
      client = assertionSubject(form.get('client_assertion')) ?? form.get('client_id') ?? undefined
    }
    if (!client) return next() // the provider answers: no client authentication
    const keys = { client: client.slice(0, 255) }

    const limited = await limits.consume('token', keys, { ctx, clientId: keys.client })
    if (!limited.ok) {
      ctx.status = 429
      ctx.set('Retry-After', String(limited.retryAfter))
      ctx.set('Cache-Control', 'no-store')
      // RFC 6749 has no error code for this at the token endpoint. `temporarily_unavailable` (its
      // authorization-endpoint code for "overloaded, try later") says what happened and that a
      // retry will work; `invalid_request` would tell the client its request is wrong.
      ctx.body = { error: 'temporarily_unavailable', error_description: `too many token requests for this client; retry after ${limited.retryAfter} seconds` }
      return
    }
    await next()
    const error = (ctx.body as { error?: unknown } | undefined)?.error
    if (ctx.status === 401 || error === 'invalid_client') await limits.refund('token', keys)
  }
}

/** The `sub` of a client assertion, unverified: only to pick the counter (the provider verifies it). */
function assertionSubject(assertion: string | null): string | undefined {
  if (!assertion) return undefined
  try {
    const { sub } = decodeJwt(assertion)
    return typeof sub === 'string' ? sub : undefined
  } catch {
    return undefined
  }
}

/**
 * Reads the form body, and hands the provider a request that streams the same bytes again (it
 * reads the body itself; handing it a parsed body instead works too but makes it print a warning).
 * Undefined when too large or cut off.
 */
export async function readForm(ctx: Context): Promise<URLSearchParams | undefined> {
  const chunks: Buffer[] = []
  let received = 0
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      received += chunk.length
      if (received > PROVIDER_BODY_LIMIT) return undefined
      chunks.push(chunk)
    }
  } catch {
    return undefined // the client went away mid-body
  }
  const body = Buffer.concat(chunks, received)
  ctx.req = replaying(ctx.req, body)
  return new URLSearchParams(body.toString('utf8'))
}

// What readers of a request body use: the stream's state, its reading methods and events.
const STREAM_MEMBERS = new Set<PropertyKey>([
  'readable', 'readableEncoding', 'readableEnded', 'readableLength', 'readableFlowing', 'readableObjectMode',
  'read', 'iterator', Symbol.asyncIterator, 'pipe', 'unpipe', 'setEncoding', 'pause', 'resume', 'isPaused',
  'on', 'once', 'off', 'addListener', 'removeListener', 'removeAllListeners', 'prependListener', 'prependOnceListener', 'listenerCount',
])

/** The request, its body stream replaced by one over `body` (headers, socket and the rest unchanged). */
function replaying(req: IncomingMessage, body: Buffer): IncomingMessage {
  const replay = Readable.from([body], { objectMode: false })
  return new Proxy(req, {
    get(target, prop) {
      const source: object = STREAM_MEMBERS.has(prop) ? replay : target
      const value: unknown = Reflect.get(source, prop, source)
      return typeof value === 'function' ? value.bind(source) : value
    },
  })
}

/** What the provider itself answers for a body it cannot read. */
function refuseBody(ctx: Context) {
  ctx.status = 400
  ctx.set('Cache-Control', 'no-store')
  ctx.body = { error: 'invalid_request', error_description: 'failed to parse the request body' }
}

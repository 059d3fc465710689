// Rate limits on client authentication, in front of the provider.
//
// - Per client at the token endpoint (RATE_LIMIT_TOKEN_CLIENT). Requests whose client does not
//   authenticate get their point back, so nobody can use up a client's allowance by naming it with
//   a wrong secret; the point is held only while such a request runs.
// - Failed client authentications per client id and address (RATE_LIMIT_CLIENT_AUTH_FAILURE), at
//   every endpoint where a client authenticates: only failures count, so a busy client never
//   reaches it, while guessing a secret (above all a short imported one, stored with scrypt:
//   docs/adr/0290-imported-client-secrets.md) stops after a few tries per address.
// The client is the one the request names: HTTP Basic user, else a client assertion's `sub`, else
// the `client_id` field (the provider authenticates it right after).
import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import type { Context, Next } from 'koa'
import { decodeJwt } from 'jose'
import type { RateLimits } from '../security/rate-limits.ts'
import { PROVIDER_BODY_LIMIT } from '../oidc/provider-internals.ts'
import { basicClientId } from '../oidc/basic-client-id.ts'

// oidc-provider's default routes where a client authenticates (src/oidc/provider.ts keeps them).
const TOKEN_PATH = '/token'
const CLIENT_AUTH_PATHS = new Set([TOKEN_PATH, '/token/introspection', '/token/revocation', '/request', '/device/auth'])

function tooMany(ctx: Context, retryAfter: number, description: string) {
  ctx.status = 429
  ctx.set('Retry-After', String(retryAfter))
  ctx.set('Cache-Control', 'no-store')
  // RFC 6749 has no error code for this at the token endpoint. `temporarily_unavailable` (its
  // authorization-endpoint code for "overloaded, try later") says what happened and that a
  // retry will work; `invalid_request` would tell the client its request is wrong.
  ctx.body = { error: 'temporarily_unavailable', error_description: `${description}; retry after ${retryAfter} seconds` }
}

export function tokenRateLimit(limits: RateLimits) {
  return async function tokenRateLimitMiddleware(ctx: Context, next: Next) {
    if (ctx.method !== 'POST' || !CLIENT_AUTH_PATHS.has(ctx.path)) return next()
    let client = basicClientId(ctx.get('authorization'))
    if (client === undefined && ctx.is('application/x-www-form-urlencoded')) {
      const form = await readForm(ctx)
      if (!form) return refuseBody(ctx)
      client = assertionSubject(form.get('client_assertion')) ?? form.get('client_id') ?? undefined
    }
    if (!client) return next() // the provider answers: no client authentication
    const clientId = client.slice(0, 255)
    const keys = { client: clientId }
    const failureKeys = { client: `${clientId} ${ctx.ip}` }

    const blocked = await limits.peek('clientAuthFailure', failureKeys)
    if (!blocked.ok) return tooMany(ctx, blocked.retryAfter, 'too many failed authentications of this client from this address')
    const counted = ctx.path === TOKEN_PATH
    if (counted) {
      const limited = await limits.consume('token', keys, { ctx, clientId })
      if (!limited.ok) return tooMany(ctx, limited.retryAfter, 'too many token requests for this client')
    }
    await next()
    const error = (ctx.body as { error?: unknown } | undefined)?.error
    if (ctx.status === 401 || error === 'invalid_client') {
      if (counted) await limits.refund('token', keys)
      await limits.consume('clientAuthFailure', failureKeys, { ctx, clientId })
    }
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

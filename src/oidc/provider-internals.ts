// Everything this server relies on in oidc-provider beyond its documented API, in one place, each
// with a test that fails when an upgrade changes it (test/unit/provider-internals.test.ts). The
// rest of the code calls the functions here and never reads the provider's private fields or
// matches its messages itself (docs/adr/0251-provider-internals.md).
import type { Context } from 'koa'
import Provider from 'oidc-provider'

// --- Its router --------------------------------------------------------------------------------

/**
 * The route pattern a request matched (`/token`, `/auth/:uid`): oidc-provider's router leaves it
 * in ctx._matchedRoute, as @koa/router does for our page routers. Low cardinality (a metric
 * label): never a raw path with ids in it.
 */
export function matchedRoute(ctx: Context): string | undefined {
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute
  return typeof matched === 'string' ? matched : undefined
}

// The provider's routes that take unsafe requests (its default `routes`: src/oidc/provider.ts sets
// none), as its router matches them: ASCII letters folded to one case, one trailing slash ignored.
const UNSAFE_ENDPOINTS = new Set([
  '/auth', '/token', '/token/introspection', '/token/revocation', '/me', '/request', '/session/end', '/session/end/confirm',
  '/device', '/device/auth', '/backchannel', '/challenge', '/credential', '/reg',
].map((p) => p.toUpperCase()))
const CLIENT_MANAGEMENT = /^\/REG\/[^/]+$/ // /reg/:clientId (PUT, DELETE with a registration access token)

/**
 * Whether `path` is one of the provider's endpoints that take POST (or PUT, DELETE): protocol
 * requests authenticated by client credentials, codes or tokens, and its own forms (logout,
 * device) that carry their own xsrf field. Anything else gets no unsafe request without our CSRF
 * token (src/middleware/csrf-guard.ts).
 */
export function isProviderUnsafeEndpoint(path: string): boolean {
  // The provider folds ASCII letters only; anything else is not one of its static routes.
  if (!/^[\x20-\x7e]*$/.test(path)) return false
  const folded = (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path).toUpperCase()
  return UNSAFE_ENDPOINTS.has(folded) || CLIENT_MANAGEMENT.test(folded)
}

/** The largest body the provider reads (oidc-provider lib/shared/selective_body.js): larger is refused. */
export const PROVIDER_BODY_LIMIT = 56 * 1024

// --- Errors that escape it -------------------------------------------------------------------
// Two oidc-provider 9 errors that escape it as a bare 500, found by test/integration/fuzz.test.ts.

/**
 * After its error handler has answered a 4xx (e.g. POST /device with a JSON body), its
 * ensureSessionSave persists the new session that request touched, which was never stored:
 * "persist can only be called on previously persisted Sessions". Nothing needs saving; the 4xx it
 * already rendered stands.
 */
export function isUnsavedSessionAfterAnswer(err: unknown, ctx: Context): boolean {
  return err instanceof TypeError
    && err.message.startsWith('persist can only be called on previously persisted Sessions')
    && ctx.status >= 400 && ctx.status < 500 && Boolean(ctx.body)
}

/**
 * Its error handler at the device resume route (GET /device/:uid) reads ctx.oidc.session.state,
 * undefined without the resume cookie (a stale or made-up link), and throws a TypeError itself.
 * What it meant: the device sign-in expired.
 */
export function isDeviceResumeWithoutState(err: unknown, ctx: Context): boolean {
  return err instanceof TypeError && ctx.method === 'GET' && /^\/device\/[^/]+$/.test(ctx.path)
}

/** Why the device-code page is shown again, from oidc-provider's re-render errors (lib/helpers/re_render_errors.js, not exported: known by name). */
export type DeviceCodeFailure = 'no_code' | 'not_found' | 'expired' | 'already_used' | 'aborted'

const DEVICE_CODE_FAILURES: Record<string, DeviceCodeFailure> = {
  NoCodeError: 'no_code', NotFoundError: 'not_found', ExpiredError: 'expired', AlreadyUsedError: 'already_used', AbortedError: 'aborted',
}

export function deviceCodeFailure(err: Error): DeviceCodeFailure | undefined {
  return Object.hasOwn(DEVICE_CODE_FAILURES, err.name) ? DEVICE_CODE_FAILURES[err.name] : undefined
}

// --- What it keeps on ctx.oidc ---------------------------------------------------------------

/** What we read of oidc-provider's Session (lib/models/session.js). */
export interface ProviderSession {
  uid: string
  jti: string
  accountId?: string | undefined
  destroyed?: boolean | undefined
  authorizations?: Record<string, { grantId?: string | undefined }> | undefined
}

interface OidcView {
  route?: string | undefined
  params?: Record<string, unknown> | undefined
  body?: Record<string, unknown> | undefined
  client?: { clientId: string; clientSecret?: string | undefined } | undefined
  session?: ProviderSession | undefined
  result?: { login?: { accountId?: unknown } } | undefined
  provider?: Provider | undefined
  entities?: {
    InitialAccessToken?: { jti: string } | undefined
    RegistrationAccessToken?: { clientId?: string | undefined } | undefined
  } | undefined
}

/** ctx.oidc as far as we read it; undefined outside the provider's routes. */
function oidcOf(ctx: Context): OidcView | undefined {
  return (ctx as { oidc?: OidcView }).oidc
}

/** The provider's name for the route it ran ('token', 'device_authorization'…). */
export const providerRouteName = (ctx: Context): string | undefined => oidcOf(ctx)?.route
/** The request's parameters as the provider parsed them. */
export const providerParams = (ctx: Context): Record<string, unknown> | undefined => oidcOf(ctx)?.params
// Its routes that answer people with pages (its route names, lib/helpers/initialize_app.js).
const PAGE_ROUTES = new Set(['authorization', 'resume', 'end_session', 'end_session_confirm', 'end_session_success', 'code_verification', 'device_resume'])

/** Whether the provider ran one of its routes that people's browsers open (sign-in, logout, device code). */
export const isProviderPageRoute = (ctx: Context): boolean => PAGE_ROUTES.has(oidcOf(ctx)?.route ?? '')
/** The request body as the provider parsed it. */
export const providerBody = (ctx: Context): Record<string, unknown> | undefined => oidcOf(ctx)?.body
/** The client the provider resolved for this request. */
export const providerClientId = (ctx: Context): string | undefined => oidcOf(ctx)?.client?.clientId

/** The browser session the provider loaded (and saved) for this request; only on routes that load one. */
export function providerSession(ctx: Context): ProviderSession | undefined {
  const session = oidcOf(ctx)?.session
  return session && typeof session.uid === 'string' ? session : undefined
}

/** The account an interaction's result signed in on this request (the resume after the login step). */
export const providerLoginAccountId = (ctx: Context): unknown => oidcOf(ctx)?.result?.login?.accountId

// --- Its models ----------------------------------------------------------------------------

/**
 * Tells a client that a session ended (OpenID Connect Back-Channel Logout): the Client model's
 * backchannelLogout(sub, sid), which the provider calls itself at RP-initiated logout and which
 * its typings do not declare. Sessions ended here (sign out elsewhere, eviction, an admin) use it too.
 */
export async function sendBackchannelLogout(client: object, accountId: string, sid: string): Promise<void> {
  await (client as { backchannelLogout(sub: string, sid: string): Promise<void> }).backchannelLogout(accountId, sid)
}

// --- Its page hooks' markup ------------------------------------------------------------------
// oidc-provider hands its page hooks a ready-made <form> (action + hidden xsrf fields). Our pages
// render their own accessible, script-free forms, so we read the action and hidden fields out of
// the provider's markup.
export interface ProviderForm {
  action: string
  hidden: Record<string, string>
  /** A prefilled user_code, when the provider re-renders a code it was given. */
  value?: string | undefined
}

const decode = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')

export function parseProviderForm(html: string): ProviderForm {
  const action = /<form\b[^>]*\saction="([^"]*)"/.exec(html)?.[1]
  if (action === undefined) throw new Error('oidc-provider form without an action')
  const hidden: Record<string, string> = {}
  let value: string | undefined
  for (const [, attrs] of html.matchAll(/<input\b([^>]*)>/g)) {
    const name = /\sname="([^"]*)"/.exec(attrs!)?.[1]
    const val = /\svalue="([^"]*)"/.exec(attrs!)?.[1]
    if (!name) continue
    if (/\stype="hidden"/.test(attrs!)) hidden[name] = decode(val ?? '')
    else if (name === 'user_code' && val !== undefined) value = decode(val)
  }
  return { action: decode(action), hidden, value }
}

// --- Its registration endpoints (dynamic client registration: src/oidc/dynamic-registration.ts) ---

/** The provider's names for its registration routes (lib/helpers/initialize_app.js). */
export type RegistrationRoute = 'registration' | 'client' | 'client_update' | 'client_delete'
const REGISTRATION_ROUTES = new Set<string>(['registration', 'client', 'client_update', 'client_delete'])

/** The request the provider is answering now (Provider.ctx, its AsyncLocalStorage), if any. */
export function currentProviderRequest(): Context | undefined {
  return Provider.ctx as unknown as Context | undefined
}

/** Which registration route the provider ran for this request, if one. */
export function registrationRouteOf(ctx: Context): RegistrationRoute | undefined {
  const route = oidcOf(ctx)?.route
  return route && REGISTRATION_ROUTES.has(route) ? route as RegistrationRoute : undefined
}

/** The provider answering this request. */
export const providerOf = (ctx: Context): Provider | undefined => oidcOf(ctx)?.provider

/** The jti of the initial access token a registration (POST /reg) presented. */
export const initialAccessTokenJti = (ctx: Context): string | undefined => oidcOf(ctx)?.entities?.InitialAccessToken?.jti

/** The client of a management request (GET, PUT, DELETE /reg/:clientId) as the provider found it: its client_secret is our stored hash. */
export const managedClient = (ctx: Context) => oidcOf(ctx)?.client

// The default `routes.registration` (src/oidc/provider.ts sets none), its client route /reg/:clientId,
// matched as its router matches: ASCII letters folded, one trailing slash ignored.
const CLIENT_ROUTE = /^\/reg\/([^/]+)\/?$/i

/** The client id of a request to the management route, from the path as its router reads it. */
export function managementClientId(path: string): string | undefined {
  const raw = CLIENT_ROUTE.exec(path)?.[1]
  if (raw === undefined) return undefined
  try {
    return decodeURIComponent(raw)
  } catch {
    return undefined
  }
}

/**
 * Reads a JSON request body for the provider's registration endpoints and hands it over parsed:
 * oidc-provider's body reader (lib/shared/selective_body.js) takes `ctx.request.body` when the
 * request stream was already read. Undefined (nothing read) unless the request is JSON; a body
 * that is not JSON is handed over as text, for the provider to refuse as it would have.
 */
export async function readJsonBodyForProvider(ctx: Context): Promise<Record<string, unknown> | undefined> {
  if (!ctx.is('application/json')) return undefined
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length
    // The provider's own limit and answer for a larger body.
    if (size > PROVIDER_BODY_LIMIT) ctx.throw(413, 'request entity too large')
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    handOverBody(ctx, text)
    return undefined
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    handOverBody(ctx, text)
    return undefined
  }
  handOverBody(ctx, parsed)
  return parsed as Record<string, unknown>
}

/** Replaces the body the provider will read (after readJsonBodyForProvider read the stream). */
export function handOverBody(ctx: Context, body: unknown): void {
  (ctx.request as { body?: unknown }).body = body
}

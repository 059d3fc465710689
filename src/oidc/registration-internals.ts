// What dynamic client registration (src/oidc/dynamic-registration.ts) relies on in oidc-provider
// beyond its configuration, in one place, each with a test that fails when an upgrade changes it
// (test/unit/registration-internals.test.ts). The general couplings are in provider-internals.ts
// (docs/adr/0251-provider-internals.md); these are the registration endpoints' own.
import type { Context } from 'koa'
import Provider from 'oidc-provider'
import { PROVIDER_BODY_LIMIT } from './provider-internals.ts'

/** The provider's names for its registration routes (lib/helpers/initialize_app.js). */
export type RegistrationRoute = 'registration' | 'client' | 'client_update' | 'client_delete'
const ROUTES = new Set<string>(['registration', 'client', 'client_update', 'client_delete'])

/** The request the provider is answering now (Provider.ctx, its AsyncLocalStorage), if any. */
export function currentProviderRequest(): Context | undefined {
  return Provider.ctx as unknown as Context | undefined
}

interface RegistrationView {
  route?: string | undefined
  provider?: Provider | undefined
  client?: { clientId: string; clientSecret?: string | undefined } | undefined
  entities?: {
    InitialAccessToken?: { jti: string } | undefined
    RegistrationAccessToken?: { clientId?: string | undefined } | undefined
  } | undefined
}

const oidcOf = (ctx: Context): RegistrationView | undefined => (ctx as { oidc?: RegistrationView }).oidc

/** Which registration route the provider ran for this request, if one. */
export function registrationRouteOf(ctx: Context): RegistrationRoute | undefined {
  const route = oidcOf(ctx)?.route
  return route && ROUTES.has(route) ? route as RegistrationRoute : undefined
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

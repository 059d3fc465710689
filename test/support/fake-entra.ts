// A stand-in for Microsoft Entra ID (and a plain OIDC provider) on loopback, built from
// oidc-provider 9 so every protocol answer is a real one. Who signs in upstream is chosen by the
// test (`nextUser`), and the fake's interaction finishes at once with that person: no pages.
//
// What it imitates of Entra:
// - Multi-tenant authority: discovery at {base}/{tenant}/v2.0/.well-known/openid-configuration for
//   `organizations`, `common` and each tenant GUID. For organizations/common the `issuer` is the
//   template {base}/{tenantid}/v2.0; for a GUID it is {base}/{guid}/v2.0. Endpoints are
//   {base}/{tenant}/oauth2/v2.0/authorize|token and {base}/{tenant}/discovery/v2.0/keys, one key
//   set for every tenant. No `iss` in authorization responses (Entra sends none).
// - ID tokens with iss {base}/{tid}/v2.0 of the person's tenant, tid, oid, a pairwise `sub`
//   (not the oid), ver, name, preferred_username, email, groups (GUIDs), roles (app roles); with
//   group overage: no `groups` but _claim_names/_claim_sources pointing at Graph.
// - Microsoft Graph: getMemberObjects / getMemberGroups, memberOf / transitiveMemberOf (paged
//   with @odata.nextLink), /me, and /oidc/userinfo, all authenticated by the upstream access token.
//
// One deliberate liberty: every tenant's authorize endpoint sends the person to THEIR tenant's
// provider, and every token endpoint redeems a code at the tenant that issued it. So a single-
// tenant configuration (tenant = contoso) that receives a fabrikam person gets a fabrikam-issued
// ID token: what the relying party must refuse by its issuer check.
//
// Each tenant is one Provider (issuer {base}/{tid}/v2.0) mounted at /{tid}/v2.0 (its own routes
// there are internal: /auth, /token…); the generic provider has issuer {base}/generic.
import { restartableServer } from './restartable-server.ts'
import { createHash, randomUUID } from 'node:crypto'
import Koa, { type Context, type Middleware } from 'koa'
import mount from 'koa-mount'
import Provider, { type Adapter, type AdapterPayload, type Configuration, type InteractionResults } from 'oidc-provider'
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTHeaderParameters } from 'jose'
import { freePort } from './processes.ts'
import { HttpBrowser, formsOf } from './browser.ts'

export const CONTOSO_TID = 'c0a1b2c3-0d1e-4f2a-8b3c-4d5e6f708192'
export const FABRIKAM_TID = 'fab0b1c2-d3e4-4f56-8a7b-9c0d1e2f3a4b'

/** The multi-tenant app registration (config id `entra`). */
export const ENTRA_APP = { clientId: '0e8c2c6a-3f4b-4a5e-9d2b-5c7e1f3a9b10', clientSecret: 'Xq8~entra.multi-tenant_secret-0123456789' }
/** A single-tenant app registration in contoso (config id `entra-single`). */
export const ENTRA_SINGLE_APP = { clientId: '1f9d3d7b-4a5c-4b6f-8e3c-6d8f2a4b0c21', clientSecret: 'Yr9~entra.single-tenant_secret-0123456789' }
/** The generic OIDC upstream's client (config id `generic`). */
export const GENERIC_APP = { clientId: 'iam-generic', clientSecret: 'generic-secret:with%percent+plus-0123456789' }

/** A person at the upstream. */
export interface UpstreamUser {
  /** Entra object id (stable per person and tenant); the generic upstream uses it as `sub`. */
  oid: string
  /** Entra tenant id (default contoso). Ignored by the generic upstream. */
  tid?: string
  /** The `email` claim; absent when undefined (Entra omits it for people without a mailbox). */
  email?: string
  name?: string
  givenName?: string
  familyName?: string
  /** preferred_username (Entra: the UPN); default the email. */
  preferredUsername?: string
  /** Generic upstream only: email_verified (default true). Entra sends no email_verified. */
  emailVerified?: boolean
  /** Group object ids, in the ID token's `groups` claim (and answered by Graph). */
  groups?: string[]
  /** App roles, in the `roles` claim. */
  roles?: string[]
  /** Group overage: the ID token carries no `groups`, only a pointer to Graph, which answers these ids. */
  overage?: string[]
  /** How the person authenticated upstream, in the ID token's `amr` (default ['pwd']). */
  amr?: string[]
  /** ID token claims added or replaced (e.g. a `tid` that is not the issuing tenant's); not `sub`. */
  claims?: Record<string, unknown>
  /** Generic upstream only: profile and email in userinfo, not in the ID token (as many providers do). */
  userinfoOnly?: boolean
}

/** One upstream in our server's FEDERATION setting (the contract the product reads). */
export interface UpstreamConfig {
  id: string
  type: 'entra' | 'oidc'
  name: string
  clientId: string
  clientSecret: string
  tenant?: string
  authority?: string
  allowedTenants?: string[]
  graphUrl?: string
  issuer?: string
  scopes?: string[]
  domains?: string[]
  claims?: Record<string, string>
  roleMapping?: Record<string, string>
  jit?: { enabled: boolean; tenant?: string; roles?: string[] }
  trustMfa?: boolean
  allowInsecureRequests?: boolean
}

/** ok; error: 500 for every call; down: connections dropped; foreign-next-link: @odata.nextLink on another origin (localhost instead of 127.0.0.1). */
export type GraphMode = 'ok' | 'error' | 'down' | 'foreign-next-link'

export interface FakeRequest {
  at: number
  method: string
  path: string
  /** The Host header (127.0.0.1:port, or localhost:port when something followed a foreign-next-link). */
  host: string
  /** The query string (without '?'). */
  query: string
  status: number
  /** Token requests: the tenant whose provider redeemed the code (Entra routes by code, not by URL). */
  tenant?: string
}

/** Where the upstream sends the person back: a redirect (GET) or a form_post page (POST). */
export interface UpstreamReturn {
  url: URL
  form?: Record<string, string>
}

export interface FakeEntra {
  /** http://127.0.0.1:port: the Entra authority. */
  base: string
  /** {base}/graph: the Microsoft Graph base URL (graphUrl). */
  graphUrl: string
  tenants: { contoso: string; fabrikam: string }
  /** {base}/generic: the generic OIDC upstream's issuer. */
  genericIssuer: string
  /** Every request the fake answered (or refused), oldest first. */
  requests: FakeRequest[]
  /** Who signs in at the upstream from now on (at Entra and at the generic upstream). */
  nextUser(user: UpstreamUser): void
  /** The next upstream sign-in answers error=access_denied (once). */
  denyNext(): void
  /**
   * The next ID token the fake issues (at any upstream) has these claims changed after it was
   * signed: header and signature are kept, so the signature no longer matches (once).
   */
  tamperNextIdToken(claims: Record<string, unknown>): void
  /** Like tamperNextIdToken, but the changed token is signed again with the upstream's key (a valid signature over bad claims, e.g. an expired token). */
  resignNextIdToken(claims: Record<string, unknown>): void
  /** How Graph behaves from now on (see GraphMode). */
  graph(mode: GraphMode): void
  /** Accepts `${issuer}/federation/{id}/callback` as a redirect URI for every configured id. */
  allowRp(issuer: string): void
  /** Stops listening (the upstream is down) and drops open connections; start() listens again on the same port. */
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
  /**
   * The default FEDERATION entries (entra, entra-single, generic), merged with overrides by id;
   * null removes one; an unknown id is added, based on `entra` (or `generic` for type 'oidc').
   */
  federation(overrides?: Record<string, Partial<UpstreamConfig> | null>): UpstreamConfig[]
  /** { FEDERATION: JSON } for our server. */
  federationEnv(overrides?: Record<string, Partial<UpstreamConfig> | null>): Record<string, string>
  /**
   * The person's browser at the upstream: requests `url` (an authorize URL of the fake) and
   * follows redirects on the fake's origin with a fresh cookie jar (so the upstream always signs in
   * `nextUser`), until the fake sends the browser elsewhere. Returns that place.
   */
  followUpstream(url: string): Promise<UpstreamReturn>
}

/** Entra's tenant segments this fake knows (besides the tenant GUIDs). */
const META_TENANTS = ['organizations', 'common'] as const

/** An in-memory store per provider (the default MemoryAdapter is shared by every Provider in a process). */
function memoryAdapter(clients: (id: string) => AdapterPayload | undefined) {
  const store = new Map<string, { payload: AdapterPayload; expiresAt: number | undefined }>()
  const live = (key: string) => {
    const entry = store.get(key)
    if (!entry) return undefined
    if (entry.expiresAt !== undefined && entry.expiresAt < Date.now()) {
      store.delete(key)
      return undefined
    }
    return entry
  }
  return (model: string): Adapter => ({
    async upsert(id, payload, expiresIn) {
      store.set(`${model}:${id}`, { payload: structuredClone(payload), expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined })
    },
    async find(id) {
      if (model === 'Client') return clients(id)
      const entry = live(`${model}:${id}`)
      return entry ? structuredClone(entry.payload) : undefined
    },
    async findByUid(uid) {
      for (const [key, entry] of store) if (key.startsWith(`${model}:`) && entry.payload.uid === uid && live(key)) return structuredClone(entry.payload)
      return undefined
    },
    async findByUserCode(userCode) {
      for (const [key, entry] of store) if (key.startsWith(`${model}:`) && entry.payload.userCode === userCode && live(key)) return structuredClone(entry.payload)
      return undefined
    },
    async consume(id) {
      const entry = live(`${model}:${id}`)
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000)
    },
    async destroy(id) {
      store.delete(`${model}:${id}`)
    },
    async revokeByGrantId(grantId) {
      for (const [key, entry] of store) if (entry.payload.grantId === grantId) store.delete(key)
    },
  })
}

const pairwise = (...parts: string[]) => createHash('sha256').update(parts.join('|')).digest('base64url').slice(0, 43)

function graphError(ctx: Context, status: number, code: string, message: string) {
  ctx.status = status
  ctx.body = { error: { code, message, innerError: { date: new Date().toISOString(), 'request-id': randomUUID(), 'client-request-id': randomUUID() } } }
}

async function readBody(ctx: Context): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export async function startFakeEntra(): Promise<FakeEntra> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const graphUrl = `${base}/graph`
  const genericIssuer = `${base}/generic`
  const tenantIds = [CONTOSO_TID, FABRIKAM_TID]

  let current: UpstreamUser | undefined
  let deny = false
  let tamperNext: Record<string, unknown> | undefined
  let resignNext = false
  let graphMode: GraphMode = 'ok'
  /** Graph's server-driven paging: pages hold at most this many objects, whatever $top asks for. */
  const GRAPH_PAGE_SIZE = 100
  const requests: FakeRequest[] = []
  const rpIssuers = new Set<string>()
  const upstreamIds = new Set<string>(['entra', 'entra-single', 'generic'])
  /** Which tenant issued an authorization code / refresh token (codes are redeemed there). */
  const codeTenant = new Map<string, string>()
  const refreshTenant = new Map<string, string>()

  // One signing key for every tenant, as Entra publishes one key set for all of them.
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid: pairwise('fake-entra-key', String(port)), alg: 'RS256', use: 'sig' }
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk
  const cookieKeys = [randomUUID(), randomUUID()]

  const redirectUris = () => [...rpIssuers].flatMap((issuer) => [...upstreamIds].map((id) => `${issuer}/federation/${id}/callback`))
  const clientMetadata = (app: { clientId: string; clientSecret: string }): AdapterPayload => ({
    client_id: app.clientId, client_secret: app.clientSecret, client_name: 'Identity (test RP)',
    redirect_uris: redirectUris(), response_types: ['code'], grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_post',
  })

  interface Account { user: UpstreamUser; tid: string | undefined }

  function baseConfiguration(accounts: Map<string, Account>, apps: Array<{ clientId: string; clientSecret: string }>, claims: Configuration['claims'], claimsOf: (sub: string, a: Account, use: string) => Record<string, unknown>, interactionPath: string): Configuration {
    return {
      adapter: memoryAdapter((id) => {
        const app = apps.find((a) => a.clientId === id)
        return app ? clientMetadata(app) : undefined
      }),
      jwks: { keys: [privateJwk] } as Configuration['jwks'],
      cookies: {
        keys: cookieKeys,
        // Distinct from our server's names: a real browser shares cookies across ports of one host.
        names: { session: 'fake_session', interaction: 'fake_interaction', resume: 'fake_interaction_resume' },
      },
      claims,
      conformIdTokenClaims: false,
      pkce: { required: () => false },
      responseTypes: ['code'],
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx, interaction) => `${interactionPath}/${interaction.uid}` },
      findAccount: (_ctx, sub) => {
        const account = accounts.get(sub)
        if (!account) return undefined
        return { accountId: sub, claims: (use) => ({ sub, ...claimsOf(sub, account, use) }) }
      },
      ttl: { AccessToken: 3600, AuthorizationCode: 600, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600, RefreshToken: 86400 },
      renderError: (ctx, out) => {
        ctx.type = 'html'
        ctx.body = `<!doctype html><title>Sign in</title><h1>Sorry, but we’re having trouble signing you in.</h1><p>${String(out.error)}: ${String(out.error_description ?? '')}</p>`
      },
    }
  }

  // --- the Entra tenants
  const tenantAccounts = new Map<string, Map<string, Account>>()
  const tenantProviders = new Map<string, Provider>()
  const tenantMounts = new Map<string, Middleware>()
  for (const tid of tenantIds) {
    const accounts = new Map<string, Account>()
    tenantAccounts.set(tid, accounts)
    const provider = new Provider(`${base}/${tid}/v2.0`, baseConfiguration(accounts, [ENTRA_APP, ENTRA_SINGLE_APP], {
      openid: ['sub', 'tid', 'oid', 'ver', 'preferred_username', 'groups', 'roles', 'amr'],
      profile: ['name', 'given_name', 'family_name'],
      email: ['email'],
    }, (_sub, { user }) => ({
      tid, oid: user.oid, ver: '2.0',
      preferred_username: user.preferredUsername ?? user.email,
      name: user.name, given_name: user.givenName, family_name: user.familyName, email: user.email,
      ...(user.roles ? { roles: user.roles } : {}),
      ...(user.overage
        ? { _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: `${graphUrl}/v1.0/users/${user.oid}/getMemberObjects` } } }
        : user.groups ? { groups: user.groups } : {}),
      ...user.claims,
    }), `/${tid}/v2.0/interaction`))
    tenantProviders.set(tid, provider)
    tenantMounts.set(tid, mount(`/${tid}/v2.0`, provider as unknown as Koa))
  }

  // --- the generic upstream
  const genericAccounts = new Map<string, Account>()
  const genericProvider = new Provider(genericIssuer, baseConfiguration(genericAccounts, [GENERIC_APP], {
    openid: ['sub', 'amr'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    email: ['email', 'email_verified'],
  }, (_sub, { user }, use) => user.userinfoOnly && use === 'id_token' ? { ...user.claims } : {
    name: user.name, given_name: user.givenName, family_name: user.familyName, preferred_username: user.preferredUsername ?? user.email,
    email: user.email, email_verified: user.emailVerified ?? true,
    ...user.claims,
  }, '/generic/interaction'))
  const genericMount = mount('/generic', genericProvider as unknown as Koa)

  function discovery(segment: string) {
    const issuer = (META_TENANTS as readonly string[]).includes(segment) ? `${base}/{tenantid}/v2.0` : `${base}/${segment}/v2.0`
    return {
      token_endpoint: `${base}/${segment}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/${segment}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${graphUrl}/oidc/userinfo`,
      authorization_endpoint: `${base}/${segment}/oauth2/v2.0/authorize`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/${segment}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
      tenant_region_scope: null,
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: new URL(graphUrl).host,
    }
  }

  const isTenantSegment = (s: string) => (META_TENANTS as readonly string[]).includes(s) || tenantIds.includes(s)
  const invalidTenant = (ctx: Context, segment: string) => {
    ctx.status = 400
    ctx.body = { error: 'invalid_tenant', error_description: `AADSTS90002: Tenant '${segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`, error_codes: [90002], timestamp: new Date().toISOString(), trace_id: randomUUID(), correlation_id: randomUUID() }
  }

  /** The interaction: no page, the chosen person signs in (or the sign-in is refused). */
  async function interact(ctx: Context, provider: Provider, accounts: Map<string, Account>, tid: string | undefined) {
    const details = await provider.interactionDetails(ctx.req, ctx.res)
    let result: InteractionResults
    if (details.prompt.name === 'login') {
      if (deny) {
        deny = false
        result = { error: 'access_denied', error_description: 'AADSTS65004: User declined to consent to access the app.' }
      } else {
        if (!current) {
          ctx.status = 500
          ctx.body = 'fake-entra: no upstream user chosen (call nextUser first)'
          return
        }
        const sub = tid ? pairwise(tid, current.oid, String(details.params.client_id)) : current.oid
        accounts.set(sub, { user: structuredClone(current), tid })
        result = { login: { accountId: sub, amr: current.amr ?? ['pwd'], remember: false } }
      }
    } else if (details.prompt.name === 'consent') {
      const grant = details.grantId
        ? (await provider.Grant.find(details.grantId))!
        : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) })
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> }
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims)
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '))
      result = { consent: { grantId: await grant.save() } }
    } else {
      throw new Error(`fake-entra: unexpected prompt ${details.prompt.name}`)
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true })
    ctx.status = 303
    ctx.redirect(to)
  }

  /** After a tenant provider answered: remember which tenant issued a code, and drop `iss` (Entra sends none). */
  function rewriteAuthorizationResponse(ctx: Context, tid: string) {
    const location = ctx.response.get('Location')
    if (location) {
      const url = new URL(location, base)
      if (url.origin !== base && (url.searchParams.has('code') || url.searchParams.has('error'))) {
        const code = url.searchParams.get('code')
        if (code) codeTenant.set(code, tid)
        url.searchParams.delete('iss')
        ctx.set('Location', url.href)
      }
    } else if (typeof ctx.body === 'string' && ctx.body.includes('name="code"')) {
      const code = /name="code" value="([^"]*)"/.exec(ctx.body)?.[1]
      if (code) codeTenant.set(code, tid)
      ctx.body = ctx.body.replace(/<input type="hidden" name="iss" value="[^"]*"\s*\/?>/, '')
    }
  }

  /** Applies tamperNextIdToken to a token response the provider just produced. */
  async function tamperTokenResponse(ctx: Context) {
    const answer = ctx.body as { id_token?: unknown } | undefined
    if (!tamperNext || !answer || typeof answer !== 'object' || typeof answer.id_token !== 'string') return
    const [header, payload, signature] = answer.id_token.split('.')
    const claims = { ...JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>, ...tamperNext }
    answer.id_token = resignNext
      ? await new SignJWT(claims).setProtectedHeader(JSON.parse(Buffer.from(header!, 'base64url').toString('utf8')) as JWTHeaderParameters).sign(privateKey)
      : `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`
    tamperNext = undefined
    resignNext = false
  }

  /** Finds the person an upstream access token belongs to. */
  async function tokenOwner(ctx: Context): Promise<Account | undefined> {
    const m = /^Bearer\s+(.+)$/i.exec(ctx.get('authorization'))
    if (!m) return undefined
    for (const [tid, provider] of tenantProviders) {
      const token = await provider.AccessToken.find(m[1]!)
      if (token && !token.isExpired && token.accountId) return tenantAccounts.get(tid)!.get(token.accountId)
    }
    return undefined
  }

  async function graph(ctx: Context, path: string) {
    if (graphMode === 'down') {
      ctx.respond = false
      ctx.req.socket.destroy()
      return
    }
    if (graphMode === 'error') return graphError(ctx, 500, 'generalException', 'An unexpected error occurred.')
    const owner = await tokenOwner(ctx)
    if (!owner) return graphError(ctx, 401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.')
    const { user } = owner
    const groups = user.overage ?? user.groups ?? []
    if (path === '/oidc/userinfo') {
      ctx.body = { sub: pairwise('userinfo', user.oid), name: user.name, family_name: user.familyName, given_name: user.givenName, email: user.email }
      return
    }
    const m = /^\/v1\.0\/(?:me|users\/([^/]+))(\/.*)?$/.exec(path)
    if (!m) return graphError(ctx, 400, 'BadRequest', `Resource not found for the segment '${path.split('/').pop()}'.`)
    const target = m[1] ? decodeURIComponent(m[1]) : undefined
    if (target !== undefined && target !== user.oid && target.toLowerCase() !== (user.preferredUsername ?? user.email)?.toLowerCase()) {
      return graphError(ctx, 403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.')
    }
    const rest = m[2] ?? ''
    if (rest === '' && ctx.method === 'GET') {
      ctx.body = { '@odata.context': `${graphUrl}/v1.0/$metadata#users/$entity`, id: user.oid, displayName: user.name ?? null, mail: user.email ?? null, userPrincipalName: user.preferredUsername ?? user.email ?? null }
      return
    }
    if ((rest === '/getMemberObjects' || rest === '/getMemberGroups') && ctx.method === 'POST') {
      await readBody(ctx)
      ctx.body = { '@odata.context': `${graphUrl}/v1.0/$metadata#Collection(Edm.String)`, value: groups }
      return
    }
    const list = /^\/(transitiveMemberOf|memberOf)(\/microsoft\.graph\.group)?$/.exec(rest)
    if (list && ctx.method === 'GET') {
      const top = Math.min(GRAPH_PAGE_SIZE, Math.max(1, Number(ctx.query.$top ?? GRAPH_PAGE_SIZE) || GRAPH_PAGE_SIZE))
      const skip = Number(ctx.query.$skiptoken ?? 0) || 0
      const page = groups.slice(skip, skip + top)
      const body: Record<string, unknown> = {
        '@odata.context': `${graphUrl}/v1.0/$metadata#directoryObjects`,
        value: page.map((id) => ({ '@odata.type': '#microsoft.graph.group', id, displayName: `Group ${id.slice(0, 8)}`, securityEnabled: true })),
      }
      if (skip + top < groups.length) {
        const next = new URL(`${graphUrl}${path}`)
        for (const [k, v] of Object.entries(ctx.query)) if (k !== '$skiptoken' && typeof v === 'string') next.searchParams.set(k, v)
        next.searchParams.set('$skiptoken', String(skip + top))
        if (graphMode === 'foreign-next-link') next.hostname = 'localhost'
        body['@odata.nextLink'] = next.href
      }
      ctx.body = body
      return
    }
    return graphError(ctx, 400, 'BadRequest', `Unsupported request ${ctx.method} ${path}`)
  }

  const app = new Koa()
  app.silent = !process.env.FAKE_ENTRA_DEBUG
  // The providers run on this app's context (koa-mount): their signed cookies use these keys.
  app.keys = cookieKeys
  app.use(async (ctx, next) => {
    const entry: FakeRequest = { at: Date.now(), method: ctx.method, path: ctx.path, host: ctx.host, query: ctx.querystring, status: 0 }
    requests.push(entry)
    ctx.state.entry = entry
    try {
      await next()
    } finally {
      entry.status = ctx.respond === false ? 0 : ctx.status
    }
  })
  app.use(async (ctx, next) => {
    const path = ctx.path
    // Microsoft Graph
    if (path === '/graph' || path.startsWith('/graph/')) return graph(ctx, path.slice('/graph'.length))

    // The generic upstream: oidc-provider as it is, plus the page-less interaction.
    if (path.startsWith('/generic/interaction/')) return interact(ctx, genericProvider, genericAccounts, undefined)
    if (path === '/generic' || path.startsWith('/generic/')) {
      await genericMount(ctx, next)
      if (path === '/generic/token') await tamperTokenResponse(ctx)
      return
    }

    const [, segment = '', ...restParts] = path.split('/')
    const rest = `/${restParts.join('/')}`
    if (!segment) return next()

    // Tenant providers' own (internal) routes and the interaction.
    if (tenantIds.includes(segment) && rest.startsWith('/v2.0/') && rest !== '/v2.0/.well-known/openid-configuration') {
      if (rest.startsWith('/v2.0/interaction/')) return interact(ctx, tenantProviders.get(segment)!, tenantAccounts.get(segment)!, segment)
      await tenantMounts.get(segment)!(ctx, next)
      rewriteAuthorizationResponse(ctx, segment)
      return
    }

    // The public, Entra-shaped endpoints of a tenant segment.
    if (rest === '/v2.0/.well-known/openid-configuration') {
      if (!isTenantSegment(segment)) return invalidTenant(ctx, segment)
      ctx.body = discovery(segment)
      return
    }
    if (rest === '/discovery/v2.0/keys') {
      if (!isTenantSegment(segment)) return invalidTenant(ctx, segment)
      ctx.body = { keys: [{ ...publicJwk, x5t: publicJwk.kid, issuer: `${base}/{tenantid}/v2.0` }] }
      return
    }
    if (rest === '/oauth2/v2.0/authorize') {
      if (!isTenantSegment(segment)) return invalidTenant(ctx, segment)
      // The person's home tenant answers (see the file comment).
      const tid = current?.tid ?? (tenantIds.includes(segment) ? segment : CONTOSO_TID)
      const params = new URLSearchParams(ctx.querystring)
      // Entra's account picker: oidc-provider does not know this prompt value; nothing to pick here.
      if (params.get('prompt') === 'select_account') params.delete('prompt')
      // Entra issues refresh tokens for offline_access without asking; oidc-provider only with prompt=consent.
      if (params.get('scope')?.split(' ').includes('offline_access')) params.set('prompt', [...new Set([...(params.get('prompt') ?? '').split(' ').filter(Boolean), 'consent'])].join(' '))
      ctx.status = 302
      ctx.redirect(`${base}/${tid}/v2.0/auth?${params}`)
      return
    }
    if (rest === '/oauth2/v2.0/token' && ctx.method === 'POST') {
      if (!isTenantSegment(segment)) return invalidTenant(ctx, segment)
      const form = new URLSearchParams(await readBody(ctx))
      // Entra accepts client_secret_basic and client_secret_post; the fake's clients are registered for post.
      const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(ctx.get('authorization'))
      if (basic) {
        const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8')
        const colon = decoded.indexOf(':')
        const unform = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '))
        form.set('client_id', unform(decoded.slice(0, colon)))
        form.set('client_secret', unform(decoded.slice(colon + 1)))
        delete ctx.req.headers.authorization
      }
      const code = form.get('code')
      const refresh = form.get('refresh_token')
      const tid = (code ? codeTenant.get(code) : refresh ? refreshTenant.get(refresh) : undefined) ?? (tenantIds.includes(segment) ? segment : CONTOSO_TID)
      const body = form.toString()
      // The body was read here: oidc-provider takes it from req.body instead of the stream (and
      // says so once per process: "already parsed request body detected").
      Object.assign(ctx.req, { body })
      ctx.req.headers['content-length'] = String(Buffer.byteLength(body))
      ctx.path = `/${tid}/v2.0/token`
      const entry = ctx.state.entry as FakeRequest
      entry.tenant = tid
      await tenantMounts.get(tid)!(ctx, next)
      await tamperTokenResponse(ctx)
      const answer = ctx.body as { refresh_token?: string } | undefined
      if (answer && typeof answer === 'object' && typeof answer.refresh_token === 'string') refreshTenant.set(answer.refresh_token, tid)
      return
    }
    if (rest === '/oauth2/v2.0/logout') {
      const back = ctx.query.post_logout_redirect_uri
      if (typeof back === 'string') return ctx.redirect(back)
      ctx.type = 'html'
      ctx.body = '<!doctype html><title>Sign out</title><p>You signed out of your account.</p>'
      return
    }
    return next()
  })

  const { listen, stop } = restartableServer(app.callback(), port)
  await listen()

  function defaults(): UpstreamConfig[] {
    const jit = { enabled: true, tenant: 'default', roles: ['user'] }
    // No `scopes`: each upstream's default applies (Entra adds User.Read when groups are mapped).
    const common = { jit, trustMfa: false, allowInsecureRequests: true }
    return [
      {
        id: 'entra', type: 'entra', name: 'Microsoft', ...ENTRA_APP, tenant: 'organizations', authority: base,
        allowedTenants: [CONTOSO_TID], graphUrl, domains: ['contoso.com'], roleMapping: {}, ...common,
      },
      {
        id: 'entra-single', type: 'entra', name: 'Contoso', ...ENTRA_SINGLE_APP, tenant: CONTOSO_TID, authority: base,
        graphUrl, domains: [], roleMapping: {}, ...common,
      },
      {
        id: 'generic', type: 'oidc', name: 'Generic IdP', ...GENERIC_APP, issuer: genericIssuer, domains: ['generic.test'],
        claims: { email: 'email', emailVerified: 'email_verified', name: 'name', givenName: 'given_name', familyName: 'family_name' },
        roleMapping: {}, ...common,
      },
    ]
  }

  const fake: FakeEntra = {
    base, graphUrl, genericIssuer, requests,
    tenants: { contoso: CONTOSO_TID, fabrikam: FABRIKAM_TID },
    nextUser(user) {
      if (user.tid !== undefined && !tenantIds.includes(user.tid)) throw new Error(`fake-entra knows tenants ${tenantIds.join(', ')} only`)
      current = { tid: CONTOSO_TID, ...structuredClone(user) }
    },
    denyNext() {
      deny = true
    },
    resignNextIdToken(claims) {
      tamperNext = claims
      resignNext = true
    },
    tamperNextIdToken(claims) {
      tamperNext = claims
    },
    graph(mode) {
      graphMode = mode
    },
    allowRp(issuer) {
      rpIssuers.add(issuer.replace(/\/$/, ''))
    },
    stop,
    start: listen,
    async close() {
      await stop()
    },
    federation(overrides = {}) {
      const list = defaults()
      const byId = new Map(list.map((c) => [c.id, c]))
      for (const [id, override] of Object.entries(overrides)) {
        if (override === null) byId.delete(id)
        else byId.set(id, { ...(byId.get(id) ?? { ...list.find((c) => c.type === (override.type ?? 'entra'))!, id }), ...override, id })
      }
      for (const id of byId.keys()) upstreamIds.add(id)
      return [...byId.values()]
    },
    federationEnv(overrides) {
      return { FEDERATION: JSON.stringify(fake.federation(overrides)) }
    },
    async followUpstream(url) {
      const browser = new HttpBrowser(base)
      let res = await browser.navigate(url)
      const leftTo = new URL(res.url)
      if (leftTo.origin !== base) return { url: leftTo }
      // response_mode=form_post: the page auto-submits a form to the relying party.
      const form = formsOf(res.body).find((f) => new URL(f.action, base).origin !== base)
      if (form) return { url: new URL(form.action), form: form.fields }
      throw new Error(`the upstream did not send the browser back (status ${res.status}):\n${res.body.slice(0, 1500)}`)
    },
  }
  return fake
}

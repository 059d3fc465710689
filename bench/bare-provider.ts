// The baseline of `npm run bench`: node-oidc-provider 9 as its README sets it up, nothing of ours
// around it. One process, its built-in in-memory adapter, the same signing keys (JWKS_FILE), the same
// service client and token formats as the benchmarked server: opaque client-credentials tokens
// without a resource indicator, ES256 JWT access tokens for the registered API (RFC 8707), opaque
// tokens for userinfo, introspection for confidential clients.
//
// Env: OIDC_PROVIDER_DIR (below), PORT, ISSUER (https; the load generator sends
// X-Forwarded-Proto, as to our server behind its TLS-terminating proxy), JWKS_FILE, SERVICE_SECRET,
// API (the JWT resource indicator), BARE_PROCESSES (below).
// Prints one JSON line {"ready":true,"userAccessToken":"…"} once listening: a userinfo token minted
// in-process (a Grant and an AccessToken saved through the provider's own models, exactly what a
// sign-in would leave behind), since the bare provider has no login pages to walk.
//
// BARE_PROCESSES=N (default 1): N copies behind node:cluster on the one port, as our WORKERS runs.
// Each keeps its own in-memory store, so a token minted by one is unknown to the others: only
// client credentials are measured this way (what the hardware allows a server built on
// oidc-provider at all), and the ready line carries no userinfo token.
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Configuration } from 'oidc-provider'

// OIDC_PROVIDER_DIR: the package as released (bench/run.ts makes that copy), not this checkout's
// patched one (patches/), so the baseline is oidc-provider as published.
const dir = process.env.OIDC_PROVIDER_DIR
const { default: Provider, errors } = (await import(dir ? pathToFileURL(path.join(dir, 'lib', 'index.js')).href : 'oidc-provider')) as typeof import('oidc-provider')

const port = Number(process.env.PORT ?? 4000)
const issuer = process.env.ISSUER ?? `http://127.0.0.1:${port}`
const jwks = JSON.parse(readFileSync(process.env.JWKS_FILE!, 'utf8')) as { keys: Array<Record<string, unknown>> }
const serviceSecret = process.env.SERVICE_SECRET!
const api = process.env.API!

const configuration: Configuration = {
  clients: [
    {
      client_id: 'svc',
      client_secret: serviceSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'spa',
      application_type: 'web',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://localhost:5173/callback'],
      token_endpoint_auth_method: 'none',
    },
  ],
  jwks: { keys: jwks.keys.map(({ iam_state: _s, iam_since: _t, ...k }) => k) } as Configuration['jwks'],
  cookies: { keys: ['bare-provider-cookie-key-0123456789abcdef'] },
  findAccount: (ctx, sub) => ({
    accountId: sub,
    claims: () => ({ sub, name: 'Bench User', email: 'bench@example.test', email_verified: true }),
  }),
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => undefined,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, indicator) => {
        if (indicator !== api) throw new errors.InvalidTarget()
        return { scope: 'read write', audience: api, accessTokenTTL: 3600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }
      },
    },
  },
  ttl: { ClientCredentials: 600, AccessToken: 3600 },
}

const provider = new Provider(issuer, configuration)
provider.proxy = true

async function mintUserAccessToken(): Promise<string> {
  const client = await provider.Client.find('spa')
  if (!client) throw new Error('spa client missing')
  const grant = new provider.Grant({ accountId: 'bench-user', clientId: 'spa' })
  grant.addOIDCScope('openid profile email')
  const grantId = await grant.save()
  const token = new provider.AccessToken({ accountId: 'bench-user', client, grantId, scope: 'openid profile email', gty: 'authorization_code' })
  return token.save()
}

const processes = Number(process.env.BARE_PROCESSES ?? 1)
if (cluster.isPrimary && processes > 1) {
  // This process only forks and watches (its provider above stays unused).
  let ready = 0
  let stopping = false
  for (let i = 0; i < processes; i++) {
    cluster.fork().on('message', () => {
      if (++ready === processes) process.stdout.write(`${JSON.stringify({ ready: true })}\n`)
    })
  }
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      console.error(`bare provider process ${worker.process.pid} exited (${signal ?? code})`)
      process.exit(1)
    }
  })
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stopping = true
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM')
      cluster.on('exit', () => { if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0) })
    })
  }
} else {
  const server = provider.listen(port, '127.0.0.1', () => {
    if (cluster.isWorker) {
      process.send!('ready')
      return
    }
    void mintUserAccessToken().then((userAccessToken) => {
      process.stdout.write(`${JSON.stringify({ ready: true, userAccessToken })}\n`)
    }, (err: unknown) => {
      console.error(err)
      process.exit(1)
    })
  })
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => server.close(() => process.exit(0)))
}

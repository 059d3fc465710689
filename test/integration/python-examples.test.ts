// The Python examples (examples/python/), run unchanged with Debian's interpreter and packages
// (/usr/bin/python3 with python3-authlib, python3-flask, python3-fastapi, python3-uvicorn) against
// the real server (embedded mode): Chromium signs Alice in through the Flask app; the FastAPI
// resource server, started with uvicorn twice (an API with JWT access tokens, one with opaque
// tokens checked by introspection), is called the way a client would call it.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import type { Browser, Page } from 'playwright-core'
import { createIam, type IamInstance } from '../support/iam.ts'
import { ALICE, API, SERVICE_SECRET, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { launchChromium, openSession } from '../support/chromium.ts'
import { HttpBrowser } from '../support/browser.ts'
import { authorizeAndSignIn, discoverSpa, insecure } from '../support/code-flow.ts'
import { exited, freePort, sleep, spawnWithParentDeath } from '../support/processes.ts'
import { createClient } from '../../src/clients/registry.ts'
import { registerResourceServer } from '../../src/oidc/resource-servers.ts'
import { challengeParams } from '../support/bearer-challenge.ts'

const root = path.resolve(import.meta.dirname, '../..')
/** Debian's interpreter: the packages the examples need are installed for it, not for a python3 earlier on PATH. */
const PYTHON = '/usr/bin/python3'

interface Example {
  name: string
  output(): string
  process: ChildProcess
}

/** Starts a Python example and waits until `readyUrl` answers (any status). */
async function startPython(name: string, args: string[], cwd: string, env: Record<string, string>, readyUrl: string): Promise<Example> {
  const proc = spawnWithParentDeath(PYTHON, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', ...env },
  })
  let output = ''
  proc.stdout!.on('data', (d: Buffer) => { output += d })
  proc.stderr!.on('data', (d: Buffer) => { output += d })
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}:\n${output}`)
    try {
      await fetch(readyUrl, { redirect: 'manual' })
      return { name, output: () => output, process: proc }
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  throw new Error(`${name} did not start within 30 s:\n${output}`)
}

describe('the Python examples (embedded)', () => {
  let iam: IamInstance
  let browser: Browser
  let aliceId: string
  let svc: oidc.Configuration
  const examples: Example[] = []
  const secrets = { post: '', basic: '', introspection: '' }
  const port = { flaskPost: 0, flaskBasic: 0, jwtApi: 0, opaqueApi: 0 }
  const flask = (p: number) => `http://localhost:${p}`
  // Each API's resource identifier is the URL it is called at: RFC 9728 derives the metadata's
  // well-known URL from it.
  const jwtApi = () => `http://127.0.0.1:${port.jwtApi}`
  const opaqueApi = () => `http://127.0.0.1:${port.opaqueApi}`
  const metadataUrl = (api: string) => `${api}/.well-known/oauth-protected-resource`

  beforeAll(async () => {
    for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await freePort()
    iam = await createIam('embedded')
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      aliceId = (await prisma.user.findUniqueOrThrow({ where: { email: ALICE.email } })).id
      // What the examples' header comments register with the CLI (the same domain functions).
      await registerResourceServer(prisma, { identifier: jwtApi(), name: 'Example FastAPI', scopes: ['read'] })
      await registerResourceServer(prisma, { identifier: opaqueApi(), name: 'Example FastAPI (opaque)', scopes: ['read'], format: 'opaque' })
      for (const [method, p] of [['post', port.flaskPost], ['basic', port.flaskBasic]] as const) {
        secrets[method] = (await createClient(prisma, {
          clientId: `example-flask-${method}`, kind: 'web', name: `Example Flask app (${method})`,
          tokenEndpointAuthMethod: `client_secret_${method}`,
          redirectUris: [`${flask(p)}/callback`], postLogoutRedirectUris: [`${flask(p)}/signed-out`],
        })).clientSecret!
      }
      secrets.introspection = (await createClient(prisma, { clientId: 'example-fastapi', kind: 'service', name: 'Example FastAPI (introspection)' })).clientSecret!
    })
    await iam.start()
    svc = await oidc.discovery(new URL(iam.issuer), 'svc', SERVICE_SECRET, undefined, insecure)

    const flaskApp = (method: 'post' | 'basic', p: number) => startPython(`flask-${method}`, ['examples/python/flask-webapp/app.py'], root, {
      ISSUER: iam.issuer, CLIENT_ID: `example-flask-${method}`, CLIENT_SECRET: secrets[method],
      TOKEN_ENDPOINT_AUTH_METHOD: `client_secret_${method}`, PORT: String(p),
    }, `http://127.0.0.1:${p}/`)
    const resourceServer = (name: string, p: number, env: Record<string, string>) => startPython(name,
      ['-m', 'uvicorn', 'app:app', '--host', '127.0.0.1', '--port', String(p)],
      path.join(root, 'examples/python/fastapi-resource-server'),
      { ISSUER: iam.issuer, ...env }, `http://127.0.0.1:${p}/`)
    examples.push(...await Promise.all([
      flaskApp('post', port.flaskPost),
      flaskApp('basic', port.flaskBasic),
      resourceServer('fastapi-jwt', port.jwtApi, { RESOURCE: jwtApi() }),
      resourceServer('fastapi-opaque', port.opaqueApi, {
        RESOURCE: opaqueApi(), RESOURCE_NAME: 'Example FastAPI (opaque)',
        INTROSPECTION_CLIENT_ID: 'example-fastapi', INTROSPECTION_CLIENT_SECRET: secrets.introspection,
      }),
    ]))
    browser = await launchChromium({ hostRules: [port.flaskPost, port.flaskBasic].map((p) => `MAP localhost:${p} 127.0.0.1:${p}`) })
    // The server, four Python processes and Chromium: more to start than the suites' default allows
    // on a busy machine.
  }, 240_000)

  afterAll(async () => {
    await browser?.close()
    // Kept for reading after a failure (git-ignored), like the server's log.
    mkdirSync(path.join(root, 'test-results'), { recursive: true })
    for (const e of examples) {
      e.process.kill('SIGTERM')
      await exited(e.process)
      writeFileSync(path.join(root, 'test-results', `example-python-${e.name}-${e.process.pid}.log`), e.output())
    }
    await iam?.close()
  })

  const get = (url: string, token?: string) => fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
  const clientCredentials = async (resource: string) => (await oidc.clientCredentialsGrant(svc, { resource, scope: 'read' })).access_token

  /** Alice's access token for `resource` from a sign-in with her password only (acr pwd). */
  async function alicesToken(resource: string) {
    const spa = await discoverSpa(iam.issuer)
    const { callback, verifier, state } = await authorizeAndSignIn(spa, new HttpBrowser(iam.issuer), 'openid read', { resource })
    expect(callback.href.startsWith(SPA_REDIRECT)).toBe(true)
    return (await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier, expectedState: state }, { resource })).access_token
  }

  /** On the server's login page: signs in as Alice, then allows on the consent page. */
  async function signInAsAlice(page: Page, client: string) {
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
    await page.getByText(`to continue to ${client}`).waitFor()
    await page.getByLabel('Email or username', { exact: true }).fill(ALICE.email)
    await page.getByLabel('Password', { exact: true }).fill(ALICE.password)
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.getByRole('heading', { name: 'Allow access?', level: 1 }).waitFor()
    await page.getByRole('button', { name: 'Allow', exact: true }).click()
  }

  describe('Flask web app (examples/python/flask-webapp)', () => {
    it('client_secret_post: signs in with code + PKCE, shows ID token claims and userinfo, signs out at the server too', async () => {
      const web = flask(port.flaskPost)
      const { context, page, problems } = await openSession(browser)
      try {
        await page.goto(`${web}/`)
        await page.getByText('You are not signed in.').waitFor()
        const authorization = page.waitForRequest((r) => r.url().startsWith(`${iam.issuer}/auth?`))
        await page.getByRole('link', { name: 'Sign in' }).click()
        // The authorization request Authlib built: code flow, PKCE S256, state and nonce.
        const request = new URL((await authorization).url())
        expect(Object.fromEntries(request.searchParams)).toMatchObject({
          response_type: 'code', client_id: 'example-flask-post', redirect_uri: `${web}/callback`, scope: 'openid profile email', code_challenge_method: 'S256',
        })
        for (const name of ['state', 'nonce', 'code_challenge']) expect(request.searchParams.get(name)).toBeTruthy()
        await signInAsAlice(page, 'Example Flask app (post)')

        await page.waitForURL(`${web}/`)
        await page.getByRole('status').filter({ hasText: 'Signed in.' }).waitFor()
        await page.getByRole('heading', { name: `Signed in as ${ALICE.email}` }).waitFor()
        const shown = await page.locator('body').innerText()
        // The ID token's claims…
        expect(shown).toContain(`sub\t${aliceId}`)
        expect(shown).toContain('acr\turn:iam:acr:pwd')
        expect(shown).toContain('amr\t["pwd"]')
        // …and what userinfo said.
        expect(shown).toContain('name\tAlice Example')
        expect(shown).toContain(`email\t${ALICE.email}`)
        expect(shown).toContain('email_verified\ttrue')

        await page.getByRole('button', { name: 'Sign out' }).click()
        await page.getByRole('heading', { name: 'Sign out?', level: 1 }).waitFor()
        await page.getByRole('button', { name: 'Sign out', exact: true }).click()
        await page.waitForURL((url) => url.href.startsWith(`${web}/signed-out`))
        await page.getByText('You are signed out of the example Flask app.').waitFor()
        await page.goto(`${web}/`)
        await page.getByText('You are not signed in.').waitFor()
        // The server's session ended too: signing in asks for the password again.
        await page.getByRole('link', { name: 'Sign in' }).click()
        await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
        expect(problems).toEqual([])
      } finally {
        await context.close()
      }
    })

    it('client_secret_basic: signs in the same way', async () => {
      const web = flask(port.flaskBasic)
      const { context, page, problems } = await openSession(browser)
      try {
        await page.goto(`${web}/login`)
        await signInAsAlice(page, 'Example Flask app (basic)')
        await page.getByRole('heading', { name: `Signed in as ${ALICE.email}` }).waitFor()
        expect(await page.locator('body').innerText()).toContain(`sub\t${aliceId}`)
        expect(problems).toEqual([])
      } finally {
        await context.close()
      }
    })

    it('refuses a callback that did not come from the issuer (RFC 9207) or carries no valid state', async () => {
      const web = flask(port.flaskBasic)
      const mixUp = await fetch(`${web}/callback?code=abc&state=xyz&iss=${encodeURIComponent('https://attacker.example')}`)
      expect(mixUp.status).toBe(400)
      expect(await mixUp.text()).toContain('did not come from the expected identity provider')
      const forged = await fetch(`${web}/callback?code=abc&state=xyz&iss=${encodeURIComponent(iam.issuer)}`)
      expect(forged.status).toBe(400)
      expect(await forged.text()).toContain('Sign-in failed')
      // Signing out is a form post with this session's token.
      expect((await fetch(`${web}/logout`, { method: 'POST' })).status).toBe(403)
    })
  })

  describe('FastAPI resource server (examples/python/fastapi-resource-server)', () => {
    it('publishes its Protected Resource Metadata (RFC 9728) at the URL derived from its identifier', async () => {
      for (const [api, name] of [[jwtApi(), 'Example FastAPI'], [opaqueApi(), 'Example FastAPI (opaque)']] as const) {
        const res = await get(metadataUrl(api))
        expect(res.status).toBe(200)
        expect(res.headers.get('content-type')).toMatch(/^application\/json/)
        expect(await res.json()).toEqual({
          resource: api, authorization_servers: [iam.issuer], scopes_supported: ['read'], bearer_methods_supported: ['header'], resource_name: name,
        })
      }
    })

    it('without a token: 401 and a challenge naming its metadata; a client finds the issuer there and gets a token that works', async () => {
      const none = await get(`${jwtApi()}/api/hello`)
      expect(none.status).toBe(401)
      expect(none.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadataUrl(jwtApi())}"`)

      // What a client that knows only the API's URL does (RFC 9728 §5): metadata, then the
      // authorization server's, then a token for the resource.
      const metadata = await (await get(challengeParams(none.headers.get('www-authenticate')).resource_metadata!)).json() as { resource: string; authorization_servers: string[]; scopes_supported: string[] }
      expect(metadata.resource).toBe(jwtApi()) // §3.3: the same identifier, or the metadata is not to be used
      const as = await oidc.discovery(new URL(metadata.authorization_servers[0]!), 'svc', SERVICE_SECRET, undefined, insecure)
      const token = await oidc.clientCredentialsGrant(as, { resource: metadata.resource, scope: metadata.scopes_supported.join(' ') })
      const ok = await get(`${jwtApi()}/api/hello`, token.access_token)
      expect(ok.status).toBe(200)
      expect(await ok.json()).toEqual({ message: 'Hello, service svc', sub: 'svc', client_id: 'svc', scope: 'read', checked_by: 'jwt' })
    })

    it('JWT access tokens: verified against the JWKS with its own audience; others refused with invalid_token', async () => {
      const person = await alicesToken(jwtApi())
      const ok = await get(`${jwtApi()}/api/hello`, person)
      expect(ok.status).toBe(200)
      expect(await ok.json()).toMatchObject({ message: `Hello, ${aliceId}`, sub: aliceId, client_id: 'spa', scope: 'read', acr: 'urn:iam:acr:pwd', checked_by: 'jwt' })

      const refused = async (token: string) => {
        const res = await get(`${jwtApi()}/api/hello`, token)
        expect(res.status).toBe(401)
        const params = challengeParams(res.headers.get('www-authenticate'))
        expect(params).toMatchObject({ error: 'invalid_token', resource_metadata: metadataUrl(jwtApi()) })
        return params.error_description
      }
      // A valid JWT access token of the same issuer, for the other API…
      expect(await refused(await clientCredentials(API))).toMatch(/aud/)
      // …an ID token (same issuer, same keys, not an access token), garbage, and an opaque token
      // (this instance has no introspection credentials).
      const spa = await discoverSpa(iam.issuer)
      const { callback, verifier, state } = await authorizeAndSignIn(spa, new HttpBrowser(iam.issuer), 'openid')
      const idToken = (await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier, expectedState: state })).id_token!
      expect(await refused(idToken)).toBeTruthy()
      expect(await refused('not.a.token')).toBeTruthy()
      expect(await refused(await clientCredentials(opaqueApi()))).toBe('the token could not be verified')

      const malformed = await fetch(`${jwtApi()}/api/hello`, { headers: { authorization: 'Basic abc' } })
      expect(malformed.status).toBe(401)
      expect(challengeParams(malformed.headers.get('www-authenticate')).error).toBe('invalid_request')
    })

    it('opaque access tokens: introspected with its own client credentials (RFC 7662); inactive or foreign ones refused', async () => {
      const opaque = await clientCredentials(opaqueApi())
      expect(opaque.split('.')).toHaveLength(1)
      const ok = await get(`${opaqueApi()}/api/hello`, opaque)
      expect(ok.status).toBe(200)
      expect(await ok.json()).toMatchObject({ message: 'Hello, service svc', client_id: 'svc', scope: 'read', checked_by: 'introspection' })

      const unknown = await get(`${opaqueApi()}/api/hello`, 'garbage')
      expect(unknown.status).toBe(401)
      expect(challengeParams(unknown.headers.get('www-authenticate'))).toMatchObject({ error: 'invalid_token', error_description: 'the token is not active', resource_metadata: metadataUrl(opaqueApi()) })

      // A JWT for the other API: its audience is not this one.
      const foreign = await get(`${opaqueApi()}/api/hello`, await clientCredentials(jwtApi()))
      expect(foreign.status).toBe(401)
      expect(challengeParams(foreign.headers.get('www-authenticate')).error).toBe('invalid_token')

      // Revoked at the issuer: introspection says inactive at once.
      await oidc.tokenRevocation(svc, opaque)
      const revoked = await get(`${opaqueApi()}/api/hello`, opaque)
      expect(revoked.status).toBe(401)
      expect(challengeParams(revoked.headers.get('www-authenticate')).error_description).toBe('the token is not active')
    })

    it('the step-up route answers a token without a recent second factor with an RFC 9470 challenge', async () => {
      for (const token of [await alicesToken(jwtApi()), await clientCredentials(jwtApi())]) {
        expect((await get(`${jwtApi()}/api/hello`, token)).status).toBe(200)
        const res = await get(`${jwtApi()}/api/sensitive`, token)
        expect(res.status).toBe(401)
        expect(challengeParams(res.headers.get('www-authenticate'))).toEqual({
          error: 'insufficient_user_authentication',
          error_description: 'a second factor within the last 5 minutes is required',
          acr_values: 'urn:iam:acr:mfa',
          max_age: '300',
          resource_metadata: metadataUrl(jwtApi()),
        })
        expect(await res.json()).toEqual({ error: 'insufficient_user_authentication', error_description: 'a second factor within the last 5 minutes is required' })
      }
    })
  })
})

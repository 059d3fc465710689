// The integration guide's examples (examples/), run unchanged as child processes against the real
// server (embedded mode), and driven the way a developer would try them: Chromium through the
// web app and the SPA, the service run to completion, the resource server asked directly.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import type { Browser, Page } from 'playwright-core'
import { createIam, type IamInstance } from '../support/iam.ts'
import { ALICE, API, OPAQUE_API, SERVICE_SECRET, createFixtures } from '../support/fixtures.ts'
import { launchChromium, openSession } from '../support/chromium.ts'
import { exited, freePort, spawnWithParentDeath } from '../support/processes.ts'
import { createClient } from '../../src/clients/registry.ts'
import { registerResourceServer } from '../../src/oidc/resource-servers.ts'

const root = path.resolve(import.meta.dirname, '../..')
const EXAMPLE_API = 'https://api.examples.test'

interface Example {
  file: string
  output(): string
  process: ChildProcess
}

/** Starts an example file with `env` and waits for its "listening" line. */
async function startExample(file: string, env: Record<string, string>): Promise<Example> {
  const proc = spawnWithParentDeath(process.execPath, [path.join(root, file)], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env } })
  let output = ''
  proc.stdout!.on('data', (d: Buffer) => { output += d })
  proc.stderr!.on('data', (d: Buffer) => { output += d })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start:\n${output}`)), 30_000)
    proc.stdout!.on('data', () => {
      if (output.includes('listening on')) {
        clearTimeout(timer)
        resolve()
      }
    })
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${file} exited with ${code}:\n${output}`))
    })
  })
  return { file, output: () => output, process: proc }
}

/** Runs a Node script (an example, tsc) to completion. */
async function runNode(file: string, env: Record<string, string>, args: string[] = []): Promise<{ code: number | null; output: string }> {
  const proc = spawnWithParentDeath(process.execPath, [path.join(root, file), ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env } })
  let output = ''
  proc.stdout!.on('data', (d: Buffer) => { output += d })
  proc.stderr!.on('data', (d: Buffer) => { output += d })
  await exited(proc)
  return { code: proc.exitCode, output }
}

describe('the integration guide examples (embedded)', () => {
  let iam: IamInstance
  let browser: Browser
  let aliceId: string
  let webSecret: string
  let serviceSecret: string
  let svc: oidc.Configuration
  const examples: Example[] = []
  const port = { web: 0, spa: 0, api: 0, opaqueApi: 0 }
  const web = () => `http://localhost:${port.web}`
  const spa = () => `http://localhost:${port.spa}`
  const api = () => `http://127.0.0.1:${port.api}`
  const opaqueApi = () => `http://127.0.0.1:${port.opaqueApi}`

  beforeAll(async () => {
    for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await freePort()
    iam = await createIam('embedded')
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      aliceId = (await prisma.user.findUniqueOrThrow({ where: { email: ALICE.email } })).id
      // What the examples' header comments register with the CLI (the same domain functions).
      await registerResourceServer(prisma, { identifier: EXAMPLE_API, name: 'Example API', scopes: ['read', 'write'] })
      webSecret = (await createClient(prisma, {
        clientId: 'example-web', kind: 'web', name: 'Example web app',
        redirectUris: [`${web()}/callback`], postLogoutRedirectUris: [`${web()}/signed-out`],
        backchannelLogoutUri: `${web()}/backchannel-logout`,
      })).clientSecret!
      await createClient(prisma, {
        clientId: 'example-spa', kind: 'spa', name: 'Example SPA',
        redirectUris: [`${spa()}/callback`], postLogoutRedirectUris: [`${spa()}/`],
      })
      serviceSecret = (await createClient(prisma, { clientId: 'example-service', kind: 'service', name: 'Example service' })).clientSecret!
    })
    await iam.start()
    svc = await oidc.discovery(new URL(iam.issuer), 'svc', SERVICE_SECRET, undefined, { execute: [oidc.allowInsecureRequests] })

    const started = await Promise.all([
      startExample('examples/resource-server/server.mjs', {
        ISSUER: iam.issuer, API_IDENTIFIER: EXAMPLE_API, PORT: String(port.api), CORS_ORIGINS: spa(),
      }),
      startExample('examples/resource-server/server.mjs', {
        ISSUER: iam.issuer, API_IDENTIFIER: OPAQUE_API, PORT: String(port.opaqueApi), TOKEN_CHECK: 'introspection',
        INTROSPECTION_CLIENT_ID: 'svc', INTROSPECTION_CLIENT_SECRET: SERVICE_SECRET,
      }),
      startExample('examples/web-app/server.mjs', {
        ISSUER: iam.issuer, CLIENT_ID: 'example-web', CLIENT_SECRET: webSecret, PORT: String(port.web),
      }),
      startExample('examples/spa/server.mjs', {
        ISSUER: iam.issuer, CLIENT_ID: 'example-spa', API_IDENTIFIER: EXAMPLE_API, API_URL: `${api()}/api/hello`, PORT: String(port.spa),
      }),
    ])
    examples.push(...started)
    browser = await launchChromium({ hostRules: [`MAP localhost:${port.web} 127.0.0.1:${port.web}`, `MAP localhost:${port.spa} 127.0.0.1:${port.spa}`] })
  })

  afterAll(async () => {
    await browser?.close()
    // Kept for reading after a failure (git-ignored), like the server's log.
    mkdirSync(path.join(root, 'test-results'), { recursive: true })
    for (const e of examples) {
      e.process.kill('SIGTERM')
      await exited(e.process)
      writeFileSync(path.join(root, 'test-results', `example-${path.basename(path.dirname(e.file))}-${e.process.pid}.log`), e.output())
    }
    await iam?.close()
  })

  async function clientCredentials(resource: string, scope: string) {
    return (await oidc.clientCredentialsGrant(svc, { resource, scope })).access_token
  }

  function get(url: string, token?: string) {
    return fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
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

  /** On the server's "Sign out?" page: signs out. */
  async function confirmSignOut(page: Page) {
    await page.getByRole('heading', { name: 'Sign out?', level: 1 }).waitFor()
    await page.getByRole('button', { name: 'Sign out', exact: true }).click()
  }

  describe('resource server (examples/resource-server)', () => {
    it('refuses a missing, garbage or wrong-audience token with 401 and a challenge, and accepts a valid one', async () => {
      const missing = await get(`${api()}/api/hello`)
      expect(missing.status).toBe(401)
      expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="example-api"')

      const garbage = await get(`${api()}/api/hello`, 'not.a.token')
      expect(garbage.status).toBe(401)
      expect(garbage.headers.get('www-authenticate')).toMatch(/^Bearer realm="example-api", error="invalid_token"/)

      // A valid JWT access token from the same issuer, for another API.
      const otherApi = await get(`${api()}/api/hello`, await clientCredentials(API, 'read'))
      expect(otherApi.status).toBe(401)
      expect(otherApi.headers.get('www-authenticate')).toContain('error="invalid_token", error_description="the token\'s aud claim is not acceptable"')

      const valid = await clientCredentials(EXAMPLE_API, 'read')
      const ok = await get(`${api()}/api/hello`, valid)
      expect(ok.status).toBe(200)
      expect(await ok.json()).toMatchObject({ message: 'Hello, service svc', client_id: 'svc', scope: 'read', checked_by: 'jwt' })

      const writeOnly = await get(`${api()}/api/hello`, await clientCredentials(EXAMPLE_API, 'write'))
      expect(writeOnly.status).toBe(403)
      expect(writeOnly.headers.get('www-authenticate')).toContain('error="insufficient_scope"')

      // RFC 9470: no person, no second factor: step-up is demanded.
      const sensitive = await get(`${api()}/api/sensitive`, valid)
      expect(sensitive.status).toBe(401)
      expect(sensitive.headers.get('www-authenticate')).toContain('error="insufficient_user_authentication"')
      expect(sensitive.headers.get('www-authenticate')).toContain('acr_values="urn:iam:acr:mfa", max_age=300')
    })

    it('with TOKEN_CHECK=introspection accepts an opaque token for its API and refuses others', async () => {
      const missing = await get(`${opaqueApi()}/api/hello`)
      expect(missing.status).toBe(401)
      const garbage = await get(`${opaqueApi()}/api/hello`, 'garbage')
      expect(garbage.status).toBe(401)
      expect(garbage.headers.get('www-authenticate')).toContain('error="invalid_token", error_description="the token is not active"')
      const otherApi = await get(`${opaqueApi()}/api/hello`, await clientCredentials(EXAMPLE_API, 'read'))
      expect(otherApi.status).toBe(401)
      expect(otherApi.headers.get('www-authenticate')).toContain('error_description="the token is not for this API"')

      const opaque = await clientCredentials(OPAQUE_API, 'read')
      expect(opaque.split('.')).toHaveLength(1)
      const ok = await get(`${opaqueApi()}/api/hello`, opaque)
      expect(ok.status).toBe(200)
      expect(await ok.json()).toMatchObject({ client_id: 'svc', scope: 'read', checked_by: 'introspection' })
    })
  })

  it('the examples type-check with their JSDoc types (npm run typecheck:examples)', async () => {
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc')
    const run = await runNode(path.relative(root, tsc), {}, ['-p', 'examples'])
    expect(run.output).toBe('')
    expect(run.code).toBe(0)
  })

  it('service (examples/service): client credentials for the API, prints its answer, exits 0', async () => {
    const run = await runNode('examples/service/client.mjs', {
      ISSUER: iam.issuer, CLIENT_ID: 'example-service', CLIENT_SECRET: serviceSecret,
      API_IDENTIFIER: EXAMPLE_API, API_URL: `${api()}/api/hello`,
    })
    expect(run.output).toContain(`got an access token for ${EXAMPLE_API} (scope "read"`)
    expect(run.output).toContain('the API answered 200: {"message":"Hello, service example-service"')
    expect(run.code).toBe(0)

    const wrongSecret = await runNode('examples/service/client.mjs', {
      ISSUER: iam.issuer, CLIENT_ID: 'example-service', CLIENT_SECRET: 'not-the-secret',
      API_IDENTIFIER: EXAMPLE_API, API_URL: `${api()}/api/hello`,
    })
    expect(wrongSecret.output).toContain('token request refused: invalid_client')
    expect(wrongSecret.code).toBe(1)
  })

  it('web app (examples/web-app): sign in, profile with ID token claims and userinfo, refresh, RP-initiated logout', async () => {
    const { context, page, problems } = await openSession(browser)
    try {
      await page.goto(`${web()}/`)
      await page.getByText('You are not signed in.').waitFor()
      await page.getByRole('link', { name: 'Sign in' }).click()
      await signInAsAlice(page, 'Example web app')

      await page.waitForURL(`${web()}/`)
      await page.getByRole('heading', { name: `Signed in as ${ALICE.email}` }).waitFor()
      const profile = await page.locator('body').innerText()
      expect(profile).toContain(`sub\t${aliceId}`)
      expect(profile).toContain('acr\turn:iam:acr:pwd')
      expect(profile).toContain('name\tAlice Example')
      expect(profile).toContain('email_verified\ttrue')
      expect(profile).toContain('refreshed 0 time(s)')

      await page.getByRole('button', { name: 'Refresh tokens' }).click()
      await page.getByRole('status').filter({ hasText: 'Tokens refreshed.' }).waitFor()
      await page.getByText('refreshed 1 time(s)').waitFor()
      await page.getByRole('button', { name: 'Refresh tokens' }).click()
      await page.getByText('refreshed 2 time(s)').waitFor()

      await page.getByRole('button', { name: 'Sign out' }).click()
      await confirmSignOut(page)
      await page.waitForURL(`${web()}/signed-out`)
      await page.getByText('You are signed out of the example web app.').waitFor()
      await page.goto(`${web()}/`)
      await page.getByText('You are not signed in.').waitFor()
      // The server's session ended too: signing in asks for the password again.
      await page.getByRole('link', { name: 'Sign in' }).click()
      await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor()
      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
  })

  it('web app: signing out at the server ends the app session too (back-channel logout)', async () => {
    const { context, page } = await openSession(browser)
    try {
      await page.goto(`${web()}/login`)
      await signInAsAlice(page, 'Example web app')
      await page.getByRole('heading', { name: `Signed in as ${ALICE.email}` }).waitFor()

      // Signed out at the identity provider, not through the app.
      await page.goto(`${iam.issuer}/session/end`)
      await confirmSignOut(page)
      await page.getByRole('heading', { name: 'You are signed out', level: 1 }).waitFor()

      await page.goto(`${web()}/`)
      await page.getByText('You are not signed in.').waitFor()
    } finally {
      await context.close()
    }
  })

  it('SPA (examples/spa): signs in with PKCE in the browser, calls the API with the token, refreshes, signs out', async () => {
    const { context, page, problems } = await openSession(browser)
    try {
      await page.goto(`${spa()}/`)
      await page.getByRole('status').filter({ hasText: 'You are not signed in.' }).waitFor()
      await page.getByRole('button', { name: 'Sign in' }).click()
      await signInAsAlice(page, 'Example SPA')

      await page.waitForURL(`${spa()}/`)
      await page.getByRole('status').filter({ hasText: /^(Signed in\.|Sign-in failed|Something went wrong)/ }).waitFor()
      expect({ status: await page.getByRole('status').innerText(), problems }).toEqual({ status: 'Signed in.', problems: [] })
      await page.getByText(`Signed in as ${ALICE.email}`).waitFor()

      await page.getByRole('button', { name: 'Call the API' }).click()
      const answer = page.locator('#api-answer')
      await answer.filter({ hasText: /^200 / }).waitFor()
      const body = JSON.parse((await answer.innerText()).replace(/^200 /, '')) as Record<string, unknown>
      expect(body).toMatchObject({ message: `Hello, ${aliceId}`, sub: aliceId, client_id: 'example-spa', scope: 'read', acr: 'urn:iam:acr:pwd', checked_by: 'jwt' })

      // Refresh-token rotation: each refresh gets a new refresh token, and the new access token works.
      await page.getByRole('button', { name: 'Refresh tokens' }).click()
      await page.getByRole('status').filter({ hasText: 'Tokens refreshed.' }).waitFor()
      await answer.evaluate((el) => { el.textContent = '' })
      await page.getByRole('button', { name: 'Call the API' }).click()
      await answer.filter({ hasText: /^200 .*"sub":/ }).waitFor()

      await page.getByRole('button', { name: 'Sign out' }).click()
      await confirmSignOut(page)
      await page.waitForURL(`${spa()}/`)
      await page.getByRole('status').filter({ hasText: 'You are signed out.' }).waitFor()
      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
  })
})

// Protocol details relying parties and resource servers depend on, as they see them at the
// endpoints: each resource server's access-token lifetime, introspection of a disabled client's
// tokens, essential acr requests, prompt=login, refresh with a wrong resource, the device flow's
// polling interval, discovery's endpoint auth methods, back-channel logout failures, the logout
// page and private_key_jwt assertion bounds. openid-client is the RP; pages are walked with
// HttpBrowser. Both storage modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { decodeJwt } from 'jose'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, type PageResponse } from '../support/browser.ts'
import { ALICE, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { registerResourceServer } from '../../src/oidc/resource-servers.ts'
import { createClient } from '../../src/clients/registry.ts'
import { ADMIN_PERMISSIONS, adminResource, setClientAdminPermissions } from '../../src/admin/permissions.ts'
import { ADMIN_TEST_CLIENT, ADMIN_TEST_REDIRECT, personToken } from '../support/admin.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }

/** A registered API whose tokens live 2 minutes (neither the default nor the admin API's 15). */
const SHORT_API = { identifier: 'https://short.example.test', ttl: 120 }
const SVC_ADMIN = { clientId: 'svc-admin', secret: 'svc-admin-secret-0123456789-0123456789-abcdef' }
const ADMIN = { login: 'root@example.test', password: 'root passphrase for the admin api' }
const SVC_SHORT = { clientId: 'svc-short', secret: 'svc-short-secret-0123456789-0123456789-abcdef' }

describe.each(STORAGE_MODES)('protocol correctness (%s)', (mode) => {
  let iam: IamInstance
  let spa: oidc.Configuration

  beforeAll(async () => {
    iam = await createIam(mode)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await registerResourceServer(prisma, { identifier: SHORT_API.identifier, name: 'Short-lived API', scopes: ['read'], ttl: SHORT_API.ttl })
      await createClient(prisma, { clientId: SVC_ADMIN.clientId, name: 'Admin automation', kind: 'service', secret: SVC_ADMIN.secret })
      await setClientAdminPermissions(prisma, SVC_ADMIN.clientId, ADMIN_PERMISSIONS)
      const root = await createUser(prisma, { email: ADMIN.login, password: ADMIN.password, emailVerified: true })
      await assignRole(prisma, root.id, (await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])).id)
      await createClient(prisma, { clientId: ADMIN_TEST_CLIENT, name: 'Admin test RP', kind: 'spa', firstParty: true, redirectUris: [ADMIN_TEST_REDIRECT] })
      await createClient(prisma, { clientId: SVC_SHORT.clientId, name: 'Short API automation', kind: 'service', secret: SVC_SHORT.secret })
    })
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
  })

  afterAll(async () => {
    await iam?.close()
  })

  /** Request lines with a 5xx status, and error lines, the server logged after `from`. */
  async function expectNoServerErrors(from: number) {
    await new Promise((r) => setTimeout(r, 150))
    expect(iam.logs().slice(from).split('\n').filter((line) => /"status":5\d\d/.test(line) || /"level":(50|60)/.test(line))).toEqual([])
  }

  async function authorizationParams(params: Record<string, string>) {
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    return {
      verifier, state,
      params: {
        redirect_uri: SPA_REDIRECT, state,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        ...params,
      },
    }
  }

  /** Answers the login and consent pages as Alice; returns the first response off the server's origin and the steps seen. */
  async function walkPages(browser: HttpBrowser, res: PageResponse): Promise<{ res: PageResponse; seen: string[] }> {
    const seen: string[] = []
    for (let step = 0; step < 8; step++) {
      if (new URL(res.url).origin !== browser.origin) return { res, seen }
      const post = (suffix: string, fields: Record<string, string>) => {
        const form = formWithAction(res.body, suffix)
        return browser.navigate(new URL(form.action, browser.origin).href, { form: { ...form.fields, ...fields } })
      }
      if (/\/login"/.test(res.body)) {
        seen.push('login')
        res = await post('/login', { login: ALICE.email, password: ALICE.password })
      } else if (/\/consent"/.test(res.body)) {
        seen.push('consent')
        res = await post('/consent', {})
      } else {
        return { res, seen }
      }
    }
    throw new Error('interactions did not finish')
  }

  /** The access token's lifetime as a resource server reads it, and as the token response states it. */
  const lifetimeOf = (tokens: { access_token: string; expires_in?: number }) => {
    const { exp, iat } = decodeJwt(tokens.access_token)
    return { jwt: exp! - iat!, expiresIn: tokens.expires_in }
  }

  describe('access-token lifetime per resource server', () => {
    it('client credentials: the admin API\'s tokens live 15 minutes, a registered API\'s its own', async () => {
      const logMark = iam.logs().length
      const admin = await oidc.discovery(new URL(iam.issuer), SVC_ADMIN.clientId, SVC_ADMIN.secret, oidc.ClientSecretBasic(SVC_ADMIN.secret), insecure)
      const adminTokens = await oidc.clientCredentialsGrant(admin, { scope: 'users:read', resource: adminResource(iam.issuer) })
      expect(lifetimeOf(adminTokens)).toEqual({ jwt: 900, expiresIn: 900 })

      const svc = await oidc.discovery(new URL(iam.issuer), SVC_SHORT.clientId, SVC_SHORT.secret, oidc.ClientSecretBasic(SVC_SHORT.secret), insecure)
      const shortTokens = await oidc.clientCredentialsGrant(svc, { scope: 'read', resource: SHORT_API.identifier })
      expect(lifetimeOf(shortTokens)).toEqual({ jwt: SHORT_API.ttl, expiresIn: SHORT_API.ttl })
      await expectNoServerErrors(logMark)
    })

    it('authorization code: an administrator\'s admin-API token lives 15 minutes', async () => {
      const token = await personToken(iam.issuer, ADMIN, ['users:read'])
      const { aud, exp, iat } = decodeJwt(token)
      expect(aud).toBe(adminResource(iam.issuer))
      expect(exp! - iat!).toBe(900)
    })

    it('authorization code and refresh: a person\'s token for a registered API lives as long as that API says', async () => {
      const logMark = iam.logs().length
      const req = await authorizationParams({ scope: 'openid read offline_access', resource: SHORT_API.identifier, prompt: 'consent' })
      const browser = new HttpBrowser(iam.issuer)
      const { res } = await walkPages(browser, await browser.navigate(oidc.buildAuthorizationUrl(spa, req.params).href))
      const tokens = await oidc.authorizationCodeGrant(spa, new URL(res.url), { pkceCodeVerifier: req.verifier, expectedState: req.state }, { resource: SHORT_API.identifier })
      expect(decodeJwt(tokens.access_token).aud).toBe(SHORT_API.identifier)
      expect(lifetimeOf(tokens)).toEqual({ jwt: SHORT_API.ttl, expiresIn: SHORT_API.ttl })
      const refreshed = await oidc.refreshTokenGrant(spa, tokens.refresh_token!, { resource: SHORT_API.identifier })
      expect(lifetimeOf(refreshed)).toEqual({ jwt: SHORT_API.ttl, expiresIn: SHORT_API.ttl })
      await expectNoServerErrors(logMark)
    })
  })
})

// OAuth 2.0 Protected Resource Metadata (RFC 9728) for this server's own demo API: the document at
// the well-known URL derived from the API's resource identifier, and the `resource_metadata`
// parameter in every challenge the API answers with, followed the way a client that meets the API
// first would: challenge → metadata → authorization server → token → the API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, type IamInstance } from '../support/iam.ts'
import { SERVICE_SECRET, createFixtures } from '../support/fixtures.ts'
import { insecure } from '../support/code-flow.ts'
import { challengeParams } from '../support/bearer-challenge.ts'

describe('Protected Resource Metadata for the demo API (RFC 9728, embedded)', () => {
  let iam: IamInstance
  let resource: string
  let metadataUrl: string
  let svc: oidc.Configuration

  beforeAll(async () => {
    iam = await createIam('embedded')
    await iam.withDatabase(createFixtures)
    await iam.start()
    resource = `${iam.issuer}/api`
    // §3.1: the well-known suffix between the host and the identifier's path.
    metadataUrl = `${iam.issuer}/.well-known/oauth-protected-resource/api`
    svc = await oidc.discovery(new URL(iam.issuer), 'svc', SERVICE_SECRET, undefined, insecure)
  })

  afterAll(async () => {
    await iam?.close()
  })

  it('publishes the API’s metadata at the URL its resource identifier gives', async () => {
    const res = await fetch(metadataUrl)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    // Public, for browser-based clients of other origins too.
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    const metadata = await res.json() as Record<string, unknown>
    expect(metadata).toEqual({
      resource, // §3.3: identical to the identifier the URL was derived from
      authorization_servers: [iam.issuer],
      scopes_supported: ['demo'],
      bearer_methods_supported: ['header'],
      resource_name: 'This server’s API',
      dpop_bound_access_tokens_required: false,
      tls_client_certificate_bound_access_tokens: false,
    })
    // The authorization server it names describes itself under that same issuer.
    const discovery = await (await fetch(`${iam.issuer}/.well-known/openid-configuration`)).json() as { issuer: string }
    expect(discovery.issuer).toBe(iam.issuer)
  })

  it('names the metadata in every challenge, and a client that follows it gets in', async () => {
    const call = (path: string, token?: string) => fetch(`${iam.issuer}/api/demo/${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {})

    // No token: the bare challenge, with no error code (RFC 6750 §3.1) but with the metadata (§5.1).
    const none = await call('profile')
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadataUrl}"`)

    const invalid = await call('profile', 'not-a-token')
    expect(invalid.status).toBe(401)
    expect(challengeParams(invalid.headers.get('www-authenticate'))).toMatchObject({ error: 'invalid_token', resource_metadata: metadataUrl })

    // Challenge → metadata → authorization server → a token for the resource with its scopes.
    const metadata = await (await fetch(challengeParams(none.headers.get('www-authenticate')).resource_metadata!)).json() as { resource: string; authorization_servers: string[]; scopes_supported: string[] }
    const as = await oidc.discovery(new URL(metadata.authorization_servers[0]!), 'svc', SERVICE_SECRET, undefined, insecure)
    const { access_token: token } = await oidc.clientCredentialsGrant(as, { resource: metadata.resource, scope: metadata.scopes_supported.join(' ') })
    const profile = await call('profile', token)
    expect(profile.status).toBe(200)
    expect(await profile.json()).toMatchObject({ sub: 'svc', client_id: 'svc', scope: 'demo' })

    // RFC 9470 step-up (no person behind a service's token) keeps its parameters and adds the metadata.
    const sensitive = await call('sensitive', token)
    expect(sensitive.status).toBe(401)
    expect(challengeParams(sensitive.headers.get('www-authenticate'))).toMatchObject({
      error: 'insufficient_user_authentication', acr_values: 'urn:iam:acr:mfa', max_age: '300', resource_metadata: metadataUrl,
    })

    // A valid token of the same issuer, for another API: refused, and pointed to the metadata.
    const other = await oidc.clientCredentialsGrant(svc, { resource: 'https://api.example.test', scope: 'read' })
    const wrongAudience = await call('profile', other.access_token)
    expect(wrongAudience.status).toBe(401)
    expect(challengeParams(wrongAudience.headers.get('www-authenticate'))).toMatchObject({ error: 'invalid_token', resource_metadata: metadataUrl })
  })

  it('answers JSON 404 and 405 for what it does not publish', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/other', '/.well-known/oauth-protected-resource/api/demo']) {
      const res = await fetch(`${iam.issuer}${path}`)
      expect(res.status, path).toBe(404)
      expect(await res.json()).toEqual({ error: 'not_found' })
    }
    const post = await fetch(metadataUrl, { method: 'POST' })
    expect(post.status).toBe(405)
  })
})

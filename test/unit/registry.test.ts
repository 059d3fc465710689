// The one client model (src/clients/settings.ts): every door validates with this schema, so its
// rules are tested here once; the doors' tests check they pass the errors on.
import { describe, expect, it } from 'vitest'
import { clientKinds, clientSettingsPatchSchema, clientSettingsSchema, DEVICE_CODE, metadataFor, settingsOf, settingsWarnings, type ClientSettingsInput } from '../../src/clients/registry.ts'
import { isBuiltInClient } from '../../src/clients/registry.ts'

const valid = { name: 'Example', kind: 'web' as const, redirectUris: ['https://app.example.com/callback'] }
const publicKey = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1', use: 'sig', alg: 'ES256' } as const

const ok = (input: Record<string, unknown>) => clientSettingsSchema.safeParse({ ...valid, ...input }).success
function issuePaths(input: Record<string, unknown>): string[] {
  const r = clientSettingsSchema.safeParse({ ...valid, ...input })
  expect(r.success).toBe(false)
  return r.error!.issues.map((i) => i.path.join('.'))
}

describe('clientSettingsSchema', () => {
  it('accepts a minimal client and applies defaults', () => {
    expect(clientSettingsSchema.parse({ name: '  Example  ', kind: 'service' })).toEqual({
      name: 'Example', kind: 'service', redirectUris: [], postLogoutRedirectUris: [], contacts: [], adminPermissions: [],
      requirePkce: true, requireSignedRequestObject: false, requirePushedAuthorizationRequests: false, backchannelLogoutSessionRequired: true,
      firstParty: false, mfaPolicy: 'none',
    })
  })

  it('accepts the four kinds and nothing else', () => {
    expect(clientKinds).toEqual(['web', 'spa', 'native', 'service'])
    expect(issuePaths({ kind: 'desktop' })).toEqual(['kind'])
    expect(issuePaths({ kind: undefined })).toEqual(['kind'])
  })

  it('accepts absolute redirect URIs, including loopback, and private-use schemes for native apps only', () => {
    expect(ok({ redirectUris: ['https://app.example.com/cb', 'http://127.0.0.1:8080/cb'] })).toBe(true)
    expect(ok({ kind: 'native', redirectUris: ['com.example.app:/oauth', 'http://127.0.0.1:8080/cb'] })).toBe(true)
    expect(issuePaths({ kind: 'spa', redirectUris: ['https://ok.example.com/cb', 'com.example.app:/oauth'] })).toEqual(['redirectUris.1'])
  })

  it.each([
    ['a relative path', '/callback'], ['plain text', 'not a url'], ['an empty string', ''], ['a host without a scheme', 'app.example.com/callback'],
    ['a fragment', 'https://app.example.com/cb#frag'], ['a javascript: URI', 'javascript:alert(1)'], ['a data: URI', 'data:text/html,hi'],
  ])('rejects %s as a URI', (_label, uri) => {
    expect(issuePaths({ redirectUris: ['https://ok.example.com/cb', uri] })).toContain('redirectUris.1')
    expect(issuePaths({ postLogoutRedirectUris: [uri] })).toEqual(['postLogoutRedirectUris.0'])
    expect(issuePaths({ backchannelLogoutUri: uri })).toEqual(['backchannelLogoutUri'])
    expect(issuePaths({ logoUri: uri })).toEqual(['logoUri'])
  })

  it('takes any RFC 6749 VSCHAR client id and secret (bringing clients over), within limits', () => {
    for (const id of ['my-app.v1_~', 'a', 'mod_auth_openidc:web', 'App With Spaces', 'a'.repeat(200), 'x@y!$%&*()']) expect(ok({ clientId: id })).toBe(true)
    for (const bad of ['', 'a'.repeat(201), ' leading', 'trailing ', 'tab\there', 'ünï', 'nul\u0000']) expect(issuePaths({ clientId: bad })).toEqual(['clientId'])
    expect(ok({ secret: 'short' })).toBe(true)
    expect(ok({ secret: 's'.repeat(512) })).toBe(true)
    expect(issuePaths({ secret: 's'.repeat(513) })).toEqual(['secret'])
    expect(issuePaths({ secret: '' })).toEqual(['secret'])
  })

  it('warns about a short imported secret and PKCE turned off, without refusing', () => {
    const c = clientSettingsSchema.parse({ ...valid, secret: 'legacy-secret', requirePkce: false })
    expect(settingsWarnings(c).map((w) => w.path)).toEqual(['requirePkce', 'secret'])
    expect(settingsWarnings(clientSettingsSchema.parse({ ...valid, secret: 's'.repeat(32) }))).toEqual([])
  })

  it('keeps public kinds public and confidential kinds confidential', () => {
    for (const m of ['client_secret_basic', 'client_secret_post']) expect(ok({ tokenEndpointAuthMethod: m })).toBe(true)
    expect(ok({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [publicKey] } })).toBe(true)
    expect(issuePaths({ tokenEndpointAuthMethod: 'none' })).toEqual(['tokenEndpointAuthMethod'])
    expect(issuePaths({ tokenEndpointAuthMethod: 'client_secret_jwt' })).toEqual(['tokenEndpointAuthMethod'])
    expect(issuePaths({ kind: 'spa', tokenEndpointAuthMethod: 'client_secret_basic' })).toEqual(['tokenEndpointAuthMethod'])
    expect(issuePaths({ kind: 'native', secret: 's'.repeat(40) })).toEqual(['secret'])
  })

  it('needs public keys for private_key_jwt and signed request objects, and never a private key', () => {
    expect(issuePaths({ tokenEndpointAuthMethod: 'private_key_jwt' })).toEqual(['jwks'])
    expect(ok({ tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'https://app.example.com/jwks' })).toBe(true)
    expect(issuePaths({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [publicKey] }, jwksUri: 'https://app.example.com/jwks' })).toEqual(['jwksUri'])
    expect(issuePaths({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ ...publicKey, d: 'secret-part' }] } })).toEqual(['jwks.keys.0'])
    expect(issuePaths({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ kty: 'RSA', n: 'abc' }] } })).toEqual(['jwks.keys.0'])
    expect(issuePaths({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [publicKey] }, secret: 's'.repeat(40) })).toEqual(['secret'])
    expect(issuePaths({ requireSignedRequestObject: true })).toEqual(['requireSignedRequestObject'])
    expect(ok({ requireSignedRequestObject: true, requestObjectSigningAlg: 'ES256', jwks: { keys: [publicKey] } })).toBe(true)
    expect(issuePaths({ requestObjectSigningAlg: 'HS256', jwks: { keys: [publicKey] } })).toEqual(['requestObjectSigningAlg'])
  })

  it('allows any valid grant combination and refuses the rest with the reason', () => {
    expect(ok({ grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'] })).toBe(true)
    expect(ok({ kind: 'native', grantTypes: [DEVICE_CODE], redirectUris: [] })).toBe(true)
    expect(ok({ kind: 'native', grantTypes: [DEVICE_CODE, 'refresh_token'], redirectUris: [] })).toBe(true)
    expect(ok({ grantTypes: [DEVICE_CODE], redirectUris: [] })).toBe(true)
    expect(issuePaths({ grantTypes: [DEVICE_CODE] })).toEqual(['redirectUris'])
    expect(issuePaths({ grantTypes: ['authorization_code'], redirectUris: [] })).toEqual(['redirectUris'])
    expect(issuePaths({ grantTypes: ['refresh_token', 'client_credentials'], redirectUris: [] })).toEqual(['grantTypes'])
    expect(issuePaths({ grantTypes: [] })).toEqual(['grantTypes'])
    expect(issuePaths({ kind: 'spa', grantTypes: ['authorization_code', 'client_credentials'] })).toEqual(['grantTypes.1'])
    expect(issuePaths({ kind: 'service', grantTypes: ['authorization_code'] })).toEqual(['grantTypes.0'])
    expect(issuePaths({ kind: 'service', redirectUris: ['https://a.example/cb'] })).toEqual(['redirectUris'])
  })

  it('lets only confidential clients that use codes turn PKCE off', () => {
    expect(ok({ requirePkce: false })).toBe(true)
    expect(issuePaths({ kind: 'spa', requirePkce: false })).toEqual(['requirePkce'])
    expect(issuePaths({ kind: 'service', redirectUris: [], requirePkce: false })).toEqual(['requirePkce'])
  })

  it('limits lifetimes, branding links, contacts and admin permissions', () => {
    expect(ok({ accessTokenTtl: 300, idTokenTtl: 600, refreshTokenTtl: 86400, accessTokenFormat: 'jwt' })).toBe(true)
    expect(issuePaths({ accessTokenTtl: 10 })).toEqual(['accessTokenTtl'])
    expect(issuePaths({ refreshTokenTtl: 1.5 })).toEqual(['refreshTokenTtl'])
    expect(issuePaths({ accessTokenFormat: 'paseto' })).toEqual(['accessTokenFormat'])
    expect(ok({ clientUri: 'https://app.example.com', policyUri: 'https://app.example.com/privacy', tosUri: 'http://localhost:3000/terms' })).toBe(true)
    expect(issuePaths({ logoUri: 'http://app.example.com/logo.png' })).toEqual(['logoUri'])
    expect(issuePaths({ contacts: ['not-an-address'] })).toEqual(['contacts.0'])
    expect(issuePaths({ adminPermissions: ['users:read'] })).toEqual(['adminPermissions'])
    expect(ok({ grantTypes: ['authorization_code', 'client_credentials'], adminPermissions: ['users:read'] })).toBe(true)
    expect(issuePaths({ bogus: true })).toEqual([''])
  })
})

describe('metadataFor and settingsOf', () => {
  const row = (input: ClientSettingsInput) => {
    const c = clientSettingsSchema.parse(input)
    return { id: c.clientId ?? 'id', name: c.name, metadata: metadataFor(c) as Record<string, never>, firstParty: c.firstParty, mfaPolicy: c.mfaPolicy, mfaMaxAge: c.mfaMaxAge ?? null, tenantId: c.tenantId ?? null }
  }

  it('writes RFC 7591 names for oidc-provider', () => {
    const m = metadataFor(clientSettingsSchema.parse({
      ...valid, tokenEndpointAuthMethod: 'client_secret_post', grantTypes: ['authorization_code', 'client_credentials'], requirePkce: false,
      logoUri: 'https://app.example.com/logo.png', contacts: ['ops@example.com'], requirePushedAuthorizationRequests: true, accessTokenTtl: 120,
    }))
    expect(m).toMatchObject({
      client_name: 'Example', application_type: 'web', grant_types: ['authorization_code', 'client_credentials'], response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post', logo_uri: 'https://app.example.com/logo.png', contacts: ['ops@example.com'],
      require_pushed_authorization_requests: true, 'urn:iam:pkce_optional': true, 'urn:iam:access_token_ttl': 120,
    })
    expect(m).not.toHaveProperty('require_signed_request_object')
    const device = metadataFor(clientSettingsSchema.parse({ name: 'TV', kind: 'native', grantTypes: [DEVICE_CODE] }))
    expect(device).toMatchObject({ application_type: 'native', grant_types: [DEVICE_CODE], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'none' })
  })

  it.each<[string, ClientSettingsInput]>([
    ['a web app', { ...valid, clientId: 'web', postLogoutRedirectUris: ['https://app.example.com/'], backchannelLogoutUri: 'https://app.example.com/bcl', backchannelLogoutSessionRequired: false }],
    ['a key-holding web app with JAR', { ...valid, clientId: 'jar', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [publicKey] }, requireSignedRequestObject: true, requestObjectSigningAlg: 'ES256' }],
    ['a device-only native app', { clientId: 'tv', name: 'TV', kind: 'native', grantTypes: [DEVICE_CODE, 'refresh_token'] }],
    ['a spa', { clientId: 'spa', name: 'SPA', kind: 'spa', redirectUris: ['https://spa.example.com/cb'], scope: 'openid profile', mfaPolicy: 'required', mfaMaxAge: 300 }],
    ['a service with admin permissions', { clientId: 'svc', name: 'Svc', kind: 'service', tokenEndpointAuthMethod: 'client_secret_post', adminPermissions: ['users:read'], accessTokenFormat: 'opaque' }],
  ])('reads %s back into the same settings', (_label, input) => {
    const { secret: _secret, ...expected } = clientSettingsSchema.parse(input)
    const back = settingsOf(row(input))
    expect(clientSettingsSchema.parse(back)).toEqual({ ...expected, grantTypes: back.grantTypes, tokenEndpointAuthMethod: back.tokenEndpointAuthMethod })
    expect(metadataFor(clientSettingsSchema.parse(back))).toEqual(row(input).metadata)
  })
})

describe('clientSettingsPatchSchema', () => {
  it('changes anything but the id, kind and secret, and removes optional settings with null', () => {
    expect(clientSettingsPatchSchema.parse({ logoUri: null, requirePkce: false })).toEqual({ logoUri: null, requirePkce: false })
    expect(clientSettingsPatchSchema.safeParse({ kind: 'spa' }).success).toBe(false)
    expect(clientSettingsPatchSchema.safeParse({ clientId: 'x' }).success).toBe(false)
    expect(clientSettingsPatchSchema.safeParse({ secret: 'x' }).success).toBe(false)
    expect(clientSettingsPatchSchema.safeParse({ requirePkce: null }).success).toBe(false)
  })
})

describe('isBuiltInClient', () => {
  it('names the console and the account area', () => {
    expect(isBuiltInClient('admin-console')).toBe(true)
    expect(isBuiltInClient('iam-account')).toBe(true)
    expect(isBuiltInClient('admin-console2')).toBe(false)
  })
})

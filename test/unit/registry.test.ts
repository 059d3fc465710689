import { describe, expect, it } from 'vitest'
import { clientKinds, newClientSchema } from '../../src/clients/registry.ts'

const valid = { name: 'Example', kind: 'web', redirectUris: ['https://app.example.com/callback'] } as const

const ok = (input: Record<string, unknown>) => newClientSchema.safeParse({ ...valid, ...input }).success
function issuePaths(input: Record<string, unknown>): string[] {
  const r = newClientSchema.safeParse({ ...valid, ...input })
  expect(r.success).toBe(false)
  return r.error!.issues.map((i) => i.path.join('.'))
}

describe('newClientSchema', () => {
  it('accepts a minimal client and applies defaults', () => {
    expect(newClientSchema.parse({ name: '  Example  ', kind: 'service' })).toEqual({
      name: 'Example',
      kind: 'service',
      redirectUris: [],
      postLogoutRedirectUris: [],
      firstParty: false,
      mfaPolicy: 'none',
    })
  })

  it('accepts the four kinds and nothing else', () => {
    expect(clientKinds).toEqual(['web', 'spa', 'native', 'service'])
    for (const kind of clientKinds) expect(ok({ kind })).toBe(true)
    expect(issuePaths({ kind: 'desktop' })).toEqual(['kind'])
    expect(issuePaths({ kind: undefined })).toEqual(['kind'])
  })

  it('accepts absolute redirect URIs, including loopback, and private-use schemes for native apps only', () => {
    expect(ok({ redirectUris: ['https://app.example.com/cb', 'http://127.0.0.1:8080/cb'] })).toBe(true)
    expect(ok({ kind: 'native', redirectUris: ['com.example.app:/oauth', 'http://127.0.0.1:8080/cb'] })).toBe(true)
    expect(issuePaths({ kind: 'spa', redirectUris: ['https://ok.example.com/cb', 'com.example.app:/oauth'] })).toEqual(['redirectUris.1'])
    expect(ok({ postLogoutRedirectUris: ['https://app.example.com/'], backchannelLogoutUri: 'https://app.example.com/bcl' })).toBe(true)
  })

  it.each([
    ['a relative path', '/callback'],
    ['plain text', 'not a url'],
    ['an empty string', ''],
    ['a host without a scheme', 'app.example.com/callback'],
    ['a fragment', 'https://app.example.com/cb#frag'],
    ['a javascript: URI', 'javascript:alert(1)'],
    ['a data: URI', 'data:text/html,hi'],
  ])('rejects %s as a redirect URI', (_label, uri) => {
    expect(issuePaths({ redirectUris: ['https://ok.example.com/cb', uri] })).toEqual(['redirectUris.1'])
    expect(issuePaths({ postLogoutRedirectUris: [uri] })).toEqual(['postLogoutRedirectUris.0'])
    expect(issuePaths({ backchannelLogoutUri: uri })).toEqual(['backchannelLogoutUri'])
    expect(issuePaths({ jwksUri: uri })).toEqual(['jwksUri'])
  })

  it('rejects a non-array redirectUris', () => {
    expect(issuePaths({ redirectUris: 'https://app.example.com/cb' })).toEqual(['redirectUris'])
  })

  it('refuses an imported secret shorter than 32 characters', () => {
    expect(issuePaths({ secret: 's'.repeat(31) })).toEqual(['secret'])
    expect(issuePaths({ secret: '' })).toEqual(['secret'])
    expect(ok({ secret: 's'.repeat(32) })).toBe(true)
    expect(ok({ secret: 's'.repeat(512) })).toBe(true)
    expect(issuePaths({ secret: 's'.repeat(513) })).toEqual(['secret'])
  })

  it('validates the client id', () => {
    expect(ok({ clientId: 'my-app.v1_~' })).toBe(true)
    expect(ok({ clientId: 'a'.repeat(128) })).toBe(true)
    for (const bad of ['ab', 'a'.repeat(129), 'has space', 'slash/id', 'ünï']) expect(issuePaths({ clientId: bad })).toEqual(['clientId'])
  })

  it('requires a non-blank name of at most 200 characters', () => {
    expect(issuePaths({ name: '   ' })).toEqual(['name'])
    expect(issuePaths({ name: 'n'.repeat(201) })).toEqual(['name'])
    expect(ok({ name: 'n'.repeat(200) })).toBe(true)
  })

  it('restricts the token endpoint auth method and MFA policy', () => {
    for (const m of ['client_secret_basic', 'client_secret_post', 'private_key_jwt']) expect(ok({ tokenEndpointAuthMethod: m })).toBe(true)
    expect(issuePaths({ tokenEndpointAuthMethod: 'none' })).toEqual(['tokenEndpointAuthMethod'])
    expect(issuePaths({ tokenEndpointAuthMethod: 'client_secret_jwt' })).toEqual(['tokenEndpointAuthMethod'])
    expect(ok({ mfaPolicy: 'required' })).toBe(true)
    expect(issuePaths({ mfaPolicy: 'sometimes' })).toEqual(['mfaPolicy'])
    expect(issuePaths({ firstParty: 'yes' })).toEqual(['firstParty'])
  })
})

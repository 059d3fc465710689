// The registration-token policy: what an administrator may issue, and the judgement of a
// registration's metadata against a token (RFC 7591 §3.2.2 error codes).
import { describe, expect, it } from 'vitest'
import { judgeRegistration, registrationTokenIdOf, registrationTokenPolicySchema, registrationTokenState } from '../../src/clients/registration-tokens.ts'

const policy = { allowedRedirectHosts: ['localhost', 'app.example.com'], allowedGrantTypes: ['authorization_code', 'refresh_token'], clientType: 'any' }

describe('registration token policy', () => {
  it('defaults to one use for a day, code flow, any client; refuses code flow without hosts and public client credentials', () => {
    expect(registrationTokenPolicySchema.parse({ allowedRedirectHosts: ['LocalHost'] })).toEqual({
      description: '', allowedRedirectHosts: ['localhost'], allowedGrantTypes: ['authorization_code', 'refresh_token'], clientType: 'any', expiresIn: 86400, maxUses: 1,
    })
    expect(registrationTokenPolicySchema.safeParse({}).error?.issues[0]?.path).toEqual(['allowedRedirectHosts'])
    expect(registrationTokenPolicySchema.safeParse({ allowedGrantTypes: ['client_credentials'], clientType: 'public' }).error?.issues[0]?.path).toEqual(['allowedGrantTypes'])
    expect(registrationTokenPolicySchema.safeParse({ allowedRedirectHosts: ['https://x.example/'] }).success).toBe(false)
    expect(registrationTokenPolicySchema.safeParse({ allowedRedirectHosts: ['x'], bogus: 1 }).success).toBe(false)
  })

  it('accepts metadata within the policy', () => {
    expect(judgeRegistration(policy, { redirect_uris: ['http://localhost:3000/cb', 'https://APP.example.com/cb'], grant_types: ['authorization_code'] })).toBeUndefined()
    // RFC 7591 defaults: authorization_code, client_secret_basic.
    expect(judgeRegistration(policy, { redirect_uris: ['https://app.example.com/cb'] })).toBeUndefined()
  })

  it('refuses redirect and post-logout hosts outside it with invalid_redirect_uri', () => {
    expect(judgeRegistration(policy, { redirect_uris: ['https://localhost.evil.example/cb'] })?.error).toBe('invalid_redirect_uri')
    expect(judgeRegistration(policy, { redirect_uris: ['https://app.example.com/cb'], post_logout_redirect_uris: ['https://evil.example/'] })?.error).toBe('invalid_redirect_uri')
    expect(judgeRegistration(policy, { redirect_uris: ['com.example.app:/cb'] })?.error).toBe('invalid_redirect_uri')
    expect(judgeRegistration(policy, { redirect_uris: ['not a url'] })?.error).toBe('invalid_redirect_uri')
  })

  it('refuses grant types and client types outside it with invalid_client_metadata', () => {
    expect(judgeRegistration(policy, { grant_types: ['client_credentials'] })?.error).toBe('invalid_client_metadata')
    expect(judgeRegistration({ ...policy, clientType: 'public' }, { redirect_uris: [] })?.error).toBe('invalid_client_metadata')
    expect(judgeRegistration({ ...policy, clientType: 'public' }, { token_endpoint_auth_method: 'none' })).toBeUndefined()
    expect(judgeRegistration({ ...policy, clientType: 'confidential' }, { token_endpoint_auth_method: 'none' })?.error).toBe('invalid_client_metadata')
    expect(judgeRegistration({ ...policy, clientType: 'confidential' }, { token_endpoint_auth_method: 'private_key_jwt' })).toBeUndefined()
  })

  it('names a token by a hash of its jti, and its state by revocation, expiry and uses in that order', () => {
    expect(registrationTokenIdOf('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0')
    const now = new Date('2026-12-08T00:00:00Z')
    const later = new Date('2026-12-09T00:00:00Z')
    expect(registrationTokenState({ revokedAt: null, expiresAt: later, uses: 0, maxUses: 1 }, now)).toBe('active')
    expect(registrationTokenState({ revokedAt: null, expiresAt: later, uses: 1, maxUses: 1 }, now)).toBe('spent')
    expect(registrationTokenState({ revokedAt: null, expiresAt: now, uses: 0, maxUses: 1 }, now)).toBe('expired')
    expect(registrationTokenState({ revokedAt: now, expiresAt: now, uses: 1, maxUses: 1 }, now)).toBe('revoked')
  })
})

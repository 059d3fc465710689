// RFC 9728 §3.1: where a resource's metadata lives, derived from its resource identifier, and the
// area that answers there.
import { describe, expect, it } from 'vitest'
import { demoApiMetadata, protectedResourceMetadataUrl } from '../../src/api/demo.ts'
import { areaOf } from '../../src/app.ts'

describe('protectedResourceMetadataUrl', () => {
  it('puts the well-known suffix between the host and the path, without a terminating slash, keeping the query', () => {
    expect(protectedResourceMetadataUrl('https://id.example.com/api')).toBe('https://id.example.com/.well-known/oauth-protected-resource/api')
    expect(protectedResourceMetadataUrl('https://id.example.com/api/')).toBe('https://id.example.com/.well-known/oauth-protected-resource/api')
    expect(protectedResourceMetadataUrl('https://id.example.com')).toBe('https://id.example.com/.well-known/oauth-protected-resource')
    expect(protectedResourceMetadataUrl('https://id.example.com/')).toBe('https://id.example.com/.well-known/oauth-protected-resource')
    expect(protectedResourceMetadataUrl('https://id.example.com:8443/tenant/api?v=1')).toBe('https://id.example.com:8443/.well-known/oauth-protected-resource/tenant/api?v=1')
  })

  it('describes the demo API under the issuer it is given', () => {
    expect(demoApiMetadata('https://id.example.com')).toMatchObject({ resource: 'https://id.example.com/api', authorization_servers: ['https://id.example.com'] })
  })

  it('is answered by the demo API’s area, not the provider', () => {
    expect(areaOf('/.well-known/oauth-protected-resource/api')).toBe('demoApi')
    expect(areaOf('/.well-known/oauth-protected-resourcex')).toBe('provider')
    expect(areaOf('/.well-known/openid-configuration')).toBe('provider')
  })
})

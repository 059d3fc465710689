// Registration warnings for URIs this server will call (back-channel logout, a client's JWKS) that
// the outbound (SSRF) policy refuses: loopback and private addresses not named in
// OUTBOUND_ALLOWED_HOSTS.
import { describe, expect, it } from 'vitest'
import { outboundPolicyWarnings } from '../../src/clients/registry.ts'

const warn = (uri: string, key = 'backchannel_logout_uri', allowed: string[] = []) => outboundPolicyWarnings({ [key]: uri }, allowed)

describe('outbound policy warnings', () => {
  it('warns for loopback, private, link-local and mapped addresses, and for localhost', async () => {
    for (const uri of ['https://10.1.2.3/bc', 'http://127.0.0.1:8080/bc', 'https://172.20.0.9/bc', 'https://192.168.1.1/bc', 'https://169.254.169.254/latest',
      'http://[::1]/bc', 'http://[fd00::1]/bc', 'http://[fe80::1]/bc', 'http://[::ffff:127.0.0.1]/bc', 'http://localhost:3000/bc', 'http://api.localhost/bc']) {
      const warnings = await warn(uri)
      expect(warnings, uri).toEqual([{ path: 'backchannelLogoutUri', message: expect.stringContaining('OUTBOUND_ALLOWED_HOSTS') }])
    }
    expect(await warn('https://10.0.0.7/jwks.json', 'jwks_uri')).toEqual([{ path: 'jwksUri', message: expect.stringContaining('10.0.0.7') }])
  })

  it('says nothing for public addresses and for hosts the policy allows', async () => {
    expect(await warn('https://93.184.216.34/bc')).toEqual([])
    expect(await warn('http://[2606:4700::1111]/bc')).toEqual([])
    expect(await warn('https://10.1.2.3/bc', 'backchannel_logout_uri', ['10.1.2.3'])).toEqual([])
    expect(await warn('http://[::1]:9/bc', 'backchannel_logout_uri', ['[::1]'])).toEqual([])
    expect(await warn('http://LOCALHOST:9/bc', 'backchannel_logout_uri', ['localhost'])).toEqual([])
    expect(await outboundPolicyWarnings({ redirect_uris: ['http://127.0.0.1/cb'] }, [])).toEqual([])
  })
})

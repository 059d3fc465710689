// FEDERATION / FEDERATION_FILE: defaults, and errors that name the entry and the field.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { mappedRoleNames } from '../../src/federation/role-sync.ts'
import { createFederation } from '../../src/federation/upstreams.ts'

const TID = '72f988bf-86f1-41af-91ab-2d7cd011db47'
const entra = { id: 'entra', type: 'entra', name: 'Microsoft', clientId: 'c', clientSecret: 's', tenant: 'organizations', allowedTenants: [TID] }

function errorOf(federation: unknown): string {
  try {
    loadConfig({ FEDERATION: JSON.stringify(federation) })
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return (err as Error).message
  }
  throw new Error('expected a ConfigError')
}

describe('FEDERATION', () => {
  it('is empty by default', () => {
    expect(loadConfig({}).federation).toEqual([])
  })

  it('applies the documented defaults', () => {
    const [u] = loadConfig({ FEDERATION: JSON.stringify([entra]) }).federation
    expect(u).toMatchObject({
      authority: 'https://login.microsoftonline.com', graphUrl: 'https://graph.microsoft.com', domains: [], claims: {}, roleMapping: {},
      jit: { enabled: false, tenant: 'default', roles: [] }, trustMfa: false, allowInsecureRequests: false,
    })
  })

  it('reads FEDERATION_FILE', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fed-'))
    const file = path.join(dir, 'federation.json')
    writeFileSync(file, JSON.stringify([{ id: 'corp', type: 'oidc', name: 'Corp', clientId: 'c', clientSecret: 's', issuer: 'https://id.corp.example/' }]))
    expect(loadConfig({ FEDERATION_FILE: file }).federation[0]).toMatchObject({ id: 'corp', issuer: 'https://id.corp.example' })
  })

  it('names the entry and the field of each problem', () => {
    expect(errorOf([{ ...entra, allowedTenants: undefined }])).toContain('FEDERATION[0] (entra).allowedTenants: required when tenant is "organizations"')
    expect(errorOf([{ ...entra, tenant: 'contoso' }])).toContain('FEDERATION[0] (entra).tenant:')
    expect(errorOf([entra, { ...entra, id: 'Bad Id' }])).toContain('FEDERATION[1] (Bad Id).id:')
    expect(errorOf([entra, entra])).toContain('FEDERATION[1] (entra).id: "entra" is used by another entry')
    expect(errorOf([{ ...entra, authority: 'http://127.0.0.1:1' }])).toContain('FEDERATION[0] (entra).authority: http:// needs "allowInsecureRequests": true')
    expect(errorOf([{ ...entra, allowedTenant: [TID] }])).toContain('FEDERATION[0] (entra)')
    expect(errorOf({})).toContain('FEDERATION: must be a JSON array')
  })

  it('refuses allowInsecureRequests in production', () => {
    expect(() => loadConfig({
      NODE_ENV: 'production', ISSUER: 'https://id.example', COOKIE_KEYS: 'k'.repeat(32), ENCRYPTION_KEYS: 'x',
      FEDERATION: JSON.stringify([{ ...entra, allowInsecureRequests: true }]),
    })).toThrow('FEDERATION[0] (entra).allowInsecureRequests: not allowed when NODE_ENV=production')
  })

  it('finds the upstream of an email domain or a domain hint, and maps roles', () => {
    const federation = createFederation(loadConfig({ FEDERATION: JSON.stringify([{ ...entra, domains: ['Contoso.com'] }]) }).federation)
    expect(federation.forEmail('Jo@CONTOSO.com')?.settings.id).toBe('entra')
    expect(federation.forEmail('contoso.com')).toBeUndefined()
    expect(federation.forDomain('contoso.com')?.settings.id).toBe('entra')
    expect(mappedRoleNames({ g1: 'admin', appRole: 'user', g2: 'admin' }, { groups: ['g1', 'g2', 'x'], roles: ['appRole'] })).toEqual(['admin', 'user'])
  })
})

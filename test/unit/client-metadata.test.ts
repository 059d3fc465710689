import { describe, expect, it } from 'vitest'
import { isFirstParty } from '../../src/oidc/client-metadata.ts'

describe('isFirstParty', () => {
  it('is true only when urn:iam:first_party is exactly true', () => {
    expect(isFirstParty({ client_id: 'app', 'urn:iam:first_party': true })).toBe(true)
  })

  it.each([
    ['false', { 'urn:iam:first_party': false }],
    ['the string "true"', { 'urn:iam:first_party': 'true' }],
    ['1', { 'urn:iam:first_party': 1 }],
    ['missing', { client_id: 'app' }],
    ['a similarly named property', { firstParty: true, first_party: true }],
  ])('is false when the flag is %s', (_label, client) => {
    expect(isFirstParty(client)).toBe(false)
  })

  it('is false for undefined and null clients', () => {
    expect(isFirstParty(undefined)).toBe(false)
    expect(isFirstParty(null)).toBe(false)
  })
})

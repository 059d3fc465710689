// How fresh the claims are. /me may answer one access token from a per-process copy of the account
// for up to USERINFO_ACCOUNT_TTL_MS (resource servers call it on every request they serve); a new
// token, and everything that signs a person in or issues tokens, reads the database, so a new
// sign-in shows a change at once, in its ID token and at /me.
import * as oidc from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIam, type IamInstance } from '../support/iam.ts'
import { ALICE, createFixtures } from '../support/fixtures.ts'
import { HttpBrowser } from '../support/browser.ts'
import { authorizeAndSignIn, discoverSpa } from '../support/code-flow.ts'
import { sleep } from '../support/processes.ts'
import { USERINFO_ACCOUNT_TTL_MS } from '../../src/oidc/account.ts'

describe('userinfo freshness (postgres-redis)', () => {
  let iam: IamInstance
  const rename = (displayName: string) => iam.withDatabase((prisma) => prisma.user.update({ where: { email: ALICE.email }, data: { displayName } }))

  async function signInTokens() {
    const spa = await discoverSpa(iam.issuer)
    // The name in the ID token too (claims parameter): ID tokens are made at sign-in, from the database.
    const { callback, verifier, state } = await authorizeAndSignIn(spa, new HttpBrowser(iam.issuer), 'openid profile', { claims: JSON.stringify({ id_token: { name: null } }) })
    const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier, expectedState: state })
    return { spa, tokens, sub: tokens.claims()!.sub }
  }

  beforeAll(async () => {
    iam = await createIam('postgres-redis')
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
  })
  afterAll(async () => {
    await iam?.close()
  })

  it('a new sign-in shows a changed name at once; /me shows it within its copy’s lifetime', async () => {
    await rename('Alice Before')
    const first = await signInTokens()
    expect(first.tokens.claims()!.name).toBe('Alice Before')
    expect((await oidc.fetchUserInfo(first.spa, first.tokens.access_token, first.sub)).name).toBe('Alice Before')

    await rename('Alice After')
    const changedAt = Date.now()
    // ID token and token response: read from the database, never from /me's copy.
    const second = await signInTokens()
    expect(second.tokens.claims()!.name).toBe('Alice After')
    expect((await oidc.fetchUserInfo(second.spa, second.tokens.access_token, second.sub)).name).toBe('Alice After')
    // /me: the copy it made above lasts USERINFO_ACCOUNT_TTL_MS at most.
    let name: unknown
    while (Date.now() - changedAt < USERINFO_ACCOUNT_TTL_MS + 3_000) {
      name = (await oidc.fetchUserInfo(first.spa, first.tokens.access_token, first.sub)).name
      if (name === 'Alice After') break
      await sleep(200)
    }
    expect(name).toBe('Alice After')
  })
})

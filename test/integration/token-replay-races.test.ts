// A code or a rotating refresh token presented twice means it leaked: the server refuses the
// replay and revokes what the grant gave (RFC 6749 §4.1.2 and §10.4; OAuth 2.0 Security BCP
// §4.14). Presented at the same moment, the replays race the one redemption that wins: whichever
// request notices the replay (in `find`, or when its `consume` is refused) must end the grant, and
// the winner's tokens, written a moment later, must not outlive that. Many rounds, since a race
// lost only sometimes is the bug.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, signIn } from '../support/browser.ts'
import { ALICE, SPA_REDIRECT, WEB_REDIRECT, WEB_SECRET, createFixtures } from '../support/fixtures.ts'
import { sleep } from '../support/processes.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }
const CODE_ROUNDS = 30
const REFRESH_ROUNDS = 20

interface TokenAnswer { status: number; json: { error?: string; access_token?: string; refresh_token?: string } }

describe.each(STORAGE_MODES)('replays raced at the token endpoint (%s)', (mode) => {
  let iam: IamInstance
  let spa: oidc.Configuration
  let web: oidc.Configuration
  const browser = () => sessionBrowser

  let sessionBrowser: HttpBrowser

  beforeAll(async () => {
    iam = await createIam(mode)
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
    spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
    web = await oidc.discovery(new URL(iam.issuer), 'web', WEB_SECRET, oidc.ClientSecretBasic(WEB_SECRET), insecure)
    sessionBrowser = new HttpBrowser(iam.issuer)
  })
  afterAll(async () => { await iam?.close() })

  /** A fresh code for `config` (the browser keeps its session: later rounds only consent). */
  async function codeFor(config: oidc.Configuration, redirectUri: string) {
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri, scope: 'openid offline_access', prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const callback = await signIn(browser(), url.href, { login: ALICE.email, password: ALICE.password })
    return { code: callback.searchParams.get('code')!, verifier }
  }

  function tokenRequest(params: Record<string, string>, authorization?: string): Promise<TokenAnswer> {
    return fetch(`${iam.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
      body: new URLSearchParams(params).toString(),
    }).then(async (r) => ({ status: r.status, json: await r.json() as TokenAnswer['json'] }))
  }

  const webAuth = `Basic ${Buffer.from(`web:${encodeURIComponent(WEB_SECRET)}`).toString('base64')}`

  it(`revokes every token a code gave when it is redeemed five times at once (${CODE_ROUNDS} rounds)`, async () => {
    const survivors: string[] = []
    for (let round = 0; round < CODE_ROUNDS; round++) {
      const { code, verifier } = await codeFor(web, WEB_REDIRECT)
      const params = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: WEB_REDIRECT }
      const answers = await Promise.all(Array.from({ length: 5 }, () => tokenRequest(params, webAuth)))
      expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(1)
      for (const a of answers) if (a.status !== 200) expect(a.json.error).toBe('invalid_grant')
      // Whatever the winner got (if it got anything) is worth nothing, once the requests are done.
      await sleep(200)
      for (const a of answers.filter((x) => x.status === 200)) {
        for (const token of [a.json.access_token, a.json.refresh_token]) {
          if (token && (await oidc.tokenIntrospection(web, token)).active) survivors.push(`round ${round}`)
        }
      }
    }
    expect(survivors).toEqual([])
  })

  it(`revokes every token of the grant when a rotating refresh token is used twice at once (${REFRESH_ROUNDS} rounds)`, async () => {
    const survivors: string[] = []
    for (let round = 0; round < REFRESH_ROUNDS; round++) {
      const { code, verifier } = await codeFor(spa, SPA_REDIRECT)
      const first = await tokenRequest({ grant_type: 'authorization_code', client_id: 'spa', code, code_verifier: verifier, redirect_uri: SPA_REDIRECT })
      expect(first.status).toBe(200)
      const refresh = { grant_type: 'refresh_token', client_id: 'spa', refresh_token: first.json.refresh_token! }
      const answers = await Promise.all([tokenRequest(refresh), tokenRequest(refresh)])
      expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(1)
      await sleep(200)
      // A public client cannot introspect: what a token is worth is what it does. An access token
      // that works at userinfo, or a refresh token that refreshes, survived.
      for (const a of [first, ...answers.filter((x) => x.status === 200)]) {
        const userinfo = await fetch(`${iam.issuer}/me`, { headers: { authorization: `Bearer ${a.json.access_token}` } })
        if (userinfo.status === 200) survivors.push(`round ${round}: access token`)
      }
      for (const a of answers.filter((x) => x.status === 200)) {
        const again = await tokenRequest({ ...refresh, refresh_token: a.json.refresh_token! })
        if (again.status === 200) survivors.push(`round ${round}: refresh token`)
      }
    }
    expect(survivors).toEqual([])
  })
})

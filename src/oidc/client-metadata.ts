// Our extra client metadata (stored in the Client table, exposed to oidc-provider as
// extraClientMetadata), the adapter-factory type shared by the stores, and what a disabled or
// deleted client's tokens are worth.
import type Provider from 'oidc-provider'
import type { Adapter } from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import { findClientTokenWindow, markClientTokensEnded } from '../queries/clients.ts'
import { listGrantIdsOfClient } from '../queries/user-grants.ts'
import { revokeGrant } from '../identity/sessions.ts'

export type AdapterFactory = (name: string) => Adapter

interface ClientLike { [key: string]: unknown }

/** First-party clients (our own apps) skip the consent page. */
export function isFirstParty(client: unknown): boolean {
  return (client as ClientLike | undefined)?.['urn:iam:first_party'] === true
}

/**
 * Whether a token issued to `clientId` at `iat` (seconds) may still be honoured: the client is
 * registered and enabled, the token is not older than the registration (a deleted client's id
 * registered again must not inherit its tokens), and not from before its last disable, so that
 * enabling a client again revives none of its old tokens. Read from the database on every call:
 * the provider's copy of a client may be a second old (oidc/adapters/client-registry.ts), and a
 * disable must count at once on every worker and instance.
 */
export async function clientStillHonours(prisma: Db, clientId: string | undefined, iat: number | undefined): Promise<boolean> {
  if (typeof iat !== 'number' || !clientId || clientId.includes('\u0000')) return false
  const client = await findClientTokenWindow(prisma, clientId)
  if (!client || client.disabled) return false
  // iat has whole seconds: a token of the second the client was created in stands, one of the
  // second it was disabled in does not.
  if (iat < Math.floor(client.createdAt.getTime() / 1000)) return false
  return !client.disabledAt || iat > Math.floor(client.disabledAt.getTime() / 1000)
}

/**
 * Ends what a client holds, when it is disabled or about to be deleted: records the moment (see
 * clientStillHonours) and revokes every grant given to it, with their refresh tokens, codes and
 * access tokens, in the shared store (so userinfo and refresh refuse them on every instance).
 * Client-credentials tokens belong to no grant: introspection refuses them by the recorded moment.
 */
export async function endClientTokens(prisma: Db, provider: Provider, clientId: string): Promise<void> {
  // The system clock, not the injected one: the moment is compared with tokens' iat, which the provider stamps from it.
  await markClientTokensEnded(prisma, clientId, new Date())
  for (const grantId of await listGrantIdsOfClient(prisma, clientId)) await revokeGrant(provider, grantId)
}

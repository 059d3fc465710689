// Our extra client metadata (stored in the Client table, exposed to oidc-provider as
// extraClientMetadata) and the adapter-factory type shared by the stores.
import type { Adapter } from 'oidc-provider'

export type AdapterFactory = (name: string) => Adapter

interface ClientLike { [key: string]: unknown }

/** First-party clients (our own apps) skip the consent page. */
export function isFirstParty(client: unknown): boolean {
  return (client as ClientLike | undefined)?.['urn:iam:first_party'] === true
}

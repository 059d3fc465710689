// The client settings as the console shows them: which grants and authentication methods a kind
// allows, and the words a newcomer reads next to each. The rules are the server's own table
// (src/clients/kinds.ts, which clientSettingsSchema enforces); the console offers only what they
// allow so a form cannot be filled in a way the API will refuse for a reason the person never saw.

// A client as the admin API answers (the one client model's settings plus what the server keeps
// about it): the API's own schemas, as every console type is (ADR 0241).
import type { ChangedClient, Client, ClientSecret, CreatedClient } from '../api.ts'

import { DEVICE_CODE, KIND_RULES } from '../../../clients/kinds.ts'

export type { ChangedClient, Client, CreatedClient }
export { DEVICE_CODE }
export type RotatedSecret = ClientSecret
export type Warning = NonNullable<CreatedClient['warnings']>[number]

export type Kind = Client['kind']

export const AUTHORIZATION_CODE = 'authorization_code'
export const REFRESH_TOKEN = 'refresh_token'
export const CLIENT_CREDENTIALS = 'client_credentials'
export type Grant = typeof AUTHORIZATION_CODE | typeof REFRESH_TOKEN | typeof CLIENT_CREDENTIALS | typeof DEVICE_CODE

export const KINDS: ReadonlyArray<{ value: Kind; label: string; hint: string }> = [
  { value: 'web', label: 'Web application (confidential)', hint: 'A server-side app that keeps a secret or a key: signs people in, may also call APIs as itself or use the device flow.' },
  { value: 'spa', label: 'Single-page application (public)', hint: 'Runs in the browser and cannot keep a secret: PKCE protects its sign-ins.' },
  { value: 'native', label: 'Native or command-line application (public)', hint: 'A desktop, mobile or CLI app (or a TV) without a secret: PKCE or the device flow.' },
  { value: 'service', label: 'Service (machine to machine)', hint: 'No person involved: gets tokens for itself with client credentials.' },
]

export const kindLabel = (kind: string) => KINDS.find((k) => k.value === kind)?.label ?? kind

/** What each grant is for, in the words shown next to its checkbox. */
export const GRANTS: ReadonlyArray<{ value: Grant; label: string; short: string; hint: string }> = [
  { value: AUTHORIZATION_CODE, label: 'Authorization code', short: 'code', hint: 'People sign in in a browser and are sent back to a redirect URI. Needs at least one redirect URI.' },
  { value: REFRESH_TOKEN, label: 'Refresh token', short: 'refresh', hint: 'Keeps a session going without asking the person again. Needs authorization code or device code.' },
  { value: CLIENT_CREDENTIALS, label: 'Client credentials', short: 'client credentials', hint: 'The app calls APIs as itself, with no person involved (its own secret or key).' },
  { value: DEVICE_CODE, label: 'Device code', short: 'device', hint: 'For TVs and CLIs without a browser: the person confirms a code on another device. Needs no redirect URI.' },
]

export const grantShort = (g: string) => GRANTS.find((x) => x.value === g)?.short ?? g

/** The grants a kind allows, and the ones a new client of that kind starts with. */
export const KIND_GRANTS = Object.fromEntries(Object.entries(KIND_RULES).map(([kind, rules]) =>
  [kind, { allowed: [...rules.grants], initial: [...rules.defaultGrants] }])) as Record<Kind, { allowed: Grant[]; initial: Grant[] }>

/** Confidential kinds authenticate at the token endpoint; public ones use `none`. */
export const isConfidential = (kind: Kind) => !KIND_RULES[kind].public

export const AUTH_METHODS = [
  { value: 'client_secret_basic', label: 'Client secret in the Authorization header (client_secret_basic)', hint: 'The usual choice; most libraries do this by default.' },
  { value: 'client_secret_post', label: 'Client secret in the request body (client_secret_post)', hint: 'For libraries and modules that send the secret as a form field.' },
  { value: 'private_key_jwt', label: 'Signed assertion with the client’s own key (private_key_jwt)', hint: 'No shared secret: the client signs a JWT with a private key; this server needs its public keys.' },
] as const

export const REQUEST_OBJECT_ALGS = ['ES256', 'RS256', 'PS256', 'EdDSA'] as const

export const ROTATION_CHOICES = [
  { seconds: 0, label: 'Stops working at once' },
  { seconds: 3600, label: 'Keeps working for 1 hour' },
  { seconds: 86_400, label: 'Keeps working for 1 day' },
  { seconds: 7 * 86_400, label: 'Keeps working for 7 days' },
] as const

/** A PKCE opt-out is the one setting the list flags on every row: it weakens sign-ins. */
export const pkceOff = (c: Pick<Client, 'requirePkce'>) => c.requirePkce === false

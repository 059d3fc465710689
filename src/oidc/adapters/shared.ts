// What both artifact stores (Redis and database) share: which models belong to a grant, the
// protocol errors a refused consume or a write for a revoked grant answer with, and how replays
// that race are handled.
//
// Replays: a code or a rotating refresh token presented again means it leaked, and the grant it
// came from is revoked with every token it gave (RFC 6749 §4.1.2, §10.4). oidc-provider does so
// when `find` shows the artifact consumed. Two presentations at the same moment can both find it
// unconsumed; `consume` then refuses all but the first, and the store revokes the grant itself on
// that refusal. The first presentation is meanwhile issuing its tokens: they may be written after
// the revocation ran. So every revocation leaves a tombstone for the grant (for
// GRANT_TOMBSTONE_SECONDS, far longer than a token request takes), and a write of the grant's
// artifacts (or of the Grant) that meets one is undone at once: a late write cannot bring a
// revoked grant's tokens back. The winner's response still goes out, as exactly one of N
// redemptions always did, but what it carries is inactive everywhere.
import { errors } from 'oidc-provider'

/** Models whose artifacts belong to a grant (tokens, codes; as oidc-provider's revoke helper lists them). */
export const GRANT_ARTIFACT_MODELS = [
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
] as const

export const GRANTABLE_MODELS: ReadonlySet<string> = new Set(GRANT_ARTIFACT_MODELS)

/** The grant ids a provider session holds, one per client it signed in to. */
export function grantIdsOf(session: { authorizations?: Record<string, { grantId?: string | undefined }> | undefined } | undefined): string[] {
  return Object.values(session?.authorizations ?? {}).flatMap((a) => (typeof a.grantId === 'string' ? [a.grantId] : []))
}

/** How long a revoked grant's tombstone refuses writes for it. */
export const GRANT_TOMBSTONE_SECONDS = 600

const CONSUMABLE_LABELS: Readonly<Record<string, string>> = {
  AuthorizationCode: 'authorization code',
  RefreshToken: 'refresh token',
  DeviceCode: 'device code',
  BackchannelAuthenticationRequest: 'backchannel authentication request',
  PreAuthorizedCode: 'pre-authorized code',
}

/**
 * The error `consume` throws when it did not change state: the artifact was consumed by someone
 * else first, or it is gone (expired, revoked). It is the protocol error the endpoint would have
 * answered had it seen that state in `find`, so the client gets a 400, never a 500.
 */
export function consumeRefused(model: string, reason: 'consumed' | 'missing'): errors.OIDCProviderError {
  if (model === 'PushedAuthorizationRequest') {
    return new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used')
  }
  const label = CONSUMABLE_LABELS[model] ?? model
  return new errors.InvalidGrant(reason === 'consumed' ? `${label} already consumed` : `${label} not found`)
}

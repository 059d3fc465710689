// What both artifact stores (Redis and database) share: which models belong to a grant, and the
// protocol error a refused consume answers with.
import { errors } from 'oidc-provider'

/** Models whose artifacts belong to a grant (same list as oidc-provider's memory adapter). */
export const GRANTABLE_MODELS: ReadonlySet<string> = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
])

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

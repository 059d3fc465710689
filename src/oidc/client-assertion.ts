// Bounds on private_key_jwt client assertions beyond what oidc-provider checks (RFC 7523 §3 leaves
// both to the server). An assertion is a bearer credential until it expires: oidc-provider accepts
// any expiry and an `aud` list that merely includes us, so a client's assertion made for (or stolen
// from) another server could be replayed here for as long as it says.
// - aud: this server only, every value: its issuer, its token endpoint, or the endpoint being
//   called (introspection, revocation, PAR authenticate clients the same way).
// - lifetime: exp at most five minutes ahead (plus the provider's clock tolerance), and when iat is
//   given, exp - iat at most five minutes.
import { errors, type KoaContextWithOIDC } from 'oidc-provider'

export const MAX_CLIENT_ASSERTION_LIFETIME = 300
// oidc-provider's default clockTolerance, which it applies to exp itself.
const CLOCK_TOLERANCE = 15

/** oidc-provider's assertJwtClientAuthClaimsAndHeader for this server's issuer. */
export function boundClientAssertion(issuer: string) {
  return async function assertClientAssertionBounds(ctx: KoaContextWithOIDC, claims: Record<string, unknown>): Promise<void> {
    const ours = new Set([issuer, `${issuer}/token`, `${issuer}${ctx.path}`])
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
    if (!audiences.every((aud) => typeof aud === 'string' && ours.has(aud))) {
      throw new errors.InvalidClientAuth('every audience (aud) of the client_assertion must be this server: its issuer identifier or the endpoint url')
    }
    const now = Math.floor(Date.now() / 1000)
    const { exp, iat } = claims
    if (typeof exp !== 'number' || exp > now + MAX_CLIENT_ASSERTION_LIFETIME + CLOCK_TOLERANCE) {
      throw new errors.InvalidClientAuth(`the client_assertion must expire within ${MAX_CLIENT_ASSERTION_LIFETIME} seconds`)
    }
    if (iat !== undefined && (typeof iat !== 'number' || exp - iat > MAX_CLIENT_ASSERTION_LIFETIME)) {
      throw new errors.InvalidClientAuth(`the client_assertion must not be valid for more than ${MAX_CLIENT_ASSERTION_LIFETIME} seconds (exp - iat)`)
    }
  }
}

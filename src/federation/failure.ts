// Why a federated sign-in did not complete. The reason is what the audit log records and what
// the interaction page explains; `details` adds non-secret facts (an OAuth error code, a tenant id,
// which check failed) and never tokens, codes or secrets.
export type FederationFailureReason =
  | 'upstream_error' // the upstream answered the authorization request with an error (access_denied…)
  | 'state_mismatch' // unknown, reused or foreign state; or the ID token's nonce is not ours
  | 'tenant_not_allowed' // an Entra tenant outside allowedTenants
  | 'issuer_mismatch' // the ID token (or the authorization response) names another issuer
  | 'token_invalid' // expired, wrong audience, bad signature, missing claims…
  | 'upstream_unreachable' // connect error, timeout, or a 5xx from the upstream
  | 'graph_failed' // Entra groups overage: Microsoft Graph did not answer
  | 'no_account' // nobody here, and no just-in-time provisioning
  | 'link_required' // a local account with that email exists: its password must be proven first
  | 'account_disabled' // the linked local account is disabled

export class FederationFailure extends Error {
  override name = 'FederationFailure'
  readonly reason: FederationFailureReason
  readonly details: Record<string, unknown>

  constructor(reason: FederationFailureReason, message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.reason = reason
    this.details = details
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/** The error and its causes, outermost first (openid-client wraps oauth4webapi's errors). */
function causes(err: unknown): Array<Record<string, unknown>> {
  const chain: Array<Record<string, unknown>> = []
  let current: unknown = err
  while (current && typeof current === 'object' && chain.length < 6) {
    chain.push(current as Record<string, unknown>)
    current = (current as { cause?: unknown }).cause
  }
  return chain
}

/** True for connection failures and timeouts (fetch's TypeError, AbortSignal.timeout, undici codes). */
export function isNetworkError(err: unknown): boolean {
  return causes(err).some((e) =>
    e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'OAUTH_TIMEOUT' || e.code === 'OAUTH_ABORT'
    || (typeof e.code === 'string' && NETWORK_CODES.has(e.code))
    || (e instanceof TypeError && e.message === 'fetch failed'))
}

/**
 * Maps what openid-client / oauth4webapi threw while redeeming a code into a failure reason. The
 * libraries do the checks; this only reads their error codes and the claim they name.
 */
export function classifyProtocolError(err: unknown): FederationFailure {
  if (err instanceof FederationFailure) return err
  const chain = causes(err)
  const codes = chain.map((e) => e.code).filter((c): c is string => typeof c === 'string')
  const claim = chain.map((e) => e.claim).find((c): c is string => typeof c === 'string')
  const message = (err as Error)?.message ?? String(err)

  if (isNetworkError(err)) return new FederationFailure('upstream_unreachable', message)
  const body = chain.find((e) => e.code === 'OAUTH_RESPONSE_BODY_ERROR')
  if (body) {
    const status = typeof body.status === 'number' ? body.status : undefined
    // A 5xx with an OAuth error body is still the upstream failing, not this sign-in being refused.
    if (status !== undefined && status >= 500) return new FederationFailure('upstream_unreachable', message, { status })
    return new FederationFailure('upstream_error', message, { error: safeCode(body.error), status })
  }
  if (codes.includes('OAUTH_RESPONSE_IS_NOT_CONFORM') || codes.includes('OAUTH_RESPONSE_IS_NOT_JSON')) {
    return new FederationFailure('upstream_unreachable', message)
  }
  if (codes.includes('OAUTH_JWT_CLAIM_COMPARISON_FAILED')) {
    if (claim === 'iss') return new FederationFailure('issuer_mismatch', message, { check: 'iss' })
    if (claim === 'nonce') return new FederationFailure('state_mismatch', message, { check: 'nonce' })
    return new FederationFailure('token_invalid', message, { check: claim })
  }
  if (/"iss" \(issuer\) response parameter/.test(message)) return new FederationFailure('issuer_mismatch', message, { check: 'iss_parameter' })
  if (/"state" response parameter/.test(message)) return new FederationFailure('state_mismatch', message, { check: 'state' })
  if (codes.includes('OAUTH_JWT_TIMESTAMP_CHECK_FAILED')) return new FederationFailure('token_invalid', message, { check: claim ?? 'timestamp' })
  return new FederationFailure('token_invalid', message, codes[0] ? { check: codes.at(-1) } : {})
}

/** An OAuth error code as it may be shown and recorded (RFC 6749 §5.2 characters, bounded). */
export function safeCode(value: unknown): string | undefined {
  return typeof value === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(value) ? value : undefined
}

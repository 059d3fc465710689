// Audit rows for what happens inside the provider's own endpoints, from the events it emits:
// refused token requests (a wrong client secret, a reused refresh token, a client-credentials
// request for a scope or resource the client may not have…).
import type { Context } from 'koa'
import type Provider from 'oidc-provider'
import type { AuditWriter } from './audit.ts'

interface OidcError { error?: string; error_description?: string; status?: number }

export function auditProviderEvents(provider: Provider, audit: AuditWriter): void {
  provider.on('grant.error', (ctx: Context, err: OidcError) => {
    const oidc = ctx.oidc as { client?: { clientId: string }; params?: Record<string, unknown>; body?: Record<string, unknown> } | undefined
    const grantType = typeof oidc?.params?.grant_type === 'string' ? oidc.params.grant_type : undefined
    // Emitted from the error handler: the response is already decided, the write must not throw.
    void audit.record(ctx, {
      type: 'token_request',
      outcome: 'failure',
      clientId: oidc?.client?.clientId ?? clientIdOf(ctx, oidc?.body),
      details: { grantType, error: err.error, description: err.error_description },
    })
  })
}

/** The client a refused request claimed to be (its authentication may be what failed). */
function clientIdOf(ctx: Context, body: Record<string, unknown> | undefined): string | undefined {
  if (typeof body?.client_id === 'string') return body.client_id.slice(0, 200)
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(ctx.get('authorization'))
  if (!basic) return undefined
  const user = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':')[0]
  try {
    return user ? decodeURIComponent(user).slice(0, 200) : undefined
  } catch {
    return undefined
  }
}

// Audit rows for what happens inside the provider's own endpoints, from the events it emits:
// refused token requests (a wrong client secret, a reused refresh token, a client-credentials
// request for a scope or resource the client may not have…) and back-channel logout notices that
// did not reach a client (its application keeps a session the person ended).
import type { Context } from 'koa'
import type Provider from 'oidc-provider'
import type { AuditWriter } from './audit.ts'
import type { Logger } from '../observability/logger.ts'
import { providerBody, providerClientId, providerParams } from '../oidc/provider-internals.ts'
import { basicClientId } from '../oidc/basic-client-id.ts'

interface OidcError { error?: string; error_description?: string; status?: number }

export function auditProviderEvents(provider: Provider, audit: AuditWriter, logger?: Logger): void {
  provider.on('grant.error', (ctx: Context, err: OidcError) => {
    const grantType = providerParams(ctx)?.grant_type
    // Emitted from the error handler: the response is already decided, the write must not throw.
    void audit.record(ctx, {
      type: 'token_request',
      outcome: 'failure',
      clientId: providerClientId(ctx) ?? clientIdOf(ctx, providerBody(ctx)),
      details: { grantType: typeof grantType === 'string' ? grantType : undefined, error: err.error, description: err.error_description },
    })
  })

  // Emitted once per client whose back_channel_logout_uri could not be told (refused by the
  // outbound policy, unreachable, or not answering 200). The URI is named by origin only: its path
  // or query may carry a secret of the client's.
  provider.on('backchannel.error', (ctx: Context, err: Error, client: { clientId: string; backchannelLogoutUri?: string }, accountId: string | undefined, sid: string | undefined) => {
    const origin = client.backchannelLogoutUri ? URL.parse(client.backchannelLogoutUri)?.origin : undefined
    const reason = withoutUrls(String(err?.message ?? err)).slice(0, 300)
    logger?.warn({ clientId: client.clientId, origin, reason, reqId: ctx?.state?.requestId }, 'back-channel logout failed: the client was not told that the session ended')
    void audit.record(ctx, {
      type: 'backchannel_logout',
      outcome: 'failure',
      clientId: client.clientId,
      userId: accountId,
      details: { origin, reason, sid },
    })
  })
}

/** An error message with every URL in it cut down to its origin. */
function withoutUrls(message: string): string {
  return message.replace(/\bhttps?:\/\/[^\s'"<>]+/gi, (url) => URL.parse(url)?.origin ?? '[url]')
}

/** The client a refused request claimed to be (its authentication may be what failed). */
function clientIdOf(ctx: Context, body: Record<string, unknown> | undefined): string | undefined {
  if (typeof body?.client_id === 'string') return body.client_id.slice(0, 200)
  return basicClientId(ctx.get('authorization'))?.slice(0, 200)
}

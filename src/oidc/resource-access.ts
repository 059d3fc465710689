// Which scopes of a resource server a client, and the person it acts for, may hold. oidc-provider
// asks getResourceServerInfo at every step that issues something for a resource (the authorization
// request and its resume, the code, refresh and device-code redemptions, client credentials) and
// drops requested scopes the answer does not list: from the consent prompt, the grant and the
// token alike. So the rules below hold at issuance, whatever a grant stored earlier says, whatever
// a client's registration claims, and whatever the person consented to.
//
// - The admin API: a person's token only through the admin console's own client (its registered
//   redirect URI unchanged); a service's (client credentials) only when its registration lists
//   admin permissions (urn:iam:admin_permissions), and only those. Any other client is refused
//   with `invalid_target`: RFC 8707 §2 names it for a resource the server "does not consider
//   acceptable", which says what is wrong (the resource, for this client) better than
//   access_denied (the person's decision) or invalid_scope (no scope of it would do).
// - Every resource server: its scopes that are permissions (roles carry them) are granted to a
//   person only if one of their roles carries them now; other scopes are not affected. Asking for
//   more is not an error: the token holds the intersection and its `scope` says so (RFC 6749 §3.3).
// Why these rules and their costs: docs/adr/0110-admin-api-tokens-at-issuance.md.
import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import { findClientMetadataColumn } from '../queries/clients.ts'
import { registeredResourceServer } from './resource-servers.ts'
import { EXTRA } from '../clients/settings.ts'
import { providerSession } from './provider-internals.ts'
import { permissionsOf } from '../identity/roles.ts'
import { adminResource, clientAdminPermissions, isAdminPermission } from '../admin/permissions.ts'
import { ADMIN_CONSOLE_CLIENT_ID, adminConsoleRedirectUri } from '../admin/console-client.ts'

interface ClientLike { clientId: string; redirectUris?: readonly string[] | undefined; [metadata: string]: unknown }

/** The client is the admin console as it registers itself at start (src/admin/console-client.ts). */
function isAdminConsole(client: ClientLike, issuer: string): boolean {
  const uris = client.redirectUris ?? []
  return client.clientId === ADMIN_CONSOLE_CLIENT_ID && uris.length === 1 && uris[0] === adminConsoleRedirectUri(issuer)
}

/** Client credentials: the client acts for itself; every other issuance acts for a person. */
function isClientCredentials(ctx: KoaContextWithOIDC): boolean {
  return ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials'
}

/**
 * The person the issuance is for: the account of the code or token being redeemed at the token
 * endpoint, else the session's (authorization request, its resume, device confirmation). Unknown
 * before anyone signed in: the request is then checked again on its resume.
 */
function personOf(ctx: KoaContextWithOIDC): string | undefined {
  const { RefreshToken, AuthorizationCode, DeviceCode } = ctx.oidc.entities
  const source = RefreshToken ?? AuthorizationCode ?? DeviceCode
  if (source) return source.accountId
  return providerSession(ctx)?.accountId
}

const denied = () => new errors.InvalidTarget('this client may not obtain access tokens for this resource')

/** getResourceServerInfo: the registered resource server, its scopes narrowed to what this client and person may hold. */
export async function resourceServerFor(prisma: Db, ctx: KoaContextWithOIDC, indicator: string, client: ClientLike): Promise<ResourceServer> {
  const { info, permissionScopes } = await registeredResourceServer(prisma, indicator)
  let scopes = info.scope.split(' ').filter(Boolean)
  let gated = permissionScopes
  const issuer = ctx.oidc.provider.issuer

  if (indicator === adminResource(issuer)) {
    gated = new Set(scopes.filter(isAdminPermission))
    if (isClientCredentials(ctx)) {
      const registered = new Set<string>(clientAdminPermissions(await findClientMetadataColumn(prisma, client.clientId)))
      if (registered.size === 0) throw denied()
      scopes = scopes.filter((s) => registered.has(s))
    } else if (!isAdminConsole(client, issuer)) {
      throw denied()
    }
  }

  const person = isClientCredentials(ctx) ? undefined : personOf(ctx)
  if (person && gated.size > 0) {
    const held = await permissionsOf(prisma, person)
    scopes = scopes.filter((s) => !gated.has(s) || held.has(s))
  }
  // A client may ask for its tokens in one format (its registration, src/clients/settings.ts), for
  // every resource server but the admin API, which verifies its JWTs itself.
  const format = client[EXTRA.accessTokenFormat]
  const accessTokenFormat = (format === 'jwt' || format === 'opaque') && indicator !== adminResource(issuer) ? format : info.accessTokenFormat
  return { ...info, accessTokenFormat, ...(accessTokenFormat === 'jwt' && !info.jwt ? { jwt: { sign: { alg: 'ES256' } } } : {}), scope: scopes.join(' ') }
}

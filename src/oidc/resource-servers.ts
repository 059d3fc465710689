// RFC 8707 resource indicators: registered APIs get JWT (or opaque) access tokens with their
// audience and scopes; anything else is `invalid_target`.
import { errors, type ResourceServer } from 'oidc-provider'
import type { Db } from '../queries/db.ts'
import { ensureResourceServer, findResourceServer } from '../queries/resource-servers.ts'
import { createRecentReads } from '../store/recent-reads.ts'
import { permissionsAmong } from '../identity/roles.ts'

/** A registered resource server as oidc-provider takes it, and which of its scopes are permissions. */
export interface RegisteredResourceServer {
  info: ResourceServer & { scope: string }
  /** Its scopes that are permissions (roles carry them): a person holds them only through a role. */
  permissionScopes: ReadonlySet<string>
}

// Resource servers change rarely and are read on every token request: keep them briefly. The
// indicator comes from the request, so unregistered ones are kept too, within the bound.
const cache = createRecentReads<RegisteredResourceServer | null>({ ttlMs: 5_000, maxEntries: 1_000 })

/** The resource server `indicator` names, as registered; `invalid_target` when it is not. */
export async function registeredResourceServer(prisma: Db, indicator: string): Promise<RegisteredResourceServer> {
  let registered = cache.get(indicator)?.value
  if (registered === undefined) {
    const row = await findResourceServer(prisma, indicator)
    registered = row
      ? {
          info: {
            scope: row.scopes,
            audience: row.identifier,
            accessTokenTTL: row.accessTokenTtl,
            accessTokenFormat: row.accessTokenFormat === 'opaque' ? 'opaque' : 'jwt',
            ...(row.accessTokenFormat === 'opaque' ? {} : { jwt: { sign: { alg: 'ES256' } } }),
          },
          permissionScopes: await permissionsAmong(prisma, row.scopes.split(' ').filter(Boolean)),
        }
      : null
    cache.set(indicator, registered)
  }
  if (!registered) throw new errors.InvalidTarget(`resource indicator is not registered: ${indicator}`)
  return registered
}

export async function registerResourceServer(prisma: Db, input: { identifier: string; name: string; scopes?: string[]; format?: 'jwt' | 'opaque'; ttl?: number }) {
  cache.delete(input.identifier)
  return ensureResourceServer(prisma, {
    identifier: input.identifier,
    name: input.name,
    scopes: (input.scopes ?? []).join(' '),
    accessTokenFormat: input.format ?? 'jwt',
    accessTokenTtl: input.ttl ?? 3600,
  })
}

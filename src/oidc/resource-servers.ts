// RFC 8707 resource indicators: registered APIs get JWT (or opaque) access tokens with their
// audience and scopes; anything else is `invalid_target`.
import { errors, type ResourceServer } from 'oidc-provider'
import type { PrismaClient } from '../store/database.ts'
import { createRecentReads } from '../store/recent-reads.ts'

// Resource servers change rarely and are read on every token request: keep them briefly. The
// indicator comes from the request, so unregistered ones are kept too, within the bound.
const cache = createRecentReads<ResourceServer | null>({ ttlMs: 5_000, maxEntries: 1_000 })

export async function resourceServerInfo(prisma: PrismaClient, indicator: string): Promise<ResourceServer> {
  let info = cache.get(indicator)?.value
  if (info === undefined) {
    const row = await prisma.resourceServer.findUnique({ where: { identifier: indicator } })
    info = row
      ? {
          scope: row.scopes,
          audience: row.identifier,
          accessTokenTTL: row.accessTokenTtl,
          accessTokenFormat: row.accessTokenFormat === 'opaque' ? 'opaque' : 'jwt',
          ...(row.accessTokenFormat === 'opaque' ? {} : { jwt: { sign: { alg: 'ES256' } } }),
        }
      : null
    cache.set(indicator, info)
  }
  if (!info) throw new errors.InvalidTarget(`resource indicator is not registered: ${indicator}`)
  return info
}

export async function registerResourceServer(prisma: PrismaClient, input: { identifier: string; name: string; scopes?: string[]; format?: 'jwt' | 'opaque'; ttl?: number }) {
  cache.delete(input.identifier)
  return prisma.resourceServer.upsert({
    where: { identifier: input.identifier },
    update: {},
    create: {
      identifier: input.identifier,
      name: input.name,
      scopes: (input.scopes ?? []).join(' '),
      accessTokenFormat: input.format ?? 'jwt',
      accessTokenTtl: input.ttl ?? 3600,
    },
  })
}

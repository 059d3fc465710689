// The people, clients and APIs the integration tests use, created through the same domain
// functions the CLI uses.
import type { PrismaClient } from '../../src/generated/prisma/client.ts'
import { createUser } from '../../src/identity/users.ts'
import { assignRole, ensureRole } from '../../src/identity/roles.ts'
import { createClient } from '../../src/clients/registry.ts'
import { registerResourceServer } from '../../src/oidc/resource-servers.ts'

export const ALICE = { email: 'alice@example.test', username: 'alice', password: 'correct horse battery staple' }
/** Has a one-time password (as the seeded admin does): must choose a new one at first sign-in. */
export const ONE_TIME = { email: 'otto@example.test', username: 'otto', password: 'one-time-password-123' }
export const DISABLED = { email: 'dora@example.test', username: 'dora', password: 'another long passphrase' }
/** A secret with every character RPs must URL-encode for client_secret_basic. */
export const WEB_SECRET = 'web-secret:with%percent+plus-and:colons-0123456789'
export const SERVICE_SECRET = 'service-secret-0123456789-0123456789-abcdef'
export const API = 'https://api.example.test'
export const OPAQUE_API = 'https://opaque.example.test'
export const SPA_REDIRECT = 'http://localhost:5173/callback'
export const WEB_REDIRECT = 'http://localhost:8080/callback'
export const WEB_POST_LOGOUT = 'http://localhost:8080/signed-out'

export async function createFixtures(prisma: PrismaClient, opts: { backchannelLogoutUri?: string } = {}): Promise<void> {
  const userRole = await ensureRole(prisma, 'user', [])
  const alice = await createUser(prisma, { ...ALICE, displayName: 'Alice Example', emailVerified: true })
  await assignRole(prisma, alice.id, userRole.id)
  // Verified: made by an administrator, who vouches for the address (as `user create` and seed do).
  await createUser(prisma, { ...ONE_TIME, passwordExpired: true, emailVerified: true })
  const dora = await createUser(prisma, DISABLED)
  await prisma.user.update({ where: { id: dora.id }, data: { status: 'disabled' } })

  await registerResourceServer(prisma, { identifier: API, name: 'Test API', scopes: ['read', 'write'] })
  await registerResourceServer(prisma, { identifier: OPAQUE_API, name: 'Opaque API', scopes: ['read'], format: 'opaque' })

  await createClient(prisma, { clientId: 'spa', name: 'Test SPA', kind: 'spa', redirectUris: [SPA_REDIRECT], postLogoutRedirectUris: ['http://localhost:5173/'] })
  await createClient(prisma, {
    clientId: 'web', name: 'Test Web App', kind: 'web', secret: WEB_SECRET,
    redirectUris: [WEB_REDIRECT], postLogoutRedirectUris: [WEB_POST_LOGOUT],
    ...(opts.backchannelLogoutUri ? { backchannelLogoutUri: opts.backchannelLogoutUri } : {}),
  })
  await createClient(prisma, { clientId: 'first', name: 'First-party App', kind: 'spa', firstParty: true, redirectUris: ['http://localhost:4000/callback'] })
  await createClient(prisma, { clientId: 'svc', name: 'Test Service', kind: 'service', secret: SERVICE_SECRET })
}

// First-run data: the admin role and user, and one example client of each kind.
import type { Db } from './queries/db.ts'
import { clientIdTaken } from './queries/clients.ts'
import { findUserByEmail } from './queries/users.ts'
import { createUser } from './identity/users.ts'
import { assignRole, ensureRole } from './identity/roles.ts'
import { ensureDefaultTenant } from './identity/tenants.ts'
import { createClient, type NewClient } from './clients/registry.ts'
import { registerResourceServer } from './oidc/resource-servers.ts'
import { randomSecret } from './security/secrets.ts'
import { ADMIN_PERMISSIONS } from './admin/permissions.ts'

// The admin API's permissions are defined once, in admin/permissions.ts.
export { ADMIN_PERMISSIONS } from './admin/permissions.ts'

export const EXAMPLE_API = 'https://api.example.com'

/** What seeding did, line by line; `secret` lines carry a one-time password or a client secret. */
export type SeedReport = Array<{ text: string; secret?: true }>

export async function seed(prisma: Db, opts: { issuer: string; adminEmail?: string | undefined }): Promise<SeedReport> {
  const lines: SeedReport = []
  const say = (text: string) => lines.push({ text })
  await ensureDefaultTenant(prisma)
  const adminRole = await ensureRole(prisma, 'admin', ADMIN_PERMISSIONS, 'Full administrative access')
  await ensureRole(prisma, 'user', [], 'Signed-in person')
  await registerResourceServer(prisma, { identifier: EXAMPLE_API, name: 'Example API', scopes: ['read', 'write'] })

  const email = (opts.adminEmail ?? 'admin@example.com').toLowerCase()
  if (await findUserByEmail(prisma, email)) {
    say(`admin ${email} already exists (password unchanged)`)
  } else {
    const password = randomSecret(15)
    // A one-time password: the admin chooses their own at the first sign-in.
    const admin = await createUser(prisma, { email, username: 'admin', displayName: 'Administrator', password, emailVerified: true, passwordExpired: true })
    await assignRole(prisma, admin.id, adminRole.id)
    say(`admin user: ${email} (username: admin)`)
    lines.push({ text: `admin one-time password (shown once; you choose a new one at first sign-in): ${password}`, secret: true })
  }

  const examples: NewClient[] = [
    { clientId: 'example-web', name: 'Example web app', kind: 'web', redirectUris: ['http://localhost:8080/callback'], postLogoutRedirectUris: ['http://localhost:8080/'] },
    { clientId: 'example-spa', name: 'Example SPA', kind: 'spa', redirectUris: ['http://localhost:5173/callback'], postLogoutRedirectUris: ['http://localhost:5173/'] },
    { clientId: 'example-service', name: 'Example service', kind: 'service' },
  ]
  for (const example of examples) {
    if (await clientIdTaken(prisma, example.clientId!)) {
      say(`client ${example.clientId} already exists`)
      continue
    }
    const created = await createClient(prisma, example)
    say(`client ${created.clientId} (${example.kind})`)
    if (created.clientSecret) lines.push({ text: `client ${created.clientId} secret (shown once): ${created.clientSecret}`, secret: true })
  }
  say(`example API (resource indicator): ${EXAMPLE_API} scopes: read write`)
  say(`sign in at ${opts.issuer}/ through a client, e.g. example-spa`)
  return lines
}

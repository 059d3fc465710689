// First-run data: the admin role and user, and one example client of each kind.
import type { PrismaClient } from './store/database.ts'
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

export async function seed(prisma: PrismaClient, opts: { issuer: string; adminEmail?: string | undefined }): Promise<string> {
  const lines: string[] = []
  await ensureDefaultTenant(prisma)
  const adminRole = await ensureRole(prisma, 'admin', ADMIN_PERMISSIONS, 'Full administrative access')
  await ensureRole(prisma, 'user', [], 'Signed-in person')
  await registerResourceServer(prisma, { identifier: EXAMPLE_API, name: 'Example API', scopes: ['read', 'write'] })

  const email = (opts.adminEmail ?? 'admin@example.com').toLowerCase()
  if (await prisma.user.findUnique({ where: { email } })) {
    lines.push(`admin ${email} already exists (password unchanged)`)
  } else {
    const password = randomSecret(15)
    // A one-time password: the admin chooses their own at the first sign-in.
    const admin = await createUser(prisma, { email, username: 'admin', displayName: 'Administrator', password, emailVerified: true, passwordExpired: true })
    await assignRole(prisma, admin.id, adminRole.id)
    lines.push(`admin user: ${email} (username: admin)`, `admin one-time password (shown once; you choose a new one at first sign-in): ${password}`)
  }

  const examples: NewClient[] = [
    { clientId: 'example-web', name: 'Example web app', kind: 'web', redirectUris: ['http://localhost:8080/callback'], postLogoutRedirectUris: ['http://localhost:8080/'] },
    { clientId: 'example-spa', name: 'Example SPA', kind: 'spa', redirectUris: ['http://localhost:5173/callback'], postLogoutRedirectUris: ['http://localhost:5173/'] },
    { clientId: 'example-service', name: 'Example service', kind: 'service' },
  ]
  for (const example of examples) {
    if (await prisma.client.findUnique({ where: { id: example.clientId! } })) {
      lines.push(`client ${example.clientId} already exists`)
      continue
    }
    const created = await createClient(prisma, example)
    lines.push(`client ${created.clientId} (${example.kind})${created.clientSecret ? ` secret (shown once): ${created.clientSecret}` : ''}`)
  }
  lines.push(`example API (resource indicator): ${EXAMPLE_API} scopes: read write`, `sign in at ${opts.issuer}/ through a client, e.g. example-spa`)
  return lines.join('\n')
}

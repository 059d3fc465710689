// The admin console (src/admin/console, served at /admin) is a public client of this same server:
// authorization code + PKCE from the browser, first-party (no consent page), tokens for the admin
// API resource. Registered (or refreshed, when ISSUER changed) at every start, as the account
// area's client is (src/account/relying-party.ts).
import type { PrismaClient } from '../store/database.ts'

export const ADMIN_CONSOLE_CLIENT_ID = 'admin-console'

export function adminConsoleRedirectUri(issuer: string): string {
  return `${issuer}/admin/callback`
}
export function adminConsolePostLogoutUri(issuer: string): string {
  return `${issuer}/admin/`
}

export async function ensureAdminConsoleClient(prisma: PrismaClient, issuer: string): Promise<void> {
  const metadata = {
    client_name: 'Admin console',
    application_type: 'web',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [adminConsoleRedirectUri(issuer)],
    post_logout_redirect_uris: [adminConsolePostLogoutUri(issuer)],
    token_endpoint_auth_method: 'none',
  }
  await prisma.client.upsert({
    where: { id: ADMIN_CONSOLE_CLIENT_ID },
    update: { metadata, firstParty: true },
    create: { id: ADMIN_CONSOLE_CLIENT_ID, name: 'Admin console', metadata, firstParty: true },
  })
}

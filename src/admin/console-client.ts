// The admin console (src/admin/console, served at /admin) is a public client of this same server:
// authorization code + PKCE from the browser, first-party (no consent page), tokens for the admin
// API resource. Registered (or refreshed, when ISSUER changed) at every start, as the account
// area's client is (clients/first-party.ts).
import type { Db } from '../queries/db.ts'
import { BUILT_IN_CLIENTS, ensureFirstPartyClient } from '../clients/first-party.ts'

export const ADMIN_CONSOLE_CLIENT_ID = BUILT_IN_CLIENTS.adminConsole

export function adminConsoleRedirectUri(issuer: string): string {
  return `${issuer}/admin/callback`
}
export function adminConsolePostLogoutUri(issuer: string): string {
  return `${issuer}/admin/`
}

export async function ensureAdminConsoleClient(prisma: Db, issuer: string): Promise<void> {
  await ensureFirstPartyClient(prisma, {
    id: ADMIN_CONSOLE_CLIENT_ID, name: 'Admin console', redirectUri: adminConsoleRedirectUri(issuer), postLogoutRedirectUri: adminConsolePostLogoutUri(issuer),
  })
}

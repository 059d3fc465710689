// Renders the server-side pages in interactions/. Eta escapes every `<%= %>` value; raw output
// (`<%~ %>`) is used only for markup we build ourselves (the layout body, provider-made forms).
import path from 'node:path'
import { Eta } from 'eta'

const templatesDir = path.resolve(import.meta.dirname, '../../interactions')

const eta = new Eta({ views: templatesDir, autoEscape: true, cache: process.env.NODE_ENV !== 'development', useWith: false })

export interface PageContext {
  /** Shown in the title and header. */
  siteName: string
  /** Value for the hidden CSRF field of every form on the page. */
  csrfToken?: string
  /** This response's CSP nonce, for the page's script tag (src/app.ts sets it per request). */
  nonce?: string
}

export type PageName =
  | 'login' | 'consent' | 'error' | 'logout' | 'logged-out'
  | 'device-input' | 'device-confirm' | 'device-success'
  | 'account' | 'account-signed-out' | 'change-password'
  | 'mfa-choose' | 'mfa-code' | 'mfa-enrol' | 'mfa-enrol-totp' | 'mfa-backup-codes'
  | 'account-security' | 'account-security-totp' | 'account-security-channel' | 'account-security-code' | 'account-security-backup-codes'
  | 'mfa-webauthn' | 'account-passkey-new'
  | 'federation-error' | 'federation-link' | 'account-linked'
  | 'account-sessions' | 'account-password' | 'account-apps'
  | 'register' | 'forgot-password' | 'reset-password' | 'verify-email' | 'notice'

export function renderPage(name: PageName, page: PageContext, data: Record<string, unknown> = {}): string {
  return eta.render(name, { ...data, page })
}

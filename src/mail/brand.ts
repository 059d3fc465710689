// Whose name, logo and colour an email carries. For now every message carries the site's
// (SITE_NAME) with no logo and the default colour; per-tenant branding replaces brandOf() by a
// lookup of the recipient's tenant, and nothing else in the mail code has to change.

export interface Brand {
  /** Shown as the heading of every email and, in messages, as a proper noun (no article). */
  name: string
  /** An absolute https URL of a logo image; the email shows `name` as text without one. */
  logoUrl?: string | undefined
  /** The button and heading colour: dark enough for white text on it (WCAG AA, 4.5:1). */
  colour: string
}

/** #1d4ed8 on white and white on it: 6.7:1. */
export const DEFAULT_BRAND_COLOUR = '#1d4ed8'

export function brandOf(siteName: string): Brand {
  return { name: siteName, colour: DEFAULT_BRAND_COLOUR }
}

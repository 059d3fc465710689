// The language of a message that leaves the server (an email, an SMS, a WhatsApp text): the
// person's saved preference (User.locale) when we know who they are, else the language of the
// page whose request made us send it (src/i18n/request.ts), else DEFAULT_LOCALE. The saved
// preference wins over the page because the message may be read later, elsewhere, and the
// person chose that language for everything we say to them.
import type { Context } from 'koa'
import type { Db } from '../queries/db.ts'
import { findUserLocale } from '../queries/users.ts'
import { defaultLocale } from './catalogs.ts'
import type { Locale } from './locales.ts'
import { localeOfTag } from './negotiate.ts'
import { localeOfRequest } from './request.ts'

/** The first of the saved preference and the request's locale that we have, else DEFAULT_LOCALE. */
export function messageLocale(saved: string | null | undefined, requested?: Locale | undefined): Locale {
  return (saved ? localeOfTag(saved) : undefined) ?? requested ?? defaultLocale()
}

/** The language to write to the account `userId` in, while answering `ctx` (if any). */
export async function recipientLocale(ctx: Context | undefined, prisma: Db, userId: string): Promise<Locale> {
  return messageLocale(await findUserLocale(prisma, userId), ctx ? localeOfRequest(ctx) : undefined)
}

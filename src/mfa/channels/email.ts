// One-time codes by email, through the server's one mail transport (src/mail/mailer.ts), in the
// recipient's language (the `email` catalog area) as plain text and HTML.
import { translator } from '../../i18n/catalogs.ts'
import type { Locale } from '../../i18n/locales.ts'
import { brandOf, type Brand } from '../../mail/brand.ts'
import { spellDuration } from '../../i18n/durations.ts'
import { renderEmail } from '../../mail/email-layout.ts'
import type { Mailer } from '../../mail/mailer.ts'

export interface EmailChannel {
  /** `locale`: src/i18n/recipient-locale.ts. */
  sendCode(to: string, code: string, purpose: 'sign-in' | 'confirm', locale: Locale): Promise<void>
}

export function createEmailChannel(mailer: Mailer, siteName: string, codeTtlSeconds: number, brand: Brand = brandOf(siteName)): EmailChannel {
  return {
    async sendCode(to, code, purpose, locale) {
      const i18n = translator(locale)
      const site = brand.name
      await mailer.send({
        to,
        ...renderEmail(i18n, brand, {
          subject: i18n.t('email.code.subject', { code, site }),
          lead: [purpose === 'sign-in' ? i18n.t('email.code.signIn', { site }) : i18n.t('email.code.confirm', { email: to, site })],
          code,
          after: [i18n.t('email.code.expires', { duration: spellDuration(codeTtlSeconds, locale) }), purpose === 'sign-in' ? i18n.t('email.code.notYouSignIn') : i18n.t('email.code.notYouConfirm')],
        }),
      })
    },
  }
}

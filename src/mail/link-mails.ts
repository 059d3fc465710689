// The self-service emails: what each says, and the link it carries, in the recipient's language
// (src/i18n/recipient-locale.ts) from the `email` catalog area, as plain text and HTML
// (email-layout.ts). The site's name is a proper noun in every message ("for Identity", never
// "a Identity account").
import { translator } from '../i18n/catalogs.ts'
import type { Locale } from '../i18n/locales.ts'
import { brandOf, type Brand } from './brand.ts'
import { spellDuration } from '../i18n/durations.ts'
import { renderEmail } from './email-layout.ts'
import type { MailMessage } from './mailer.ts'

export interface LinkMailContext {
  siteName: string
  /** The public issuer URL: links point there. */
  issuer: string
  /** Name, logo and colour (default: the site's, brandOf(siteName)). */
  brand?: Brand | undefined
}

export function selfServiceUrl(issuer: string, path: string, token?: string): string {
  const url = new URL(`/self-service/${path}`, issuer)
  if (token) url.searchParams.set('token', token)
  return url.href
}

const brandOfContext = (c: LinkMailContext) => c.brand ?? brandOf(c.siteName)

export function verificationMail(c: LinkMailContext, to: string, token: string, ttlSeconds: number, locale: Locale): MailMessage {
  const i18n = translator(locale)
  const brand = brandOfContext(c)
  const site = brand.name
  return {
    to,
    ...renderEmail(i18n, brand, {
      subject: i18n.t('email.verify.subject', { site }),
      lead: [i18n.t('email.verify.lead', { email: to, site })],
      action: { label: i18n.t('email.verify.action'), url: selfServiceUrl(c.issuer, 'verify-email', token) },
      after: [i18n.t('email.linkOnce', { duration: spellDuration(ttlSeconds, locale) }), i18n.t('email.verify.notYou')],
    }),
  }
}

export function alreadyRegisteredMail(c: LinkMailContext, to: string, locale: Locale): MailMessage {
  const i18n = translator(locale)
  const brand = brandOfContext(c)
  const site = brand.name
  return {
    to,
    ...renderEmail(i18n, brand, {
      subject: i18n.t('email.exists.subject', { site }),
      lead: [i18n.t('email.exists.lead', { email: to, site }), i18n.t('email.exists.signIn')],
      action: { label: i18n.t('email.exists.action'), url: selfServiceUrl(c.issuer, 'forgot-password') },
      after: [i18n.t('email.exists.notYou')],
    }),
  }
}

export function passwordResetMail(c: LinkMailContext, to: string, token: string, ttlSeconds: number, locale: Locale): MailMessage {
  const i18n = translator(locale)
  const brand = brandOfContext(c)
  const site = brand.name
  return {
    to,
    ...renderEmail(i18n, brand, {
      subject: i18n.t('email.reset.subject', { site }),
      lead: [i18n.t('email.reset.lead', { email: to, site })],
      action: { label: i18n.t('email.reset.action'), url: selfServiceUrl(c.issuer, 'reset-password', token) },
      after: [i18n.t('email.linkOnce', { duration: spellDuration(ttlSeconds, locale) }), i18n.t('email.reset.signsOut'), i18n.t('email.reset.notYou')],
    }),
  }
}

export interface InvitationFrom {
  /** The inviting administrator's name, when an administrator (not the command line) invited. */
  inviter?: string | undefined
  /** The tenant the account will belong to, when it is not the site's default one. */
  tenant?: string | undefined
}

export function invitationMail(c: LinkMailContext, to: string, token: string, ttlSeconds: number, locale: Locale, from: InvitationFrom = {}): MailMessage {
  const i18n = translator(locale)
  const brand = brandOfContext(c)
  const site = brand.name
  const { inviter, tenant } = from
  return {
    to,
    ...renderEmail(i18n, brand, {
      subject: inviter ? i18n.t('email.invite.subjectFrom', { inviter, site }) : i18n.t('email.invite.subject', { site }),
      lead: [
        inviter ? i18n.t('email.invite.leadFrom', { inviter, site, email: to }) : i18n.t('email.invite.lead', { site, email: to }),
        ...(tenant ? [i18n.t('email.invite.tenant', { tenant })] : []),
      ],
      action: { label: i18n.t('email.invite.action'), url: selfServiceUrl(c.issuer, 'invitation', token) },
      after: [i18n.t('email.linkOnce', { duration: spellDuration(ttlSeconds, locale) }), i18n.t('email.invite.notExpected')],
    }),
  }
}

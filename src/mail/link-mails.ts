// The self-service emails: what each says, and the link it carries. Plain text only: the link is
// the one thing to act on, and a reader can see where it leads.
import type { MailMessage } from './mailer.ts'

export interface LinkMailContext {
  siteName: string
  /** The public issuer URL: links point there. */
  issuer: string
}

/** "24 hours", "15 minutes": a link's lifetime in words. */
export function describeLifetime(seconds: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  if (seconds % 86_400 === 0 && seconds >= 2 * 86_400) return unit(seconds / 86_400, 'day')
  if (seconds % 3600 === 0) return unit(seconds / 3600, 'hour')
  if (seconds % 60 === 0) return unit(seconds / 60, 'minute')
  return unit(seconds, 'second')
}

export function selfServiceUrl(issuer: string, path: string, token?: string): string {
  const url = new URL(`/self-service/${path}`, issuer)
  if (token) url.searchParams.set('token', token)
  return url.href
}

export function verificationMail(c: LinkMailContext, to: string, token: string, ttlSeconds: number): MailMessage {
  return {
    to,
    subject: `Confirm your email address for ${c.siteName}`,
    text: `Open this link to confirm that ${to} is your email address:\n\n${selfServiceUrl(c.issuer, 'verify-email', token)}\n\n`
      + `The link works once and expires in ${describeLifetime(ttlSeconds)}. If you did not create an account, ignore this email: nothing happens without the link.\n`,
  }
}

export function alreadyRegisteredMail(c: LinkMailContext, to: string): MailMessage {
  return {
    to,
    subject: `Someone tried to create a ${c.siteName} account with your address`,
    text: `Someone (perhaps you) tried to create an account with ${to}, but you already have one, so nothing was changed.\n\n`
      + `To sign in, use your existing password. If you have forgotten it, choose a new one here:\n\n${selfServiceUrl(c.issuer, 'forgot-password')}\n\n`
      + `If it was not you, you can ignore this email.\n`,
  }
}

export function passwordResetMail(c: LinkMailContext, to: string, token: string, ttlSeconds: number): MailMessage {
  return {
    to,
    subject: `Choose a new ${c.siteName} password`,
    text: `Someone (hopefully you) asked to reset the password of the ${c.siteName} account for ${to}. Open this link to choose a new one:\n\n`
      + `${selfServiceUrl(c.issuer, 'reset-password', token)}\n\n`
      + `The link works once and expires in ${describeLifetime(ttlSeconds)}. Choosing a new password signs you out everywhere.\n`
      + `If you did not ask for this, ignore this email: your password stays as it is.\n`,
  }
}

export function invitationMail(c: LinkMailContext, to: string, token: string, ttlSeconds: number): MailMessage {
  return {
    to,
    subject: `You are invited to ${c.siteName}`,
    text: `You have been invited to create an account with ${to}. Open this link to choose your password:\n\n`
      + `${selfServiceUrl(c.issuer, 'invitation', token)}\n\nThe link works once and expires in ${describeLifetime(ttlSeconds)}.\n`,
  }
}

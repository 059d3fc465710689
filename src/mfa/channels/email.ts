// One-time codes by email, through the server's one mail transport (src/mail/mailer.ts).
import type { Mailer } from '../../mail/mailer.ts'
import { describeDuration } from '../codes.ts'

export interface EmailChannel {
  sendCode(to: string, code: string, purpose: 'sign-in' | 'confirm'): Promise<void>
}

export function createEmailChannel(mailer: Mailer, siteName: string, codeTtlSeconds: number): EmailChannel {
  const expires = describeDuration(codeTtlSeconds)
  return {
    async sendCode(to, code, purpose) {
      const what = purpose === 'sign-in' ? 'sign in' : 'confirm this email address'
      await mailer.send({
        to,
        subject: `${code} is your ${siteName} code`,
        text: `Your code to ${what} is ${code}.\n\nIt expires in ${expires}. If you did not ask for it, someone may know your password: change it.\n`,
      })
    },
  }
}

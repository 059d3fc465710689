// One-time codes by email, through any SMTP server (nodemailer).
import nodemailer from 'nodemailer'
import type { Config } from '../../config.ts'
import { describeDuration } from '../codes.ts'

export interface EmailChannel {
  sendCode(to: string, code: string, purpose: 'sign-in' | 'confirm'): Promise<void>
}

export function createEmailChannel(smtp: NonNullable<Config['smtp']>, siteName: string, codeTtlSeconds: number): EmailChannel {
  const expires = describeDuration(codeTtlSeconds)
  const transport = nodemailer.createTransport({
    host: smtp.host, port: smtp.port, secure: smtp.secure, auth: smtp.auth,
    tls: { rejectUnauthorized: smtp.tlsVerify },
    // Fail fast: the person is waiting on the page.
    connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 15_000,
  })
  return {
    async sendCode(to, code, purpose) {
      const what = purpose === 'sign-in' ? 'sign in' : 'confirm this email address'
      await transport.sendMail({
        from: smtp.from,
        to,
        subject: `${code} is your ${siteName} code`,
        text: `Your code to ${what} is ${code}.\n\nIt expires in ${expires}. If you did not ask for it, someone may know your password: change it.\n`,
      })
    },
  }
}

// The one SMTP transport (nodemailer): one-time codes and the links of self-service mails go
// through it. Without SMTP_HOST there is none, and the features that need mail are not offered.
import nodemailer from 'nodemailer'
import type { Config } from '../config.ts'

export interface MailMessage { to: string; subject: string; text: string }

export interface Mailer {
  send(message: MailMessage): Promise<void>
  /** Connects and greets the server without sending: tells whether mail can go out now. */
  check(): Promise<void>
}

export function createMailer(smtp: NonNullable<Config['smtp']>): Mailer {
  const transport = nodemailer.createTransport({
    host: smtp.host, port: smtp.port, secure: smtp.secure, auth: smtp.auth,
    tls: { rejectUnauthorized: smtp.tlsVerify },
    // Fail fast: the person is waiting on the page.
    connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 15_000,
  })
  return {
    async send(message) {
      await transport.sendMail({ from: smtp.from, ...message })
    },
    async check() {
      await transport.verify()
    },
  }
}

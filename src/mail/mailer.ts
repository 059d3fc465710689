// The one SMTP transport (nodemailer): one-time codes and the links of self-service mails go
// through it. Without SMTP_HOST there is none, and the features that need mail are not offered.
import nodemailer from 'nodemailer'
import type { Config } from '../config.ts'

/** A message with the same content twice: plain text, and HTML (email-layout.ts) when given. */
export interface MailMessage { to: string; subject: string; text: string; html?: string | undefined }

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
      // With both parts nodemailer sends multipart/alternative, text first: a client shows the
      // last part it can display, so HTML where it can and the text everywhere else.
      await transport.sendMail({ from: smtp.from, to: message.to, subject: message.subject, text: message.text, ...(message.html ? { html: message.html } : {}) })
    },
    async check() {
      await transport.verify()
    },
  }
}

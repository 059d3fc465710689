// A real SMTP server (the smtp-server package) on loopback that keeps every message it receives,
// so tests read one-time codes the way a person reads their inbox.
import { SMTPServer } from 'smtp-server'
import { freePort } from './processes.ts'

export interface ReceivedMail { from: string; to: string[]; raw: string; subject: string; text: string }

export interface MailCatcher {
  port: number
  /** Environment for the server under test. */
  env: Record<string, string>
  messages: ReceivedMail[]
  /** Resolves with the newest message to `to` received after the first `since` messages, or rejects after `timeoutMs`. */
  nextTo(to: string, opts?: { since?: number; timeoutMs?: number }): Promise<ReceivedMail>
  /** The 6-digit code in that message. Take `since = messages.length` before the action that sends it. */
  codeFor(to: string, opts?: { since?: number; timeoutMs?: number }): Promise<string>
  /** Refuse every message from now on (the server answers 554), or accept again. */
  refuse(on: boolean): void
  close(): Promise<void>
}

function parse(raw: string): { subject: string; text: string } {
  const [head = '', ...rest] = raw.split(/\r?\n\r?\n/)
  const subject = /^Subject: (.*)$/im.exec(head)?.[1]?.trim() ?? ''
  let text = rest.join('\n\n')
  if (/Content-Transfer-Encoding: quoted-printable/i.test(head)) {
    text = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))
  }
  return { subject, text }
}

export async function startMailCatcher(): Promise<MailCatcher> {
  const messages: ReceivedMail[] = []
  const waiters: Array<() => void> = []
  let refusing = false
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let raw = ''
      stream.setEncoding('utf8')
      stream.on('data', (d: string) => { raw += d })
      stream.on('end', () => {
        if (refusing) return callback(Object.assign(new Error('mailbox unavailable'), { responseCode: 554 }))
        messages.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw, ...parse(raw) })
        waiters.splice(0).forEach((w) => w())
        callback()
      })
    },
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))

  async function nextTo(to: string, { since = 0, timeoutMs = 5000 }: { since?: number; timeoutMs?: number } = {}): Promise<ReceivedMail> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = messages.slice(since).reverse().find((m) => m.to.includes(to))
      if (found) return found
      if (Date.now() > deadline) throw new Error(`no mail to ${to} within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 100) })
    }
  }

  return {
    port,
    env: { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(port), SMTP_SECURE: 'false', SMTP_FROM: 'Identity <no-reply@example.test>' },
    messages,
    nextTo,
    async codeFor(to, opts) {
      const mail = await nextTo(to, opts)
      const code = /\b(\d{6})\b/.exec(mail.text)?.[1]
      if (!code) throw new Error(`no code in mail to ${to}:\n${mail.text}`)
      return code
    },
    refuse(on) { refusing = on },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

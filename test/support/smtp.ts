// A real SMTP server (the smtp-server package) on loopback that keeps every message it receives,
// so tests read one-time codes the way a person reads their inbox.
import { SMTPServer } from 'smtp-server'
import { freePort } from './processes.ts'

/** `text` and `html` are the decoded text/plain and text/html parts (`html` empty when there is none). */
export interface ReceivedMail { from: string; to: string[]; raw: string; subject: string; text: string; html: string; contentType: string }

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

// Enough MIME (RFC 2045-2047) to read what nodemailer sends: folded headers, encoded words in the
// subject, quoted-printable and base64 bodies, and multipart/alternative with its text and HTML.
function splitHead(raw: string): { head: string; body: string } {
  const at = /\r?\n\r?\n/.exec(raw)
  const head = (at ? raw.slice(0, at.index) : raw).replace(/\r?\n[ \t]+/g, ' ')
  return { head, body: at ? raw.slice(at.index + at[0].length) : '' }
}

function headerOf(head: string, name: string): string {
  return new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? ''
}

function quotedPrintableBytes(text: string): Buffer {
  const soft = text.replace(/=\r?\n/g, '')
  const bytes: number[] = []
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(soft.slice(i + 1, i + 3))) {
      bytes.push(parseInt(soft.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      bytes.push(...Buffer.from(soft[i]!, 'utf8'))
    }
  }
  return Buffer.from(bytes)
}

function decodeWords(value: string): string {
  return value.replace(/\?=\s+=\?/g, '?==?').replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_m, _charset: string, enc: string, data: string) =>
    (enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64') : quotedPrintableBytes(data.replace(/_/g, ' '))).toString('utf8'))
}

/** The body as its reader sees it: decoded, with the wire's CRLF line ends as \n. */
function decodeBody(head: string, body: string): string {
  const encoding = headerOf(head, 'Content-Transfer-Encoding').toLowerCase()
  const decoded = encoding === 'quoted-printable' ? quotedPrintableBytes(body).toString('utf8')
    : encoding === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
    : body
  return decoded.replace(/\r\n/g, '\n')
}

/** The leaf parts of a (possibly multipart) entity: content type and decoded body. */
function leafParts(head: string, body: string): Array<{ type: string; body: string }> {
  const type = headerOf(head, 'Content-Type')
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1]
  if (!/^multipart\//i.test(type) || !boundary) return [{ type: type.split(';')[0]!.trim().toLowerCase() || 'text/plain', body: decodeBody(head, body) }]
  const sections = body.split(new RegExp(`\\r?\\n?--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:--)?[ \\t]*\\r?\\n?`))
  return sections.slice(1, -1).flatMap((section) => {
    const part = splitHead(section)
    return leafParts(part.head, part.body)
  })
}

function parse(raw: string): { subject: string; text: string; html: string; contentType: string } {
  const { head, body } = splitHead(raw)
  const parts = leafParts(head, body)
  return {
    subject: decodeWords(headerOf(head, 'Subject')),
    text: parts.find((p) => p.type === 'text/plain')?.body ?? '',
    html: parts.find((p) => p.type === 'text/html')?.body ?? '',
    contentType: headerOf(head, 'Content-Type').split(';')[0]!.trim().toLowerCase(),
  }
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

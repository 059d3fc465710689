// A stand-in for Vonage's Messages API on loopback: POST /v1/messages with basic auth, answered
// 202 { message_uuid } as Vonage does. It keeps every request, so tests read one-time codes the
// way a person reads their phone, and can be switched to refuse (500), to be unreachable, or to
// hang (never answer).
import http from 'node:http'
import { restartableServer } from './restartable-server.ts'
import { randomUUID } from 'node:crypto'
import { freePort } from './processes.ts'

export const FAKE_VONAGE_KEY = 'test-api-key'
export const FAKE_VONAGE_SECRET = 'test-api-secret-0123456789'
export const FAKE_SMS_FROM = 'Identity'
export const FAKE_WHATSAPP_FROM = '447700900001'

export interface VonageRequest {
  /** Receive time (ms since epoch). */
  at: number
  method: string
  path: string
  headers: http.IncomingHttpHeaders
  /** The decoded basic-auth credentials, if any. */
  auth: { user: string; password: string } | undefined
  /** The parsed JSON body (undefined when it was not JSON). */
  body: Record<string, unknown> | undefined
  /** What the fake answered. */
  status: number
}

export type FakeVonageMode = 'ok' | 'error' | 'down' | 'hang'

export interface FakeVonage {
  url: string
  /** VONAGE_* for the server under test. */
  env: Record<string, string>
  requests: VonageRequest[]
  /**
   * The 6-digit code in the newest accepted message to `to` (with or without +) among the
   * requests after the first `since`; waits up to `timeoutMs` for it.
   */
  codeFor(to: string, since?: number, timeoutMs?: number): Promise<string>
  /** ok: accept; error: answer 500; down: stop listening and drop connections; hang: accept the request, never answer. */
  fail(mode: FakeVonageMode): Promise<void>
  close(): Promise<void>
}

const problem = (status: number, title: string, detail: string) => JSON.stringify({
  type: `https://developer.vonage.com/api-errors#${title.toLowerCase().replace(/\s+/g, '-')}`,
  title, detail, instance: randomUUID(),
})

function basicAuth(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '')
  if (!m) return undefined
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

const digits = (n: unknown) => (typeof n === 'string' ? n.replace(/^\+/, '') : '')

export async function startFakeVonage(): Promise<FakeVonage> {
  const requests: VonageRequest[] = []
  const waiters: Array<() => void> = []
  let mode: FakeVonageMode = 'ok'

  const port = await freePort()
  const { server, listen, stop, dropConnections } = restartableServer((req, res) => {
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (d: string) => { raw += d })
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://fake').pathname
      const auth = basicAuth(req.headers.authorization)
      let body: Record<string, unknown> | undefined
      try {
        const parsed: unknown = JSON.parse(raw)
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>
      } catch {
        body = undefined
      }
      const answer = (status: number, json: string) => {
        requests.push({ at: Date.now(), method: req.method ?? '', path, headers: req.headers, auth, body, status })
        waiters.splice(0).forEach((w) => w())
        res.writeHead(status, { 'content-type': 'application/json' }).end(json)
      }
      if (mode === 'hang') {
        requests.push({ at: Date.now(), method: req.method ?? '', path, headers: req.headers, auth, body, status: 0 })
        return
      }
      if (req.method !== 'POST' || path !== '/v1/messages') return answer(404, problem(404, 'Not Found', `${req.method} ${path} is not an endpoint of this fake`))
      if (!auth || auth.user !== FAKE_VONAGE_KEY || auth.password !== FAKE_VONAGE_SECRET) {
        return answer(401, problem(401, 'Unauthorized', 'You did not provide correct credentials.'))
      }
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '') || !body) return answer(422, problem(422, 'Invalid params', 'The body must be a JSON object.'))
      if (mode === 'error') return answer(500, problem(500, 'Internal Error', 'Something went wrong.'))
      const to = typeof body.to === 'string' ? body.to : ''
      // The real API takes numbers as digits only (no + and no 00).
      if (!/^[1-9]\d{6,14}$/.test(to)) return answer(422, problem(422, 'Invalid params', 'to: must be an E.164 number without +'))
      return answer(202, JSON.stringify({ message_uuid: randomUUID() }))
    })
  }, port)
  await listen()
  const url = `http://127.0.0.1:${port}`

  return {
    url,
    env: {
      VONAGE_API_KEY: FAKE_VONAGE_KEY,
      VONAGE_API_SECRET: FAKE_VONAGE_SECRET,
      VONAGE_API_HOST: url,
      VONAGE_SMS_FROM: FAKE_SMS_FROM,
      VONAGE_WHATSAPP_FROM: FAKE_WHATSAPP_FROM,
    },
    requests,
    async codeFor(to, since = 0, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = requests.slice(since).reverse().find((r) => r.status === 202 && digits(r.body?.to) === digits(to))
        if (found) {
          const code = /\b(\d{6})\b/.exec(String(found.body?.text ?? ''))?.[1]
          if (!code) throw new Error(`no code in the message to ${to}: ${JSON.stringify(found.body)}`)
          return code
        }
        if (Date.now() > deadline) throw new Error(`no message to ${to} within ${timeoutMs} ms (${requests.length} requests so far)`)
        await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 100) })
      }
    },
    async fail(next) {
      // Hanging requests are dropped either way when the mode changes.
      if (mode === 'hang') dropConnections()
      mode = next
      if (next === 'down') await stop()
      else if (!server.listening) await listen()
    },
    async close() {
      await stop()
    },
  }
}

// The one logger: pino, JSON lines. Secrets never reach it: request bodies are not logged, and the
// paths below are redacted wherever they appear.
import { pino, type Logger } from 'pino'

export type { Logger }

const REDACT = [
  'password', '*.password', 'secret', '*.secret', 'client_secret', '*.client_secret', 'clientSecret', '*.clientSecret',
  'token', '*.token', 'code', '*.code', 'otp', '*.otp',
  'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', 'headers.authorization', 'headers.cookie',
]

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'iam' }, redact: { paths: REDACT, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime })
}

// SMS and WhatsApp codes through Vonage's Messages API (POST {apiHost}/v1/messages), with the
// account's API key and secret as basic auth. The person waits on the page while we send, so a
// send gives up after SEND_TIMEOUT_MS; any refusal (non-2xx), timeout or network failure rejects,
// and the page then offers the person's other factors.
import { Messages, SMS, WhatsAppText } from '@vonage/messages'
import type { Config } from '../../config.ts'
import type { Locale } from '../../i18n/locales.ts'
import { codeText } from './code-text.ts'
import type { PhoneChannel, PhoneChannelKind } from './phone.ts'

/** Covers connecting, the request and reading the answer. */
export const SEND_TIMEOUT_MS = 10_000

/** Why a message did not go out. Carries no part of the request: never the code, never the credentials. */
export class PhoneDeliveryError extends Error {
  override name = 'PhoneDeliveryError'
  readonly status: number | undefined

  constructor(message: string, status?: number | undefined) {
    super(message)
    this.status = status
  }
}

/**
 * Vonage wants international numbers as digits only: E.164 without the leading + (447700900123).
 * Returns undefined for anything else.
 */
export function toVonageNumber(e164: string): string | undefined {
  const digits = e164.trim().replace(/^\+/, '')
  return /^[1-9]\d{6,14}$/.test(digits) ? digits : undefined
}

/** A sender that is a phone number loses its + too; an alphanumeric sender id stays as it is. */
function sender(from: string): string {
  return toVonageNumber(from) ?? from
}

/** The SDK's errors hold the whole request (the code, the Authorization header): keep only the status. */
function describeFailure(err: unknown): PhoneDeliveryError {
  const response = (err as { response?: unknown } | null)?.response
  const status = response instanceof Response ? response.status : undefined
  if (status !== undefined) return new PhoneDeliveryError(`Vonage answered ${status}`, status)
  const name = err instanceof Error ? err.name : 'Error'
  if (name === 'AbortError' || name === 'TimeoutError') return new PhoneDeliveryError(`Vonage did not answer within ${SEND_TIMEOUT_MS / 1000} s`)
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause?.code
  return new PhoneDeliveryError(`Vonage could not be reached${typeof cause === 'string' ? ` (${cause})` : ''}`)
}

export function createPhoneChannel(vonage: NonNullable<Config['vonage']>, siteName: string, codeTtlSeconds: number): PhoneChannel {
  const client = new Messages(
    { apiKey: vonage.apiKey, apiSecret: vonage.apiSecret },
    { apiHost: vonage.apiHost, timeout: SEND_TIMEOUT_MS },
  )
  const kinds: readonly PhoneChannelKind[] = vonage.whatsappFrom ? ['sms', 'whatsapp'] : ['sms']

  return {
    kinds,
    async sendCode(kind, to, code, locale: Locale) {
      if (!kinds.includes(kind)) throw new PhoneDeliveryError(`${kind} is not configured`)
      const number = toVonageNumber(to)
      if (!number) throw new PhoneDeliveryError('the destination is not an E.164 phone number')
      const text = codeText(locale, siteName, code, codeTtlSeconds)
      const message = kind === 'sms'
        ? new SMS({ channel: 'sms', messageType: 'text', to: number, from: sender(vonage.smsFrom), text })
        : new WhatsAppText({ to: number, from: sender(vonage.whatsappFrom!), text })
      // Belt and braces: the SDK's own timeout covers the request; this also covers anything
      // around it (DNS, a stalled body), so the page never waits longer than SEND_TIMEOUT_MS.
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PhoneDeliveryError(`Vonage did not answer within ${SEND_TIMEOUT_MS / 1000} s`)), SEND_TIMEOUT_MS + 500)
      })
      try {
        const sent = await Promise.race([client.send(message), deadline])
        if (!sent.messageUUID) throw new PhoneDeliveryError('Vonage did not return a message id')
      } catch (err) {
        throw err instanceof PhoneDeliveryError ? err : describeFailure(err)
      } finally {
        clearTimeout(timer)
      }
    },
  }
}

// Where SMS and WhatsApp codes go out. The Vonage implementation is in vonage.ts.
import type { Locale } from '../../i18n/locales.ts'

export type PhoneChannelKind = 'sms' | 'whatsapp'

export interface PhoneChannel {
  /** Which of SMS and WhatsApp are configured. */
  readonly kinds: readonly PhoneChannelKind[]
  /**
   * Sends `code` to an E.164 number in `locale` (src/i18n/recipient-locale.ts); rejects when the
   * provider refuses or cannot be reached.
   */
  sendCode(kind: PhoneChannelKind, to: string, code: string, locale: Locale): Promise<void>
}

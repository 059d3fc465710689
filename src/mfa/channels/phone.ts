// Where SMS and WhatsApp codes go out. The Vonage implementation is in vonage.ts.
export type PhoneChannelKind = 'sms' | 'whatsapp'

export interface PhoneChannel {
  /** Which of SMS and WhatsApp are configured. */
  readonly kinds: readonly PhoneChannelKind[]
  /** Sends `code` to an E.164 number; rejects when the provider refuses or cannot be reached. */
  sendCode(kind: PhoneChannelKind, to: string, code: string): Promise<void>
}

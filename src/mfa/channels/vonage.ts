// SMS and WhatsApp codes through Vonage's Messages API. (Placeholder until the Vonage work lands:
// it refuses to send, so the pages offer the person's other factors.)
import type { Config } from '../../config.ts'
import type { PhoneChannel } from './phone.ts'

export function createPhoneChannel(vonage: NonNullable<Config['vonage']>, siteName: string): PhoneChannel {
  void siteName
  return {
    kinds: vonage.whatsappFrom ? ['sms', 'whatsapp'] : ['sms'],
    async sendCode() {
      throw new Error('not implemented')
    },
  }
}

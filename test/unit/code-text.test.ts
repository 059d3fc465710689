// The SMS/WhatsApp code text in every language fits one SMS segment with a usual site name: GSM-7
// (160 characters) for the Latin-script languages, UCS-2 (70) for Vietnamese and Arabic.
import { describe, expect, it } from 'vitest'
import { LOCALES } from '../../src/i18n/locales.ts'
import { codeText } from '../../src/mfa/channels/code-text.ts'

// GSM 03.38's basic character set (the extension table's characters count twice; none are used).
const GSM7 = new Set([...'@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà'])
const UCS2_LOCALES = new Set(['vi', 'ar'])

describe('code texts', () => {
  it.each(LOCALES)('%s: the code first, and one SMS segment', (locale) => {
    const text = codeText(locale, 'Example ID', '012345', 600)
    expect(text.replace(/[\u2068\u2069]/g, '').startsWith('012345')).toBe(true)
    if (UCS2_LOCALES.has(locale)) {
      expect(text.length).toBeLessThanOrEqual(70)
    } else {
      expect([...text].filter((c) => !GSM7.has(c))).toEqual([])
      expect(text.length).toBeLessThanOrEqual(160)
    }
  })

  it('keeps the English wording', () => {
    expect(codeText('en', 'Identity', '012345', 600)).toBe('012345 is your Identity code. It expires in 10 minutes.')
  })
})

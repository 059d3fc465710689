// The cookie signer makes Keygrip's signatures (so cookies from before an upgrade, or from an
// instance still on Keygrip during a rolling deploy, keep verifying) and refuses what Keygrip refuses.
import Keygrip from 'keygrip'
import { describe, expect, it } from 'vitest'
import { CookieSigner } from '../../src/security/cookie-signer.ts'

const KEYS = ['newest-key-0123456789abcdef', 'older-key-ünïcödé', 'oldest']
const SAMPLES = ['_interaction=abc', '_session=ad8RYQLpylDsMIvfIEHN6PztOGfg8NrZuSZ84bjcusb', 'x=', 'csrf=Δ/+=?&;', '']

describe('CookieSigner', () => {
  const ours = new CookieSigner(KEYS)
  const keygrip = new Keygrip(KEYS)

  it('signs as Keygrip does, with the newest key', () => {
    for (const data of SAMPLES) expect(ours.sign(data)).toBe(keygrip.sign(data))
  })

  it('finds the key that signed, as Keygrip does, for signatures under every key', () => {
    for (const [i, key] of KEYS.entries()) {
      const signedBy = new Keygrip([key])
      for (const data of SAMPLES) {
        const sig = signedBy.sign(data)
        expect(ours.index(data, sig)).toBe(i)
        expect(ours.verify(data, sig)).toBe(true)
        expect(keygrip.index(data, sig)).toBe(i)
      }
    }
  })

  it('refuses a signature of other data, a retired key, a changed or truncated signature, and non-strings', () => {
    const sig = ours.sign('_session=abc')
    const tampered = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1)
    const retired = new Keygrip(['a-key-no-longer-listed']).sign('_session=abc')
    for (const [data, digest] of [['_session=abd', sig], ['_session=abc', retired], ['_session=abc', tampered], ['_session=abc', sig.slice(0, -1)], ['_session=abc', `${sig}=`], ['_session=abc', '']] as const) {
      expect(ours.index(data, digest)).toBe(-1)
      expect(keygrip.index(data, digest)).toBe(-1)
    }
    expect(ours.verify('_session=abc', undefined as unknown as string)).toBe(false)
  })

  it('needs a key', () => {
    expect(() => new CookieSigner([])).toThrow(/at least one key/)
  })
})

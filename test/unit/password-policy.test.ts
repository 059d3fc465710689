import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import * as common from '@zxcvbn-ts/language-common'
import { checkNewPassword, passwordHint } from '../../src/identity/password-policy.ts'

const policy = { minLength: 12 }
const refusal = (password: string, opts: Parameters<typeof checkNewPassword>[1] = policy) => {
  const result = checkNewPassword(password, opts)
  return result.ok ? undefined : result.message
}

describe('checkNewPassword', () => {
  it('refuses passwords on the shipped list of leaked passwords, in any letter case', () => {
    // Checked against the package, so the test fails if the list stops being used, not if it changes.
    const list = common.dictionary['passwords-common']
    for (const listed of ['password1234', 'qwertyuiop123', '1qaz2wsx3edc', 'passwordpassword']) {
      expect(list).toContain(listed)
      expect(refusal(listed)).toMatch(/list of common or leaked passwords/)
      expect(refusal(listed.toUpperCase())).toMatch(/list of common or leaked passwords/)
    }
  })

  it('refuses a listed password even when zxcvbn would rate it well (membership, not score)', () => {
    // Long listed entries that look random to a strength meter.
    const list = common.dictionary['passwords-common']
    for (const listed of ['ghhh47hj7649', 'polniypizdec0211', 'mailcreated5240']) {
      expect(list).toContain(listed)
      expect(refusal(listed)).toMatch(/list of common or leaked passwords/)
    }
  })

  it('accepts a random 12-character password and needs no particular kinds of characters', () => {
    expect(refusal(randomBytes(9).toString('base64url'))).toBeUndefined()
    expect(refusal('plum lantern quietly orbits')).toBeUndefined()
    expect(refusal('PLUMLANTERNQUIETLYORBITS')).toBeUndefined()
    expect(refusal('4839 2751 0663 9182')).toBeUndefined()
  })

  it('counts length in code points after NFKC: 12 emoji or accented letters are 12 characters', () => {
    expect(refusal('🦊🌲🏔️🚲🎻🧭🪁🍋🐙🎲🛶🧩'.normalize('NFKC'))).toBeUndefined()
    expect(refusal('🦊🌲🚲🎻🧭🪁🍋🐙🎲🛶🧩')).toMatch(/at least 12 characters/) // 11 code points, 22 UTF-16 units
    // A decomposed "é" (e + combining accent, two code points) composes to one: 11, not 16.
    expect(refusal('e\u0301'.repeat(6) + 'zqxwv')).toMatch(/at least 12 characters/)
  })

  it('refuses one shorter than the minimum, and honours a configured minimum', () => {
    expect(refusal('x7#kQ9mP2vL')).toMatch(/^Use at least 12 characters\./)
    expect(refusal('x7#kQ9mP2vL7z', { minLength: 15 })).toMatch(/^Use at least 15 characters\./)
  })

  it('accepts long passphrases: 128 characters and up to 1024', () => {
    const passphrase = 'walrus tangerine parachute cobalt '.repeat(4).slice(0, 128)
    expect([...passphrase]).toHaveLength(128)
    expect(refusal(passphrase)).toBeUndefined()
    expect(refusal(randomBytes(768).toString('base64url'))).toBeUndefined() // 1024 characters
    expect(refusal(randomBytes(768).toString('base64url') + 'x')).toBe('Use at most 1024 characters.')
  })

  it('refuses the person’s own email, username or name, alone or repeated', () => {
    const opts = { minLength: 12, userInputs: ['carol.jones@example.test', 'caroljones', 'Carol Jones'] }
    expect(refusal('carol.jones@example.test', opts)).toMatch(/your email address, username or name/)
    expect(refusal('CarolJones2024!', opts)).toMatch(/your email address, username or name/)
    expect(refusal('caroljones caroljones', opts)).toMatch(/your email address, username or name/)
    // Without the inputs it is not refused as personal.
    expect(refusal('caroljones caroljones') ?? '').not.toMatch(/your email address/)
    expect(refusal('carol plays the cello at dawn', opts)).toBeUndefined()
  })

  it('refuses what is trivially guessable with zxcvbn’s advice as the message', () => {
    expect(refusal('aaaaaaaaaaaaaaaa')).toMatch(/^Repeated characters like "aaa" are easy to guess\./)
    expect(refusal('abcdefghijklmnop')).toMatch(/sequences/)
    expect(refusal('a'.repeat(200))).toMatch(/Repeated characters/)
  })

  it('states the hint the pages show', () => {
    expect(passwordHint(12)).toBe('Use at least 12 characters. A few unrelated words make a strong, memorable passphrase. Common passwords are refused.')
  })
})

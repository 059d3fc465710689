// What a new password must be, after NIST SP 800-63B: long enough (counted in Unicode code points
// after NFKC), long passphrases welcome, no composition rules, and not one that attackers try
// first: not on the list of common and leaked passwords zxcvbn-ts ships (language-common's
// `passwords-common`, about 49,000 entries from real breaches), not the person's own email or
// username, and not trivially guessable (repeats, sequences, keyboard walks, a listed word with a
// year…) as zxcvbn estimates it.
import { createRequire } from 'node:module'
import { ZxcvbnFactory } from '@zxcvbn-ts/core'
import { MAX_PASSWORD_LENGTH } from './users.ts'

/**
 * zxcvbn's estimate below which a password is refused: fewer than 10^6 guesses (its scores 0 and
 * 1), which an online attacker gets through despite rate limits. Score 2 and up pass, so the
 * policy refuses what is weak without becoming a composition rule in disguise.
 */
const MIN_GUESSES_LOG10 = 6

/**
 * zxcvbn's cost grows with length (a random 128-character string takes about 100 ms even with
 * fewer l33t substitutions); beyond 64 code points only the start is estimated, which is enough to
 * catch a long run of one character or a repeated word.
 */
const ESTIMATE_PREFIX = 64

const require = createRequire(import.meta.url)

// The word lists are loaded on the first new password a process checks, not at import: they are
// ~13 MB of heap (and the list's Set ~3 MB more) that a process serving sign-ins and tokens never
// needs. Building zxcvbn's ranked dictionaries from them takes about 150 ms more.
let words: { listed: Set<string>; estimator: ZxcvbnFactory } | undefined
function wordLists(): NonNullable<typeof words> {
  if (!words) {
    const common = require('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common')
    const en = require('@zxcvbn-ts/language-en') as typeof import('@zxcvbn-ts/language-en')
    words = {
      listed: new Set(common.dictionary['passwords-common']),
      estimator: new ZxcvbnFactory({
        dictionary: { ...common.dictionary, ...en.dictionary },
        graphs: common.adjacencyGraphs,
        translations: en.translations,
        maxLength: ESTIMATE_PREFIX,
        l33tMaxSubstitutions: 10,
      }),
    }
  }
  return words
}

/** Why a password is refused, for a page that words the refusal in its own language. */
export type PasswordRefusal = 'too_long' | 'too_short' | 'listed' | 'personal' | 'guessable'

export type PasswordCheck = { ok: true } | { ok: false; reason: PasswordRefusal; message: string }

export interface PasswordPolicyOptions {
  minLength: number
  /** The person's email, username, name: a password made of them is refused. */
  userInputs?: Array<string | null | undefined>
}

/** The hint under a new-password field (pages have no script: it is text, not a meter). */
export function passwordHint(minLength: number): string {
  return `Use at least ${minLength} characters. A few unrelated words make a strong, memorable passphrase. Common passwords are refused.`
}

export function checkNewPassword(password: string, opts: PasswordPolicyOptions): PasswordCheck {
  // In UTF-16 units, as the sign-in form counts: a password that is accepted here can be typed there.
  if (password.length > MAX_PASSWORD_LENGTH) return { ok: false, reason: 'too_long', message: `Use at most ${MAX_PASSWORD_LENGTH} characters.` }
  const normalized = password.normalize('NFKC')
  const length = [...normalized].length
  if (length < opts.minLength) return { ok: false, reason: 'too_short', message: `Use at least ${opts.minLength} characters.` }

  const { listed, estimator } = wordLists()
  const lower = normalized.toLowerCase()
  if (listed.has(lower) || listed.has(lower.replace(/\s+/g, ''))) {
    return { ok: false, reason: 'listed', message: 'This password is on a list of common or leaked passwords, so attackers try it first. Choose another: a few unrelated words make a strong passphrase.' }
  }

  const inputs = personalWords(opts.userInputs ?? [])
  if (madeOfPersonalWords(lower, inputs)) {
    return { ok: false, reason: 'personal', message: 'Do not use your email address, username or name as your password. Choose something others cannot guess.' }
  }

  const estimate = estimator.check(normalized, inputs)
  if (estimate.guessesLog10 < MIN_GUESSES_LOG10) {
    const { warning, suggestions } = estimate.feedback
    const advice = [warning ?? 'This password is easy to guess.', ...suggestions].join(' ')
    return { ok: false, reason: 'guessable', message: `${advice} A few unrelated words make a strong passphrase.`.replace(/\s+/g, ' ') }
  }
  return { ok: true }
}

/** The email, its local part and the other inputs, lower-cased, as zxcvbn's user dictionary. */
function personalWords(userInputs: Array<string | null | undefined>): string[] {
  const words = new Set<string>()
  for (const input of userInputs) {
    const value = input?.normalize('NFKC').trim().toLowerCase()
    if (!value) continue
    words.add(value)
    if (value.includes('@')) words.add(value.slice(0, value.indexOf('@')))
    for (const part of value.split(/[\s@._-]+/)) if (part.length >= 3) words.add(part)
  }
  return [...words]
}

/** True when, ignoring spaces, punctuation and digits, the password is only those words repeated. */
function madeOfPersonalWords(lower: string, words: string[]): boolean {
  const letters = lower.replace(/[\s\p{P}\p{S}\p{N}]+/gu, '')
  if (!letters || !words.length) return false
  const stripped = words.map((w) => w.replace(/[\s\p{P}\p{S}\p{N}]+/gu, '')).filter((w) => w.length >= 3)
  if (!stripped.length) return false
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  // Longest first so the alternation prefers whole inputs over their parts.
  const alternatives = [...new Set(stripped)].sort((a, b) => b.length - a.length).map(escape).join('|')
  return new RegExp(`^(?:${alternatives})+$`, 'u').test(letters)
}

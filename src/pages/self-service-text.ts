// The words the registration, verification and password-reset routes put on their pages (refused
// forms, limits, link lifetimes), in the language of the page they render on.
import type { Translator } from '../i18n/catalogs.ts'
import type { PasswordCheck } from '../identity/password-policy.ts'
import { MAX_PASSWORD_LENGTH } from '../identity/users.ts'

/** The hint under a new-password field. */
export function passwordHintText(i18n: Translator, minLength: number): string {
  return i18n.t('reset.passwordHint', { min: minLength })
}

/**
 * Why a new password was refused. zxcvbn's advice on a guessable one (which pattern it found) is
 * English only; other languages get the general advice.
 */
export function passwordRefusalText(i18n: Translator, check: Extract<PasswordCheck, { ok: false }>, minLength: number): string {
  switch (check.reason) {
    case 'too_long': return i18n.t('reset.passwordTooLong', { max: String(MAX_PASSWORD_LENGTH) })
    case 'too_short': return i18n.t('reset.passwordTooShort', { min: minLength })
    case 'listed': return i18n.t('reset.passwordListed')
    case 'personal': return i18n.t('reset.passwordPersonal')
    case 'guessable': return i18n.locale === 'en' ? check.message : i18n.t('reset.passwordGuessable')
  }
}

/**
 * A refused form field's message: the form schemas name catalog keys as their messages; any other
 * issue (a field missing from a hand-made request, say) gets the field's `fallback`.
 */
export function formIssueText(i18n: Translator, message: string, known: readonly string[], fallback: string): string {
  return i18n.t(known.includes(message) ? message : fallback, { max: String(MAX_PASSWORD_LENGTH) })
}

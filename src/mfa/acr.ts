// Authentication context classes we issue (listed in discovery) and the RFC 8176 amr values each
// factor contributes. ID tokens tell relying parties exactly what happened in the session.
export const ACR_PASSWORD = 'urn:iam:acr:pwd'
export const ACR_MFA = 'urn:iam:acr:mfa'
export const ACR_VALUES = [ACR_PASSWORD, ACR_MFA] as const

export type SecondFactorMethod = 'totp' | 'email' | 'sms' | 'whatsapp' | 'backup' | 'webauthn'

const AMR: Record<SecondFactorMethod, string> = {
  totp: 'otp',
  email: 'otp',
  whatsapp: 'otp',
  backup: 'otp',
  sms: 'sms',
  webauthn: 'hwk',
}

/** amr after a second factor on top of what the session already proved (e.g. ['pwd']). */
export function amrWithSecondFactor(first: readonly string[], method: SecondFactorMethod): string[] {
  return [...new Set([...first.filter((v) => v !== 'mfa'), AMR[method], 'mfa'])]
}
